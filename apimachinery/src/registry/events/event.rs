//! `events.k8s.io/v1` Event: printed like a core event after kube's field renames.

use serde_json::Value;

use crate::registry::core::event as core_event;
use crate::registry::strategy::{own_label, Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::{Column, Row};
use crate::validation;

const DEFINITION: Definition = Definition { short_names: &["ev"], ..Definition::stored("events.k8s.io", "v1", "Event", "events", true) };

/// The `events.k8s.io` Event strategy.
pub struct Event;

impl Strategy for Event {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::core::event(obj, true)
    }

    fn columns(&self) -> Vec<Column> {
        core_event::columns()
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        core_event::row(obj, true, now)
    }

    fn field_label<'a>(&self, label: &'a str) -> Option<&'a str> {
        own_label(label, &["reason", "type", "reportingController"]).or_else(|| core_event::reference_label(label, "regarding."))
    }
}
