//! `metadata` validation shared by every kind, built-in or CRD (kube's `ValidateObjectMeta`).

use super::names::{is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value, is_valid_path_segment_name};
use super::{list_at, map_at, str_at};
use crate::status::FieldError;
use serde_json::Value;

/// Total bytes of annotation keys plus values allowed on one object.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Which format an object's name must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain: the default for most kinds.
    Subdomain,
    /// RFC 1123 label: namespaces, because their names become DNS labels.
    Label,
    /// Anything usable as a URL path segment: RBAC kinds (`system:masters` is a valid name).
    PathSegment,
}

impl NameRule {
    /// Problems with `name`; `prefix` validates a `generateName` prefix, which may end in '-'.
    fn check(self, name: &str, prefix: bool) -> Vec<String> {
        // A generated name appends random alphanumerics, so a trailing '-' in the prefix is fine.
        let masked;
        let name = if prefix && name.len() > 1 && name.ends_with('-') {
            masked = format!("{}a", &name[..name.len() - 1]);
            masked.as_str()
        } else {
            name
        };
        match self {
            NameRule::Subdomain => is_dns1123_subdomain(name),
            NameRule::Label => is_dns1123_label(name),
            NameRule::PathSegment => is_valid_path_segment_name(name, prefix),
        }
    }
}

/// Validates `obj.metadata` as kube's `ValidateObjectMeta` does; the caller has already turned
/// `generateName` into a name, so a missing name is an error here.
pub fn validate_object_meta(obj: &Value, namespaced: bool, name_rule: NameRule) -> Vec<FieldError> {
    let empty = Value::Object(Default::default());
    let meta = obj.get("metadata").filter(|m| m.is_object()).unwrap_or(&empty);
    let mut errs = Vec::new();

    let generate_name = str_at(meta, "generateName");
    if !generate_name.is_empty() {
        for msg in name_rule.check(generate_name, true) {
            errs.push(FieldError::invalid("metadata.generateName", generate_name, msg));
        }
    }
    let name = str_at(meta, "name");
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else {
        for msg in name_rule.check(name, false) {
            errs.push(FieldError::invalid("metadata.name", name, msg));
        }
    }

    let namespace = str_at(meta, "namespace");
    if namespaced {
        if namespace.is_empty() {
            errs.push(FieldError::required("metadata.namespace", ""));
        } else {
            for msg in is_dns1123_label(namespace) {
                errs.push(FieldError::invalid("metadata.namespace", namespace, msg));
            }
        }
    } else if !namespace.is_empty() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }

    if let Some(generation) = meta.get("generation").and_then(Value::as_i64).filter(|g| *g < 0) {
        errs.push(FieldError::invalid("metadata.generation", generation, "must be greater than or equal to 0"));
    }
    errs.extend(validate_labels(map_at(meta, "labels"), "metadata.labels"));
    errs.extend(validate_annotations(map_at(meta, "annotations")));
    errs.extend(validate_owner_references(list_at(meta, "ownerReferences")));
    for finalizer in list_at(meta, "finalizers").iter().filter_map(Value::as_str) {
        for msg in is_qualified_name(finalizer) {
            errs.push(FieldError::invalid("metadata.finalizers", finalizer, msg));
        }
    }
    errs
}

/// Label keys and values; errors name the whole map, as kube does.
fn validate_labels(labels: Option<&serde_json::Map<String, Value>>, path: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (key, value) in labels.into_iter().flatten() {
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(path, key.as_str(), msg));
        }
        let value = value.as_str().unwrap_or("");
        for msg in is_valid_label_value(value) {
            errs.push(FieldError::invalid(path, value, msg));
        }
    }
    errs
}

