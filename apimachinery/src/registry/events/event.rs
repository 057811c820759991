//! `events.k8s.io/v1` Event: printed like a core event after kube's field renames.

use serde_json::Value;

use crate::registry::core::event as core_event;
use crate::registry::strategy::{own_label, ConversionError, Definition, Strategy};
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

    fn stored_as(&self) -> Option<(&'static str, &'static str)> {
        Some(("", "v1"))
    }

    fn convert(&self, mut obj: Value, _version: &str) -> Result<Value, ConversionError> {
        let to_core = obj["apiVersion"] == "events.k8s.io/v1";
        if let Some(fields) = obj.as_object_mut() {
            for (ours, core) in RENAMES {
                let (from, to) = if to_core { (ours, core) } else { (core, ours) };
                if let Some(v) = fields.remove(*from) {
                    fields.insert(to.to_string(), v);
                }
            }
            fields.insert("apiVersion".into(), Value::from(if to_core { "v1" } else { "events.k8s.io/v1" }));
        }
        Ok(obj)
    }
}

/// events.k8s.io/v1 fields and the core/v1 Event fields they are (kube's conversion).
const RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_renamed_both_ways() {
        let ours = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"}, "regarding": {"kind": "ConfigMap", "name": "x"},
            "note": "hello", "reportingController": "example.com/c", "reportingInstance": "one", "action": "Sync", "reason": "R", "type": "Normal",
            "eventTime": "2026-12-05T00:00:00.000000Z", "deprecatedCount": 2});
        let core = Event.convert(ours.clone(), "v1").unwrap();
        assert_eq!(
            core,
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"kind": "ConfigMap", "name": "x"},
            "message": "hello", "reportingComponent": "example.com/c", "reportingInstance": "one", "action": "Sync", "reason": "R", "type": "Normal",
            "eventTime": "2026-12-05T00:00:00.000000Z", "count": 2})
        );
        assert_eq!(Event.convert(core, "v1").unwrap(), ours);
    }
}
