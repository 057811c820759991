//! What an initializer may change through its view: it finishes by taking itself out of
//! `status.initializers`, and nothing else about the LogicalCluster is its business.

use apimachinery::status::{ApiError, FieldError};
use serde_json::Value;

/// Refuses any change from `old` to `new` other than removing `initializer` from
/// `status.initializers` (422, as kcp answers).
pub fn only_removes(initializer: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    let list = |v: &Value| v.pointer("/status/initializers").and_then(Value::as_array).cloned().unwrap_or_default();
    let (before, after) = (list(old), list(new));
    let removed: Vec<Value> = before.iter().filter(|i| *i != initializer).cloned().collect();
    let mut errs = Vec::new();
    if after != before && after != removed {
        errs.push(FieldError::invalid("status.initializers", Value::Array(after), format!("only removing the initializer {initializer:?} is supported")));
    }
    // Everything else must stay as stored; bookkeeping the server keeps itself is ignored.
    for (path, field) in [
        ("/spec", "spec"),
        ("/metadata/labels", "metadata.labels"),
        ("/metadata/annotations", "metadata.annotations"),
        ("/metadata/finalizers", "metadata.finalizers"),
    ] {
        if old.pointer(path) != new.pointer(path) {
            errs.push(FieldError::forbidden(field, "only status.initializers may be changed by an initializer"));
        }
    }
    let status_rest = |v: &Value| {
        let mut s = v.get("status").cloned().unwrap_or(Value::Null);
        if let Some(m) = s.as_object_mut() {
            m.remove("initializers");
        }
        s
    };
    if status_rest(old) != status_rest(new) {
        errs.push(FieldError::forbidden("status", "only status.initializers may be changed by an initializer"));
    }
    match errs.is_empty() {
        true => Ok(()),
        false => Err(ApiError::invalid("core.kcp.io", "LogicalCluster", "cluster", &errs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lc(initializers: &[&str]) -> Value {
        json!({"metadata": {"name": "cluster", "annotations": {"kcp.io/path": "root:a"}}, "spec": {"initializers": ["root:gated", "root:other"]},
               "status": {"phase": "Initializing", "initializers": initializers}})
    }

    #[test]
    fn removing_oneself_or_nothing_is_allowed() {
        let old = lc(&["root:gated", "root:other"]);
        only_removes("root:gated", &old, &lc(&["root:other"])).expect("removes itself");
        only_removes("root:gated", &old, &old).expect("no change");
    }

    #[test]
    fn anything_else_is_invalid() {
        let old = lc(&["root:gated", "root:other"]);
        let err = only_removes("root:gated", &old, &lc(&["root:gated"])).unwrap_err();
        assert_eq!(err.code(), 422);
        assert!(err.message.contains("only removing the initializer \"root:gated\" is supported"), "{}", err.message);
        assert_eq!(only_removes("root:gated", &old, &lc(&[])).unwrap_err().code(), 422);
        let mut phase = old.clone();
        phase["status"]["phase"] = json!("Ready");
        assert_eq!(only_removes("root:gated", &old, &phase).unwrap_err().code(), 422);
        let mut labelled = lc(&["root:other"]);
        labelled["metadata"]["labels"] = json!({"x": "y"});
        assert_eq!(only_removes("root:gated", &old, &labelled).unwrap_err().code(), 422);
    }
}
