//! Validation of built-in objects with Kubernetes' rules and messages.

use base64::Engine;
use serde_json::{json, Value};

use crate::status::FieldError;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const QUALIFIED_NAME_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

/// Largest total size of a ConfigMap's or Secret's data.
pub const MAX_DATA_BYTES: usize = 1024 * 1024;
/// Largest total size of an object's annotations.
const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

fn label_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Messages for a name that is not a DNS-1123 label.
pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    if !label_ok(s) {
        out.push(DNS1123_LABEL_MSG.to_string());
    }
    out
}

/// Messages for a name that is not a DNS-1123 subdomain.
pub fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty() || !s.split('.').all(label_ok) {
        out.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    out
}

fn name_part_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Messages for a key that is not a qualified name (`[prefix/]name`), as label keys must be.
pub fn is_qualified_name(s: &str) -> Vec<String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let mut out = Vec::new();
    if name.is_empty() {
        out.push("name part must be non-empty".to_string());
    } else {
        if name.len() > 63 {
            out.push("name part must be no more than 63 characters".to_string());
        }
        if !name_part_ok(name) {
            out.push(QUALIFIED_NAME_MSG.to_string());
        }
    }
    if let Some(p) = prefix {
        out.extend(is_dns1123_subdomain(p).into_iter().map(|m| format!("prefix part {m}")));
    }
    out
}

/// Messages for an invalid label value.
pub fn is_valid_label_value(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 63 {
        out.push("must be no more than 63 characters".to_string());
    }
    if !s.is_empty() && !name_part_ok(s) {
        out.push(LABEL_VALUE_MSG.to_string());
    }
    out
}

/// Messages for an invalid ConfigMap or Secret key.
pub fn is_config_map_key(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    if s.len() > 253 {
        out.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
        out.push(CONFIG_KEY_MSG.to_string());
    }
    if s == "." || s == ".." || s.starts_with("..") {
        out.push("must not be '.' or '..' or start with '..'".to_string());
    }
    out
}

/// Which rule a kind's names follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    Subdomain,
    Label,
    /// Anything that is a valid URL path segment (RBAC objects).
    PathSegment,
}

/// The name rule of a kind.
pub fn name_rule(group: &str, kind: &str) -> NameRule {
    match (group, kind) {
        ("", "Namespace") | ("tenancy.kcp.io", "Workspace") => NameRule::Label,
        ("rbac.authorization.k8s.io", _) => NameRule::PathSegment,
        _ => NameRule::Subdomain,
    }
}

fn push_all(errs: &mut Vec<FieldError>, field: &str, value: &str, msgs: Vec<String>) {
    errs.extend(msgs.into_iter().map(|m| FieldError::invalid(field, value, m)));
}

fn str_map<'a>(v: &'a Value, key: &str) -> Vec<(&'a String, &'a Value)> {
    v.get(key).and_then(Value::as_object).map(|m| m.iter().collect()).unwrap_or_default()
}

/// ObjectMeta rules shared by every kind (names, labels, annotations, finalizers, owners).
pub fn validate_object_meta(obj: &Value, namespaced: bool, rule: NameRule) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let meta = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let name = meta["name"].as_str().unwrap_or_default();
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else {
        let msgs = match rule {
            NameRule::Subdomain => is_dns1123_subdomain(name),
            NameRule::Label => is_dns1123_label(name),
            NameRule::PathSegment => {
                if name == "." || name == ".." {
                    vec![format!("may not be '{name}'")]
                } else if name.contains('/') || name.contains('%') {
                    vec![format!("may not contain '{}'", if name.contains('/') { "/" } else { "%" })]
                } else {
                    vec![]
                }
            }
        };
        push_all(&mut errs, "metadata.name", name, msgs);
    }
    let ns = meta["namespace"].as_str().unwrap_or_default();
    if namespaced && ns.is_empty() {
        errs.push(FieldError::required("metadata.namespace", ""));
    } else if !namespaced && !ns.is_empty() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    for (k, v) in str_map(&meta, "labels") {
        push_all(&mut errs, "metadata.labels", k, is_qualified_name(k));
        match v.as_str() {
            Some(s) => push_all(&mut errs, &format!("metadata.labels[{k}]"), s, is_valid_label_value(s)),
            None => errs.push(FieldError::invalid(format!("metadata.labels[{k}]"), v.clone(), "label values must be strings")),
        }
    }
    let mut total = 0;
    for (k, v) in str_map(&meta, "annotations") {
        push_all(&mut errs, "metadata.annotations", k, is_qualified_name(&k.to_ascii_lowercase()));
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > MAX_ANNOTATIONS_BYTES {
        errs.push(FieldError::too_long("metadata.annotations", MAX_ANNOTATIONS_BYTES));
    }
    for (i, f) in meta["finalizers"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        let f = f.as_str().unwrap_or_default();
        let msgs = is_qualified_name(f);
        if !msgs.is_empty() && !matches!(f, "kubernetes" | "foregroundDeletion" | "orphan") {
            push_all(&mut errs, &format!("metadata.finalizers[{i}]"), f, msgs);
        }
    }
    for (i, r) in meta["ownerReferences"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        for field in ["apiVersion", "kind", "name", "uid"] {
            if r[field].as_str().unwrap_or_default().is_empty() {
                errs.push(FieldError::required(format!("metadata.ownerReferences[{i}].{field}"), ""));
            }
        }
    }
    errs
}

