//! `rbac.authorization.k8s.io/v1` Role: policy rules, path-segment names.

use serde_json::Value;

use super::GROUP;
use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::validation::{self, NameRule};

const DEFINITION: Definition = Definition::stored(GROUP, "v1", "Role", "roles", true);

/// The Role strategy.
pub struct Role;

impl Strategy for Role {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::rbac::role(obj, true)
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::rbac::role))
    }
}
