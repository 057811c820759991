//! Kubernetes' validation rules, with kube-apiserver's exact messages.
//!
//! Messages are what users grep and what `kubectl` prints verbatim, so the string helpers here
//! reproduce `k8s.io/apimachinery/pkg/util/validation` word for word. The layers above them:
//! [`meta`] checks `metadata` (the same for every kind), [`core`] and [`rbac`] check the body of
//! the built-in kinds, [`kcp`] kcp's own kinds, and [`secret`] folds `stringData` before validation. Checking metadata and
//! body separately lets the generic create/update path own metadata rules once for all kinds,
//! CRDs included, while [`validate`] only knows what is specific to a kind.

mod core;
mod kcp;
mod meta;
mod names;
mod rbac;
mod secret;

pub use meta::{name_rule, validate_label_selector, validate_object_meta, NameRule};
pub use names::{
    is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value,
    is_valid_path_segment_name, quantity_errors,
};
pub use secret::normalize_secret;

use crate::status::FieldError;
use serde_json::Value;

/// Body validation of a built-in kind (`metadata` is [`validate_object_meta`]'s job); `old` is
/// the stored object on update, which enables the immutability rules. Unknown kinds pass.
pub fn validate(group: &str, kind: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    match (group, kind) {
        ("", "Namespace") => core::namespace(obj),
        ("", "ServiceAccount") => Vec::new(),
        ("", "ConfigMap") => core::config_map(obj, old),
        ("", "Secret") => core::secret(obj, old),
        ("", "ResourceQuota") => core::resource_quota(obj),
        ("", "LimitRange") => core::limit_range(obj),
        ("", "Event") => core::event(obj, false),
        ("events.k8s.io", "Event") => core::event(obj, true),
        ("coordination.k8s.io", "Lease") => core::lease(obj),
        ("rbac.authorization.k8s.io", "Role") => rbac::role(obj, true),
        ("rbac.authorization.k8s.io", "ClusterRole") => rbac::role(obj, false),
        ("rbac.authorization.k8s.io", "RoleBinding") => rbac::binding(obj, old, true),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => rbac::binding(obj, old, false),
        ("core.kcp.io", "Shard") => kcp::shard(obj),
        _ => Vec::new(),
    }
}

/// `obj[key]` as a string, treating absent and non-string alike (kube's zero value).
fn str_at<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `obj[key]` as a map, treating absent and `null` as empty (Go's nil map).
fn map_at<'a>(obj: &'a Value, key: &str) -> Option<&'a serde_json::Map<String, Value>> {
    obj.get(key).and_then(Value::as_object)
}

/// `obj[key]` as an array of values, treating absent and `null` as empty.
fn list_at<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// Field errors as the text users see, for tests.
#[cfg(test)]
fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dispatches_by_group_and_kind() {
        let bad_rule = json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}]});
        let cases: Vec<(&str, &str, Value, usize)> = vec![
            ("rbac.authorization.k8s.io", "Role", bad_rule.clone(), 1),
            ("example.com", "Role", bad_rule, 0),
            ("", "ConfigMap", json!({"data": {"a/b": ""}}), 1),
            ("", "Secret", json!({"type": "kubernetes.io/tls"}), 2),
            ("coordination.k8s.io", "Lease", json!({"spec": {"leaseDurationSeconds": -1}}), 1),
            ("", "ServiceAccount", json!({"secrets": [{}]}), 0),
            ("", "Namespace", json!({"spec": {"finalizers": ["kubernetes"]}}), 0),
        ];
        for (group, kind, obj, want) in cases {
            assert_eq!(validate(group, kind, &obj, None).len(), want, "{group}/{kind}");
        }
    }
}
