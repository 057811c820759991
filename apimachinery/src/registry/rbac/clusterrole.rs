//! `rbac.authorization.k8s.io/v1` ClusterRole: policy rules, path-segment names.

use serde_json::Value;

use super::GROUP;
use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::validation::{self, NameRule};

const DEFINITION: Definition = Definition::stored(GROUP, "v1", "ClusterRole", "clusterroles", false);

/// The ClusterRole strategy.
pub struct ClusterRole;

impl Strategy for ClusterRole {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn name_rule(&self) -> NameRule {
        NameRule::PathSegment
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::rbac::role(obj, false)
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::rbac::cluster_role))
    }
}