fn data_size(obj: &Value, keys: &[&str], decode: bool) -> usize {
    keys.iter()
        .flat_map(|k| str_map(obj, k))
        .map(|(k, v)| {
            let s = v.as_str().unwrap_or_default();
            let n = if decode { s.len() * 3 / 4 } else { s.len() };
            k.len() + n
        })
        .sum()
}

fn validate_keys(errs: &mut Vec<FieldError>, obj: &Value, fields: &[&str]) {
    let mut seen = std::collections::HashSet::new();
    for f in fields {
        for (k, _) in str_map(obj, f) {
            push_all(errs, &format!("{f}[{k}]"), k, is_config_map_key(k));
            if !seen.insert(k.clone()) {
                errs.push(FieldError { kind: crate::status::FieldErrorKind::Duplicate, field: format!("{f}[{k}]"), value: Some(json!(k)), detail: String::new() });
            }
        }
    }
}

fn immutable_data(errs: &mut Vec<FieldError>, obj: &Value, old: Option<&Value>, fields: &[&str]) {
    let Some(old) = old else { return };
    if old["immutable"] != json!(true) {
        return;
    }
    if obj["immutable"] != json!(true) {
        errs.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
    }
    for f in fields {
        if obj.get(*f) != old.get(*f) {
            errs.push(FieldError::forbidden(*f, "field is immutable when `immutable` is set"));
        }
    }
}

/// Per-kind validation of built-in objects.
pub fn validate(group: &str, kind: &str, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match (group, kind) {
        ("", "ConfigMap") => {
            validate_keys(&mut errs, obj, &["data", "binaryData"]);
            if data_size(obj, &["data"], false) + data_size(obj, &["binaryData"], true) > MAX_DATA_BYTES {
                errs.push(FieldError::too_long("", MAX_DATA_BYTES));
            }
            immutable_data(&mut errs, obj, old, &["data", "binaryData"]);
        }
        ("", "Secret") => {
            validate_keys(&mut errs, obj, &["data"]);
            if data_size(obj, &["data"], true) > MAX_DATA_BYTES {
                errs.push(FieldError::too_long("data", MAX_DATA_BYTES));
            }
            immutable_data(&mut errs, obj, old, &["data"]);
            if let Some(old) = old {
                if old["type"] != obj["type"] {
                    errs.push(FieldError::invalid("type", obj["type"].clone(), "field is immutable"));
                }
            }
            let has = |k: &str| obj.pointer(&format!("/data/{}", k.replace('~', "~0").replace('/', "~1"))).is_some();
            let required: &[&str] = match obj["type"].as_str().unwrap_or_default() {
                "kubernetes.io/tls" => &["tls.crt", "tls.key"],
                "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
                "kubernetes.io/dockercfg" => &[".dockercfg"],
                "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
                _ => &[],
            };
            for k in required {
                if !has(k) {
                    errs.push(FieldError::required(format!("data[{k}]"), ""));
                }
            }
            if obj["type"] == "kubernetes.io/service-account-token" && obj.pointer("/metadata/annotations/kubernetes.io~1service-account.name").is_none() {
                errs.push(FieldError::required("metadata.annotations[kubernetes.io/service-account.name]", ""));
            }
        }
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            for (i, r) in obj["rules"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
                if r["verbs"].as_array().is_none_or(|v| v.is_empty()) {
                    errs.push(FieldError::required(format!("rules[{i}].verbs"), "verbs must contain at least one value"));
                }
                let non_resource = r["nonResourceURLs"].as_array().is_some_and(|v| !v.is_empty());
                let resources = r["resources"].as_array().is_some_and(|v| !v.is_empty());
                if non_resource && (resources || r["apiGroups"].as_array().is_some_and(|v| !v.is_empty())) {
                    errs.push(FieldError::invalid(format!("rules[{i}].nonResourceURLs"), json!(r["nonResourceURLs"]), "rules cannot apply to both regular resources and non-resource URLs"));
                }
                if non_resource && kind == "Role" {
                    errs.push(FieldError::invalid(format!("rules[{i}].nonResourceURLs"), json!(r["nonResourceURLs"]), "namespaced rules cannot apply to non-resource URLs"));
                }
                if !non_resource {
                    if r["apiGroups"].as_array().is_none_or(|v| v.is_empty()) {
                        errs.push(FieldError::required(format!("rules[{i}].apiGroups"), "resource rules must supply at least one api group"));
                    }
                    if !resources {
                        errs.push(FieldError::required(format!("rules[{i}].resources"), "resource rules must supply at least one resource"));
                    }
                }
            }
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            let rk = obj.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or_default();
            let allowed: &[&str] = if kind == "RoleBinding" { &["Role", "ClusterRole"] } else { &["ClusterRole"] };
            if !allowed.contains(&rk) {
                errs.push(FieldError::not_supported("roleRef.kind", rk, allowed));
            }
            if obj.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default().is_empty() {
                errs.push(FieldError::required("roleRef.name", ""));
            }
            if let Some(old) = old {
                if old["roleRef"] != obj["roleRef"] {
                    errs.push(FieldError::invalid("roleRef", obj["roleRef"].clone(), "cannot change roleRef"));
                }
            }
            for (i, s) in obj["subjects"].as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
                let k = s["kind"].as_str().unwrap_or_default();
                if !["User", "Group", "ServiceAccount"].contains(&k) {
                    errs.push(FieldError::not_supported(format!("subjects[{i}].kind"), k, &["ServiceAccount", "User", "Group"]));
                }
                if s["name"].as_str().unwrap_or_default().is_empty() {
                    errs.push(FieldError::required(format!("subjects[{i}].name"), ""));
                }
                if k == "ServiceAccount" && kind == "ClusterRoleBinding" && s["namespace"].as_str().unwrap_or_default().is_empty() {
                    errs.push(FieldError::required(format!("subjects[{i}].namespace"), ""));
                }
            }
        }
        ("coordination.k8s.io", "Lease") => {
            if let Some(d) = obj.pointer("/spec/leaseDurationSeconds").and_then(Value::as_i64) {
                if d <= 0 {
                    errs.push(FieldError::invalid("spec.leaseDurationSeconds", d, "must be greater than 0"));
                }
            }
        }
        _ => {}
    }
    errs
}

