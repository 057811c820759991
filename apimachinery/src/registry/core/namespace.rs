//! `v1` Namespace: DNS-label names, a `kubernetes` finalizer until its content is gone.

use serde_json::{json, Value};

use crate::patch::{KindLists, ListRule, ListType};
use crate::protobuf::{self, Fields};
use crate::registry::strategy::{own_label, Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::{column, columns_with_age, row_with_age, text};
use crate::table::{Column, Row};
use crate::validation::{self, NameRule};

/// The finalizer a namespace carries until its content is gone.
pub const FINALIZER: &str = "kubernetes";

const DEFINITION: Definition = Definition { short_names: &["ns"], subresources: &["status"], ..Definition::stored("", "v1", "Namespace", "namespaces", false) };

/// The Namespace strategy.
pub struct Namespace;

impl Strategy for Namespace {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn initialize(&self, obj: &mut Value) {
        obj["spec"]["finalizers"] = json!([FINALIZER]);
        obj["status"] = json!({"phase": "Active"});
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::core::namespace(obj)
    }

    fn columns(&self) -> Vec<Column> {
        columns_with_age(vec![column("Status", "string", "The status of the namespace".into(), 0)])
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        row_with_age(obj, now, vec![("Status", text(obj, &["status", "phase"]).into())])
    }

    fn field_label<'a>(&self, label: &'a str) -> Option<&'a str> {
        own_label(label, &["status.phase"])
    }

    fn lists(&self) -> KindLists<'static> {
        &[("status.conditions", ListRule { smp: ListType::Map("type"), ssa: ListType::Map("type") })]
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::core::namespace))
    }
}
