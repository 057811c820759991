//! What an initializer or terminator may change through its view: it finishes by taking
//! itself out of its `status` list, and nothing else about the LogicalCluster is its business.

use apimachinery::registry::kcpcore::logicalcluster::Hook;
use apimachinery::status::{ApiError, FieldError};
use serde_json::Value;

/// Refuses any change from `old` to `new` other than removing `holder` from the hook's
/// `status` list (422, as kcp answers).
pub fn only_removes(hook: Hook, holder: &str, old: &Value, new: &Value) -> Result<(), ApiError> {
    let field = hook.field();
    let list = |v: &Value| v.get("status").and_then(|s| s.get(field)).and_then(Value::as_array).cloned().unwrap_or_default();
    let (before, after) = (list(old), list(new));
    let removed: Vec<Value> = before.iter().filter(|i| *i != holder).cloned().collect();
    let mut errs = Vec::new();
    let who = hook.type_flag();
    if after != before && after != removed {
        errs.push(FieldError::invalid(format!("status.{field}"), Value::Array(after), format!("only removing the {who} {holder:?} is supported")));
    }
    let only = format!("only status.{field} may be changed by the {who}");
    // Everything else must stay as stored; bookkeeping the server keeps itself is ignored.
    for (path, name) in [
        ("/spec", "spec"),
        ("/metadata/labels", "metadata.labels"),
        ("/metadata/annotations", "metadata.annotations"),
        ("/metadata/finalizers", "metadata.finalizers"),
    ] {
        if old.pointer(path) != new.pointer(path) {
            errs.push(FieldError::forbidden(name, &only));
        }
    }
    let status_rest = |v: &Value| {
        let mut s = v.get("status").cloned().unwrap_or(Value::Null);
        if let Some(m) = s.as_object_mut() {
            m.remove(field);
        }
        s
    };
    if status_rest(old) != status_rest(new) {
        errs.push(FieldError::forbidden("status", &only));
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

    fn lc(field: &str, holders: &[&str]) -> Value {
        json!({"metadata": {"name": "cluster", "annotations": {"kcp.io/path": "root:a"}}, "spec": {field: ["root:gated", "root:other"]},
               "status": {"phase": "Initializing", field: holders}})
    }

    #[test]
    fn removing_oneself_or_nothing_is_allowed() {
        for hook in [Hook::Initializer, Hook::Terminator] {
            let old = lc(hook.field(), &["root:gated", "root:other"]);
            only_removes(hook, "root:gated", &old, &lc(hook.field(), &["root:other"])).expect("removes itself");
            only_removes(hook, "root:gated", &old, &old).expect("no change");
        }
    }

    #[test]
    fn anything_else_is_invalid() {
        let old = lc("initializers", &["root:gated", "root:other"]);
        let err = only_removes(Hook::Initializer, "root:gated", &old, &lc("initializers", &["root:gated"])).unwrap_err();
        assert_eq!(err.code(), 422);
        assert!(err.message.contains("only removing the initializer \"root:gated\" is supported"), "{}", err.message);
        assert_eq!(only_removes(Hook::Initializer, "root:gated", &old, &lc("initializers", &[])).unwrap_err().code(), 422);
        let mut phase = old.clone();
        phase["status"]["phase"] = json!("Ready");
        assert_eq!(only_removes(Hook::Initializer, "root:gated", &old, &phase).unwrap_err().code(), 422);
        let mut labelled = lc("initializers", &["root:other"]);
        labelled["metadata"]["labels"] = json!({"x": "y"});
        assert_eq!(only_removes(Hook::Initializer, "root:gated", &old, &labelled).unwrap_err().code(), 422);
        let old = lc("terminators", &["root:gated", "root:other"]);
        let err = only_removes(Hook::Terminator, "root:gated", &old, &lc("terminators", &["wrong:wrong"])).unwrap_err();
        assert!(err.message.contains("only removing the terminator \"root:gated\" is supported"), "{}", err.message);
    }
}
