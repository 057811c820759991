//! `v1` LimitRange: quantities per limit type; printed with kube's default columns.

use serde_json::Value;

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::validation;

const DEFINITION: Definition = Definition { short_names: &["limits"], ..Definition::stored("", "v1", "LimitRange", "limitranges", true) };

/// The LimitRange strategy.
pub struct LimitRange;

impl Strategy for LimitRange {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::core::limit_range(obj)
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::core::limit_range))
    }
}
