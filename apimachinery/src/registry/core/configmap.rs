//! `v1` ConfigMap: key rules, size limit and immutability.

use k8s_openapi::api::core::v1 as api;
use serde_json::{json, Value};

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::{column, columns_with_age, count, doc, row_with_age};
use crate::table::{Column, Row};
use crate::validation;

const DEFINITION: Definition = Definition { short_names: &["cm"], ..Definition::stored("", "v1", "ConfigMap", "configmaps", true) };

/// The ConfigMap strategy.
pub struct ConfigMap;

impl Strategy for ConfigMap {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        validation::core::config_map(obj, old)
    }

    fn columns(&self) -> Vec<Column> {
        columns_with_age(vec![column("Data", "string", doc::<api::ConfigMap>("data"), 0)])
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        row_with_age(obj, now, vec![("Data", json!(count(obj, "data") + count(obj, "binaryData")))])
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::core::config_map))
    }
}
