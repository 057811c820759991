//! `v1` ResourceQuota: quantities in `spec.hard`; printed as `used/hard` per resource.

use serde_json::Value;

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;
use crate::status::FieldError;
use crate::table::cell::{age_column, column, row_with_age};
use crate::table::{name_column, Column, Row};
use crate::validation;

const DEFINITION: Definition =
    Definition { short_names: &["quota"], subresources: &["status"], ..Definition::stored("", "v1", "ResourceQuota", "resourcequotas", true) };

/// The ResourceQuota strategy.
pub struct ResourceQuota;

impl Strategy for ResourceQuota {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn validate(&self, obj: &Value, _old: Option<&Value>) -> Vec<FieldError> {
        validation::core::resource_quota(obj)
    }

    // kube 1.32 order; Age moved last only in 1.33.
    fn columns(&self) -> Vec<Column> {
        vec![
            name_column(),
            age_column(),
            column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume.".into(), 0),
            column(
                "Limit",
                "string",
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.".into(),
                0,
            ),
        ]
    }

    fn row(&self, obj: &Value, now: jiff::Timestamp) -> Row {
        let (request, limit) = usage(obj);
        row_with_age(obj, now, vec![("Request", request.into()), ("Limit", limit.into())])
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::core::resource_quota))
    }
}

/// `resource: used/hard` lists, split into requests and `limits.*`, sorted by resource name.
fn usage(obj: &Value) -> (String, String) {
    let quantity = |path: &[&str]| match path.iter().try_fold(obj, |v, k| v.get(*k)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => "0".to_string(),
    };
    let empty = serde_json::Map::new();
    let hard = obj.get("status").and_then(|s| s.get("hard")).and_then(Value::as_object).unwrap_or(&empty);
    let mut names: Vec<&String> = hard.keys().collect();
    names.sort();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for resource in names {
        let entry = format!("{resource}: {}/{}", quantity(&["status", "used", resource]), quantity(&["status", "hard", resource]));
        let is_limit = resource.split_once('.').is_some_and(|(head, _)| head == "limits");
        if is_limit {
            limits.push(entry)
        } else {
            requests.push(entry)
        }
    }
    (requests.join(", "), limits.join(", "))
}