/// Folds `stringData` into `data`, defaults `type` to `Opaque`, and checks base64 in `data`.
pub fn normalize_secret(obj: &mut Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let engine = base64::engine::general_purpose::STANDARD;
    if let Some(data) = obj.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            match v.as_str() {
                Some(s) => {
                    if let Err(e) = engine.decode(s) {
                        errs.push(FieldError::invalid(format!("data[{k}]"), "<redacted>", format!("illegal base64 data: {e}")));
                    }
                }
                None if v.is_null() => {}
                None => errs.push(FieldError::invalid(format!("data[{k}]"), "<redacted>", "must be a base64-encoded string")),
            }
        }
    }
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
        for (k, v) in sd {
            let encoded = engine.encode(v.as_str().unwrap_or_default());
            obj["data"][k] = json!(encoded);
        }
    }
    if obj.get("type").and_then(Value::as_str).unwrap_or_default().is_empty() {
        obj["type"] = json!("Opaque");
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_dns1123_subdomain("web.example-1").is_empty());
        assert_eq!(is_dns1123_subdomain("Bad_Name"), vec![DNS1123_SUBDOMAIN_MSG.to_string()]);
        assert_eq!(is_dns1123_label(&"a".repeat(64))[0], "must be no more than 63 characters");
        assert!(is_qualified_name("example.com/app").is_empty());
        assert!(!is_qualified_name("-bad").is_empty());
        assert!(!is_valid_label_value("bad value").is_empty());
        assert!(is_config_map_key("KEY_name.1").is_empty());
        assert!(!is_config_map_key("a/b").is_empty());
    }

    #[test]
    fn object_meta_messages() {
        let errs = validate_object_meta(&json!({"metadata":{"name":"Bad_Name","namespace":"d"}}), true, NameRule::Subdomain);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().starts_with("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"));
        let errs = validate_object_meta(&json!({"metadata":{"name":"x"}}), true, NameRule::Subdomain);
        assert_eq!(errs[0].field, "metadata.namespace");
    }

    #[test]
    fn configmaps_and_secrets() {
        let big = json!({"data": {"k": "x".repeat(MAX_DATA_BYTES)}});
        assert_eq!(validate("", "ConfigMap", &big, None)[0].kind, crate::status::FieldErrorKind::TooLong);
        let old = json!({"immutable": true, "data": {"a": "1"}});
        let new = json!({"immutable": true, "data": {"a": "2"}});
        assert_eq!(validate("", "ConfigMap", &new, Some(&old))[0].field, "data");
        let mut s = json!({"stringData": {"a": "hi"}, "data": {"b": "aGk="}});
        assert!(normalize_secret(&mut s).is_empty());
        assert_eq!(s, json!({"data": {"a": "aGk=", "b": "aGk="}, "type": "Opaque"}));
        let mut bad = json!({"data": {"a": "!!"}});
        assert_eq!(normalize_secret(&mut bad)[0].field, "data[a]");
        let changed = validate("", "Secret", &json!({"type": "x"}), Some(&json!({"type": "Opaque"})));
        assert_eq!(changed[0].field, "type");
    }

    #[test]
    fn rbac() {
        let bad = json!({"rules": [{"apiGroups": [""], "resources": ["pods"]}]});
        assert_eq!(validate("rbac.authorization.k8s.io", "Role", &bad, None)[0].field, "rules[0].verbs");
        let rb = json!({"roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "a"}]});
        assert!(validate("rbac.authorization.k8s.io", "RoleBinding", &rb, None).is_empty());
        assert!(!validate("rbac.authorization.k8s.io", "ClusterRoleBinding", &rb, None).is_empty());
    }
}
