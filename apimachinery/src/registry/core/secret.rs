//! `v1` Secret: `stringData` folded into `data` before validation, typed-secret rules.

use k8s_openapi::api::core::v1 as api;
use serde_json::{json, Value};

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{own_label, Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::{column, columns_with_age, count, doc, row_with_age, text};
use crate::table::{Column, Row};
use crate::validation;

const DEFINITION: Definition = Definition::stored("", "v1", "Secret", "secrets", true);

/// The Secret strategy.
pub struct Secret;

impl Strategy for Secret {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn prepare(&self, obj: &mut Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::normalize_secret(obj)
    }

    fn validate(&self, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
        validation::core::secret(obj, old)
    }

    fn columns(&self) -> Vec<Column> {
        columns_with_age(vec![column("Type", "string", doc::<api::Secret>("type"), 0), column("Data", "string", doc::<api::Secret>("data"), 0)])
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        row_with_age(obj, now, vec![("Type", text(obj, &["type"]).into()), ("Data", json!(count(obj, "data")))])
    }

    fn field_label<'a>(&self, label: &'a str) -> Option<&'a str> {
        own_label(label, &["type"])
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::core::secret))
    }
}
