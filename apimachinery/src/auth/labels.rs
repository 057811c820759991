//! The slice of `metav1.LabelSelector` matching that ClusterRole aggregation needs.
//!
//! Kept here rather than shared because aggregation only ever sees structured selectors
//! (`matchLabels` + `matchExpressions`), never the string syntax of list queries, and the
//! authorizer must not depend on a module that evolves with the REST layer.

use serde_json::{Map, Value};

/// Whether the structured `selector` selects an object carrying `labels`.
///
/// As in kube, an empty selector (`{}`) selects everything. A selector kube would reject
/// (unknown operator, `In` without values, non-string values) selects nothing: granting
/// permissions through a selector that cannot be read would fail open.
pub fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    let Some(selector) = selector.as_object() else {
        return false;
    };
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    if let Some(match_labels) = selector.get("matchLabels") {
        let Some(match_labels) = match_labels.as_object() else {
            return false;
        };
        for (key, want) in match_labels {
            match want.as_str() {
                Some(want) if label(key) == Some(want) => {}
                _ => return false,
            }
        }
    }
    let expressions = match selector.get("matchExpressions") {
        None | Some(Value::Null) => return true,
        Some(Value::Array(items)) => items,
        Some(_) => return false,
    };
    expressions.iter().all(|expr| expression_matches(expr, &label))
}

/// One `matchExpressions` requirement; malformed ones match nothing.
fn expression_matches<'a>(expr: &Value, label: &impl Fn(&str) -> Option<&'a str>) -> bool {
    let Some(key) = expr.get("key").and_then(Value::as_str) else {
        return false;
    };
    let values: Option<Vec<&str>> = match expr.get("values") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(vs)) => vs.iter().map(Value::as_str).collect(),
        Some(_) => None,
    };
    let Some(values) = values else {
        return false;
    };
    let current = label(key);
    match expr.get("operator").and_then(Value::as_str) {
        Some("In") if !values.is_empty() => current.is_some_and(|v| values.contains(&v)),
        Some("NotIn") if !values.is_empty() => current.is_none_or(|v| !values.contains(&v)),
        Some("Exists") if values.is_empty() => current.is_some(),
        Some("DoesNotExist") if values.is_empty() => current.is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selector_cases() {
        let labels = json!({"agg": "true", "tier": "edit"});
        let labels = labels.as_object().cloned().unwrap_or_default();
        let cases = [
            (json!({}), true),
            (json!({"matchLabels": {"agg": "true"}}), true),
            (json!({"matchLabels": {"agg": "false"}}), false),
            (json!({"matchLabels": {"missing": "x"}}), false),
            (json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["view", "edit"]}]}), true),
            (json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["view"]}]}), false),
            (json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["view"]}]}), true),
            (json!({"matchExpressions": [{"key": "nope", "operator": "NotIn", "values": ["view"]}]}), true),
            (json!({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["edit"]}]}), false),
            (json!({"matchExpressions": [{"key": "agg", "operator": "Exists"}]}), true),
            (json!({"matchExpressions": [{"key": "nope", "operator": "Exists"}]}), false),
            (json!({"matchExpressions": [{"key": "nope", "operator": "DoesNotExist"}]}), true),
            (json!({"matchExpressions": [{"key": "agg", "operator": "DoesNotExist"}]}), false),
            (
                json!({"matchLabels": {"agg": "true"},
                       "matchExpressions": [{"key": "tier", "operator": "In", "values": ["view"]}]}),
                false,
            ),
            // Malformed selectors select nothing.
            (json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}), false),
            (json!({"matchExpressions": [{"key": "agg", "operator": "Exists", "values": ["x"]}]}), false),
            (json!({"matchExpressions": [{"key": "agg", "operator": "Gt", "values": ["1"]}]}), false),
            (json!({"matchLabels": {"agg": 1}}), false),
            (json!(null), false),
        ];
        for (selector, want) in cases {
            assert_eq!(selector_matches(&selector, &labels), want, "selector {selector}");
        }
    }
}