/// A `metav1.LabelSelector` as kube's `ValidateLabelSelector` checks it, rooted at `path`.
pub fn validate_label_selector(selector: &Value, path: &str) -> Vec<FieldError> {
    let mut errs = validate_labels(map_at(selector, "matchLabels"), &format!("{path}.matchLabels"));
    for (i, expr) in list_at(selector, "matchExpressions").iter().enumerate() {
        let expr_path = format!("{path}.matchExpressions[{i}]");
        let values = list_at(expr, "values");
        match str_at(expr, "operator") {
            "In" | "NotIn" if values.is_empty() => {
                errs.push(FieldError::required(format!("{expr_path}.values"), "must be specified when `operator` is 'In' or 'NotIn'"))
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                errs.push(FieldError::forbidden(format!("{expr_path}.values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => errs.push(FieldError::invalid(format!("{expr_path}.operator"), other, "not a valid selector operator")),
        }
        let key = str_at(expr, "key");
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(format!("{expr_path}.key"), key, msg));
        }
        for (j, value) in values.iter().enumerate() {
            let value = value.as_str().unwrap_or("");
            for msg in is_valid_label_value(value) {
                errs.push(FieldError::invalid(format!("{expr_path}.values[{j}]"), value, msg));
            }
        }
    }
    errs
}

fn validate_annotations(annotations: Option<&serde_json::Map<String, Value>>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let mut total = 0;
    for (key, value) in annotations.into_iter().flatten() {
        // Annotation keys are qualified names compared case-insensitively.
        for msg in is_qualified_name(&key.to_lowercase()) {
            errs.push(FieldError::invalid("metadata.annotations", key.as_str(), msg));
        }
        total += key.len() + value.as_str().map_or(0, str::len);
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long("metadata.annotations", TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_owner_references(refs: &[Value]) -> Vec<FieldError> {
    const PATH: &str = "metadata.ownerReferences";
    let mut errs = Vec::new();
    let mut controllers = Vec::new();
    for r in refs {
        let api_version = str_at(r, "apiVersion");
        // An apiVersion with more than one '/' does not parse, leaving the version empty.
        let version = match api_version.split('/').collect::<Vec<_>>().as_slice() {
            [v] | [_, v] => *v,
            _ => "",
        };
        if version.is_empty() {
            errs.push(FieldError::invalid(format!("{PATH}.apiVersion"), api_version, "version must not be empty"));
        }
        for (field, what) in [("kind", "kind"), ("name", "name"), ("uid", "uid")] {
            let value = str_at(r, field);
            if value.is_empty() {
                errs.push(FieldError::invalid(format!("{PATH}.{field}"), value, format!("{what} must not be empty")));
            }
        }
        if r.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers.push(str_at(r, "name"));
        }
    }
    if controllers.len() > 1 {
        errs.push(FieldError::invalid(
            PATH,
            Value::Array(refs.to_vec()),
            format!("Only one reference can have Controller set to true. Found \"true\" in references for {} and {}", controllers[0], controllers[1]),
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::messages;
    use serde_json::json;

    #[test]
    fn object_meta_cases() {
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let cases: Vec<(Value, bool, NameRule, Vec<&str>)> = vec![
            (json!({"metadata": {"name": "web", "namespace": "default"}}), true, NameRule::Subdomain, vec![]),
            (json!({"metadata": {}}), false, NameRule::Subdomain,
                vec!["metadata.name: Required value: name or generateName is required"]),
            (json!({"metadata": {"name": "web"}}), true, NameRule::Subdomain,
                vec!["metadata.namespace: Required value"]),
            (json!({"metadata": {"name": "web", "namespace": "x"}}), false, NameRule::Subdomain,
                vec!["metadata.namespace: Forbidden: not allowed on this type"]),
            (json!({"metadata": {"name": "a.b"}}), false, NameRule::Label,
                vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]),
            (json!({"metadata": {"name": "system:admin"}}), false, NameRule::PathSegment, vec![]),
            (json!({"metadata": {"name": "web-x", "generateName": "web-"}}), false, NameRule::Subdomain, vec![]),
            (json!({"metadata": {"name": "x", "labels": {"app": "a b"}}}), false, NameRule::Subdomain,
                vec!["metadata.labels: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]),
            (json!({"metadata": {"name": "x", "annotations": {"k": big}}}), false, NameRule::Subdomain,
                vec!["metadata.annotations: Too long: may not be more than 262144 bytes"]),
            (json!({"metadata": {"name": "x", "annotations": {"Example.COM/Key": "v"}}}), false, NameRule::Subdomain, vec![]),
            (json!({"metadata": {"name": "x", "finalizers": ["example.com/f", "bad f"]}}), false, NameRule::Subdomain,
                vec!["metadata.finalizers: Invalid value: \"bad f\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"]),
            (json!({"metadata": {"name": "x", "ownerReferences": [{"apiVersion": "apps/v1", "kind": "", "name": "o"}]}}), false, NameRule::Subdomain,
                vec!["metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                     "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty"]),
            (json!({"metadata": {"name": "x", "ownerReferences": [{"apiVersion": "a/b/c", "kind": "K", "name": "o", "uid": "u"}]}}), false, NameRule::Subdomain,
                vec!["metadata.ownerReferences.apiVersion: Invalid value: \"a/b/c\": version must not be empty"]),
        ];
        for (obj, namespaced, rule, want) in cases {
            assert_eq!(messages(&validate_object_meta(&obj, namespaced, rule)), want, "{obj}");
        }
    }

    #[test]
    fn label_selector_cases() {
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({"matchLabels": {"a": "b"}, "matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]}), vec![]),
            (
                json!({"matchExpressions": [{"key": "k", "operator": "In"}]}),
                vec!["s.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"],
            ),
            (
                json!({"matchExpressions": [{"key": "k", "operator": "Exists", "values": ["v"]}]}),
                vec!["s.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"],
            ),
            (
                json!({"matchExpressions": [{"key": "k", "operator": "Gt"}]}),
                vec!["s.matchExpressions[0].operator: Invalid value: \"Gt\": not a valid selector operator"],
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(messages(&validate_label_selector(&sel, "s")), want, "{sel}");
        }
    }

    #[test]
    fn two_controllers_rejected() {
        let owner = |n: &str| json!({"apiVersion": "v1", "kind": "K", "name": n, "uid": n, "controller": true});
        let obj = json!({"metadata": {"name": "x", "ownerReferences": [owner("a"), owner("b")]}});
        let errs = validate_object_meta(&obj, false, NameRule::Subdomain);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].detail.ends_with("Found \"true\" in references for a and b"));
    }
}
