//! `v1` Event, and the printer and field labels `events.k8s.io` Events share with it.

use k8s_openapi::api::core::v1::{self as api, ObjectReference};
use serde_json::Value;

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{own_label, Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::{column, doc, name_cell, text};
use crate::table::{age, name_column, timestamp, Column, Row};
use crate::validation;

const DEFINITION: Definition = Definition { short_names: &["ev"], ..Definition::stored("", "v1", "Event", "events", true) };

/// Sub-fields of an event's object reference that are selectable.
const OBJECT_REFERENCE_FIELDS: [&str; 7] = ["kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"];

/// The core Event strategy.
pub struct Event;

impl Strategy for Event {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::core::event(obj, false)
    }

    fn columns(&self) -> Vec<Column> {
        columns()
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        row(obj, false, now)
    }

    fn field_label<'a>(&self, label: &'a str) -> Option<&'a str> {
        match label {
            "source" => Some("source.component"),
            _ => own_label(label, &["reason", "type", "reportingComponent"]).or_else(|| reference_label(label, "involvedObject.")),
        }
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::core::event))
    }
}

/// A selectable sub-field of the object reference under `prefix` (`involvedObject.`).
pub(crate) fn reference_label<'a>(label: &'a str, prefix: &str) -> Option<&'a str> {
    label.strip_prefix(prefix).filter(|sub| OBJECT_REFERENCE_FIELDS.contains(sub)).map(|_| label)
}

/// The columns kube prints for events of either API.
pub(crate) fn columns() -> Vec<Column> {
    vec![
        column("Last Seen", "string", doc::<api::Event>("lastTimestamp"), 0),
        column("Type", "string", doc::<api::Event>("type"), 0),
        column("Reason", "string", doc::<api::Event>("reason"), 0),
        column("Object", "string", doc::<api::Event>("involvedObject"), 0),
        column("Subobject", "string", doc::<ObjectReference>("fieldPath"), 1),
        column("Source", "string", doc::<api::Event>("source"), 1),
        column("Message", "string", doc::<api::Event>("message"), 0),
        column("First Seen", "string", doc::<api::Event>("firstTimestamp"), 1),
        column("Count", "string", doc::<api::Event>("count"), 1),
        Column { priority: 1, ..name_column() },
    ]
}

/// kube's `printEvent`, reading `events.k8s.io` field names when `events_api` is set.
pub(crate) fn row(obj: &Value, events_api: bool, now: jiff::Timestamp) -> Row {
    let [regarding, note, source, first, last, count_key] = if events_api {
        ["regarding", "note", "deprecatedSource", "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"]
    } else {
        ["involvedObject", "message", "source", "firstTimestamp", "lastTimestamp", "count"]
    };
    let first_seen = match timestamp(obj, &[first]) {
        Some(t) => age(Some(t), now),
        None => age(timestamp(obj, &["eventTime"]), now),
    };
    let mut last_seen = match timestamp(obj, &[last]) {
        Some(t) => age(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = obj.get(count_key).and_then(Value::as_i64).unwrap_or(0);
    if let Some(series) = obj.get("series").filter(|s| s.is_object()) {
        last_seen = age(timestamp(series, &["lastObservedTime"]), now);
        count = series.get("count").and_then(Value::as_i64).unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let kind = text(obj, &[regarding, "kind"]).to_lowercase();
    let target = match text(obj, &[regarding, "name"]) {
        "" => kind,
        n => format!("{kind}/{n}"),
    };
    let component = Some(text(obj, &[source, "component"])).filter(|s| !s.is_empty()).unwrap_or(text(obj, &["reportingController"]));
    let host = Some(text(obj, &[source, "host"])).filter(|s| !s.is_empty()).unwrap_or(text(obj, &["reportingInstance"]));
    let source = if host.is_empty() { component.to_string() } else { format!("{component}, {host}") };
    vec![
        ("Last Seen", last_seen.into()),
        ("Type", text(obj, &["type"]).into()),
        ("Reason", text(obj, &["reason"]).into()),
        ("Object", target.into()),
        ("Subobject", text(obj, &[regarding, "fieldPath"]).into()),
        ("Source", source.into()),
        ("Message", text(obj, &[note]).trim().into()),
        ("First Seen", first_seen.into()),
        ("Count", count.into()),
        ("Name", name_cell(obj)),
    ]
}
