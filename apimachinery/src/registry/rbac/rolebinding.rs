//! `rbac.authorization.k8s.io/v1` RoleBinding: subjects and an immutable role reference.

use serde_json::Value;

use super::{binding_columns, binding_row, GROUP};
use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::{Column, Row};
use crate::validation::{self, NameRule};

const DEFINITION: Definition = Definition::stored(GROUP, "v1", "RoleBinding", "rolebindings", true);

/// The RoleBinding strategy.
pub struct RoleBinding;

impl Strategy for RoleBinding {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        validation::rbac::binding(obj, old, true)
    }

    fn columns(&self) -> Vec<Column> {
        binding_columns("roleBinding")
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        binding_row(obj, now)
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::rbac::role_binding))
    }
}
