//! Body validation of the core, coordination and events kinds kcp serves.

use super::names::{is_config_map_key, is_qualified_name, quantity_errors};
use super::secret::decode_go_base64;
use super::{list_at, map_at, str_at};
use crate::status::FieldError;
use serde_json::{Map, Value};

/// Largest total payload of a ConfigMap or Secret (kube's `MaxSecretSize`).
const MAX_PAYLOAD: usize = 1024 * 1024;
const IMMUTABLE_SET: &str = "field is immutable when `immutable` is set";

fn is_immutable(obj: &Value) -> bool {
    obj.get("immutable").and_then(Value::as_bool) == Some(true)
}

/// Maps compare as kube's `reflect.DeepEqual` on decoded maps, with absent and `{}` alike.
fn same_map(a: Option<&Map<String, Value>>, b: Option<&Map<String, Value>>) -> bool {
    let empty = Map::new();
    a.unwrap_or(&empty) == b.unwrap_or(&empty)
}

/// The immutable-field rules shared by ConfigMap and Secret.
fn immutability(obj: &Value, old: Option<&Value>, fields: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(old) = old.filter(|o| is_immutable(o)) else { return errs };
    if !is_immutable(obj) {
        errs.push(FieldError::forbidden("immutable", IMMUTABLE_SET));
    }
    for field in fields {
        if !same_map(map_at(obj, field), map_at(old, field)) {
            errs.push(FieldError::forbidden(*field, IMMUTABLE_SET));
        }
    }
    errs
}

/// Byte length of a JSON `[]byte` value (base64 text); undecodable text counts as written.
fn decoded_len(value: &Value) -> usize {
    let text = value.as_str().unwrap_or("");
    decode_go_base64(text).map_or(text.len(), |b| b.len())
}

fn key_errors(path: &str, key: &str) -> Vec<FieldError> {
    is_config_map_key(key).into_iter().map(|msg| FieldError::invalid(format!("{path}[{key}]"), key, msg)).collect()
}

/// A Namespace's `spec.finalizers`: qualified names, and fully qualified unless kube's own.
pub fn namespace(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let finalizers = obj.get("spec").map(|s| list_at(s, "finalizers")).unwrap_or(&[]);
    for finalizer in finalizers.iter().filter_map(Value::as_str) {
        let msgs = is_qualified_name(finalizer);
        if msgs.is_empty() && finalizer != "kubernetes" && !finalizer.contains('/') {
            errs.push(FieldError::invalid("spec.finalizers", finalizer, "name is neither a standard finalizer name nor is it fully qualified"));
        }
        errs.extend(msgs.into_iter().map(|msg| FieldError::invalid("spec.finalizers", finalizer, msg)));
    }
    errs
}

/// kube's `ValidateConfigMap` and `ValidateConfigMapUpdate`: keys, total size and immutability.
pub fn config_map(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = immutability(obj, old, &["data", "binaryData"]);
    let binary = map_at(obj, "binaryData");
    let mut total = 0;
    for (key, value) in map_at(obj, "data").into_iter().flatten() {
        errs.extend(key_errors("data", key));
        if binary.is_some_and(|b| b.contains_key(key)) {
            errs.push(FieldError::invalid(format!("data[{key}]"), key.as_str(), "duplicate of key present in binaryData"));
        }
        total += value.as_str().map_or(0, str::len);
    }
    for (key, value) in binary.into_iter().flatten() {
        errs.extend(key_errors("binaryData", key));
        total += decoded_len(value);
    }
    if total > MAX_PAYLOAD {
        // An empty path: the limit applies to the object as a whole.
        errs.push(FieldError::too_long("", MAX_PAYLOAD));
    }
    errs
}

/// kube's `ValidateSecret` and `ValidateSecretUpdate`: keys, size, type immutability and the
/// data keys or annotations each well-known type requires.
pub fn secret(obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(old) = old {
        let (new_type, old_type) = (str_at(obj, "type"), str_at(old, "type"));
        if new_type != old_type {
            errs.push(FieldError::invalid("type", new_type, "field is immutable"));
        }
    }
    errs.extend(immutability(obj, old, &["data"]));

    let data = map_at(obj, "data");
    let mut total = 0;
    for (key, value) in data.into_iter().flatten() {
        errs.extend(key_errors("data", key));
        total += decoded_len(value);
    }
    if total > MAX_PAYLOAD {
        errs.push(FieldError::too_long("data", MAX_PAYLOAD));
    }

    let has = |key: &str| data.is_some_and(|d| d.contains_key(key));
    let required = |key: &str| FieldError::required(format!("data[{key}]"), "");
    match str_at(obj, "type") {
        "kubernetes.io/service-account-token" => {
            const SA_NAME: &str = "kubernetes.io/service-account.name";
            let annotations = obj.get("metadata").and_then(|m| map_at(m, "annotations"));
            let name = annotations.and_then(|a| a.get(SA_NAME)).and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                errs.push(FieldError::required(format!("metadata.annotations[{SA_NAME}]"), ""));
            }
        }
        kind @ ("kubernetes.io/dockercfg" | "kubernetes.io/dockerconfigjson") => {
            let key = if kind == "kubernetes.io/dockercfg" { ".dockercfg" } else { ".dockerconfigjson" };
            match data.and_then(|d| d.get(key)) {
                None => errs.push(required(key)),
                Some(value) => {
                    let bytes = decode_go_base64(value.as_str().unwrap_or("")).unwrap_or_default();
                    if let Some(msg) = json_object_error(&bytes) {
                        errs.push(FieldError::invalid(format!("data[{key}]"), "<secret contents redacted>", msg));
                    }
                }
            }
        }
        // Either may be empty, but at least one of the two keys must be there.
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errs.push(required("username"));
            errs.push(required("password"));
        }
        "kubernetes.io/ssh-auth" if data.and_then(|d| d.get("ssh-privatekey")).map_or(0, decoded_len) == 0 => {
            errs.push(required("ssh-privatekey"));
        }
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errs.push(required(key));
                }
            }
        }
        _ => {}
    }
    errs
}

/// Go's `json.Unmarshal` into a map, in Go's words for the common failures.
fn json_object_error(bytes: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) => None,
        Ok(other) => {
            let kind = match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                Value::Bool(_) => "bool",
                // Go decodes `null` into a map as a no-op.
                _ => return None,
            };
            Some(format!("json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"))
        }
        Err(e) if e.is_eof() => Some("unexpected end of JSON input".to_string()),
        Err(e) => Some(e.to_string()),
    }
}

/// Validates each quantity in `map` (e.g. `spec.hard`) and, where asked, its resource name.
fn quantities(map: Option<&Map<String, Value>>, path: &str, check_names: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (name, value) in map.into_iter().flatten() {
        let field = format!("{path}[{name}]");
        if check_names {
            for msg in is_qualified_name(name) {
                errs.push(FieldError::invalid(field.clone(), name.as_str(), msg));
            }
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        for msg in quantity_errors(&text, true) {
            errs.push(FieldError::invalid(field.clone(), text.as_str(), msg));
        }
    }
    errs
}

/// A ResourceQuota's `spec.hard`, `status.hard` and `status.used`: valid quantities of valid resource names.
pub fn resource_quota(obj: &Value) -> Vec<FieldError> {
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let status = obj.get("status").cloned().unwrap_or(Value::Null);
    let mut errs = quantities(map_at(&spec, "hard"), "spec.hard", true);
    errs.extend(quantities(map_at(&status, "hard"), "status.hard", true));
    errs.extend(quantities(map_at(&status, "used"), "status.used", true));
    errs
}

/// A LimitRange's limits: a known `type` and valid quantities in each constraint.
pub fn limit_range(obj: &Value) -> Vec<FieldError> {
    const TYPES: [&str; 3] = ["Pod", "Container", "PersistentVolumeClaim"];
    let mut errs = Vec::new();
    let limits = obj.get("spec").map(|s| list_at(s, "limits")).unwrap_or(&[]);
    for (i, limit) in limits.iter().enumerate() {
        let path = format!("spec.limits[{i}]");
        let kind = str_at(limit, "type");
        if kind.is_empty() {
            errs.push(FieldError::required(format!("{path}.type"), ""));
        } else if !TYPES.contains(&kind) {
            errs.push(FieldError::not_supported(format!("{path}.type"), kind, &TYPES));
        }
        for field in ["max", "min", "default", "defaultRequest", "maxLimitRequestRatio"] {
            errs.extend(quantities(map_at(limit, field), &format!("{path}.{field}"), false));
        }
    }
    errs
}

/// A Lease's spec: positive duration, non-negative transitions, `preferredHolder` only with `strategy`.
pub fn lease(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(spec) = obj.get("spec") else { return errs };
    if let Some(d) = spec.get("leaseDurationSeconds").and_then(Value::as_i64).filter(|d| *d <= 0) {
        errs.push(FieldError::invalid("spec.leaseDurationSeconds", d, "must be greater than 0"));
    }
    if let Some(t) = spec.get("leaseTransitions").and_then(Value::as_i64).filter(|t| *t < 0) {
        errs.push(FieldError::invalid("spec.leaseTransitions", t, "must be greater than or equal to 0"));
    }
    if !str_at(spec, "preferredHolder").is_empty() && str_at(spec, "strategy").is_empty() {
        errs.push(FieldError::forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"));
    }
    errs
}

/// The namespace rule every Event obeys, plus the reporting fields new-style events require.
/// `events_api` selects the `events.k8s.io` field names (`regarding`, `note`, `reportingController`).
pub fn event(obj: &Value, events_api: bool) -> Vec<FieldError> {
    let (object_field, controller_field, message_field) =
        if events_api { ("regarding", "reportingController", "note") } else { ("involvedObject", "reportingComponent", "message") };
    let namespace = obj.get("metadata").map(|m| str_at(m, "namespace")).unwrap_or("");
    let involved_ns = obj.get(object_field).map(|o| str_at(o, "namespace")).unwrap_or("");
    let ns_mismatch = || FieldError::invalid(format!("{object_field}.namespace"), involved_ns, "does not match event.namespace");
    let mut errs = Vec::new();
    if str_at(obj, "eventTime").is_empty() {
        if events_api {
            errs.push(FieldError::required("eventTime", ""));
        }
        // Old-style events may say `default` for cluster-scoped objects, for old clients' sake.
        let ok = if involved_ns.is_empty() { namespace.is_empty() || namespace == "default" } else { namespace == involved_ns };
        if !ok {
            errs.push(ns_mismatch());
        }
        return errs;
    }
    if involved_ns.is_empty() && namespace != "default" && namespace != "kube-system" {
        errs.push(ns_mismatch());
    }
    let controller = str_at(obj, controller_field);
    if controller.is_empty() {
        errs.push(FieldError::required(controller_field, ""));
    }
    for msg in is_qualified_name(controller) {
        errs.push(FieldError::invalid(controller_field, controller, msg));
    }
    for (field, limit) in [("reportingInstance", 128), ("action", 128), ("reason", 128)] {
        let value = str_at(obj, field);
        if value.is_empty() {
            errs.push(FieldError::required(field, ""));
        } else if value.len() > limit {
            errs.push(FieldError::invalid(field, "", format!("can have at most {limit} characters")));
        }
    }
    if str_at(obj, message_field).len() > 1024 {
        errs.push(FieldError::invalid(message_field, "", "can have at most 1024 characters"));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::messages;
    use serde_json::json;

    #[test]
    fn config_map_cases() {
        let big = "x".repeat(MAX_PAYLOAD + 1);
        let frozen = json!({"immutable": true, "data": {"a": "1"}});
        let cases: Vec<(Value, Option<Value>, Vec<&str>)> = vec![
            (json!({"data": {"a.txt": "x"}, "binaryData": {"b": "aGk="}}), None, vec![]),
            (json!({"data": {"a/b": "x"}}), None,
                vec!["data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]),
            (json!({"data": {"k": "x"}, "binaryData": {"k": "aGk="}}), None,
                vec!["data[k]: Invalid value: \"k\": duplicate of key present in binaryData"]),
            (json!({"data": {"k": big}}), None, vec![": Too long: may not be more than 1048576 bytes"]),
            (json!({"immutable": true, "data": {"a": "2"}}), Some(frozen.clone()),
                vec!["data: Forbidden: field is immutable when `immutable` is set"]),
            (json!({"data": {"a": "1"}}), Some(frozen.clone()),
                vec!["immutable: Forbidden: field is immutable when `immutable` is set"]),
            (json!({"immutable": true, "data": {"a": "1"}, "metadata": {"labels": {"x": "y"}}}), Some(frozen), vec![]),
            (json!({"data": {"a": "2"}}), Some(json!({"data": {"a": "1"}})), vec![]),
        ];
        for (obj, old, want) in cases {
            assert_eq!(messages(&config_map(&obj, old.as_ref())), want, "{obj}");
        }
    }

    #[test]
    fn secret_cases() {
        let sa = "kubernetes.io/service-account-token";
        let cases: Vec<(Value, Option<Value>, Vec<&str>)> = vec![
            (json!({"type": "Opaque", "data": {"k": "aGk="}}), None, vec![]),
            (json!({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}}), None,
                vec!["data[tls.key]: Required value"]),
            (json!({"type": "kubernetes.io/basic-auth"}), None,
                vec!["data[username]: Required value", "data[password]: Required value"]),
            (json!({"type": "kubernetes.io/basic-auth", "data": {"password": ""}}), None, vec![]),
            (json!({"type": "kubernetes.io/ssh-auth", "data": {"ssh-privatekey": ""}}), None,
                vec!["data[ssh-privatekey]: Required value"]),
            (json!({"type": "kubernetes.io/dockerconfigjson"}), None, vec!["data[.dockerconfigjson]: Required value"]),
            (json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}}), None, vec![]),
            (json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "WzFd"}}), None,
                vec!["data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": json: cannot unmarshal array into Go value of type map[string]interface {}"]),
            (json!({"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "eyJh"}}), None,
                vec!["data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": unexpected end of JSON input"]),
            (json!({"type": sa}), None, vec!["metadata.annotations[kubernetes.io/service-account.name]: Required value"]),
            (json!({"type": sa, "metadata": {"annotations": {"kubernetes.io/service-account.name": "default"}}}), None, vec![]),
            (json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}), Some(json!({"type": "Opaque"})),
                vec!["type: Invalid value: \"kubernetes.io/tls\": field is immutable"]),
            (json!({"type": "Opaque", "immutable": true, "data": {"k": "eA=="}}), Some(json!({"type": "Opaque", "immutable": true, "data": {"k": "aGk="}})),
                vec!["data: Forbidden: field is immutable when `immutable` is set"]),
        ];
        for (obj, old, want) in cases {
            assert_eq!(messages(&secret(&obj, old.as_ref())), want, "{obj}");
        }
    }

    #[test]
    fn quota_and_limit_range() {
        let rq = json!({"spec": {"hard": {"pods": "10", "requests.cpu": "-1", "bad key": "1"}}});
        assert_eq!(
            messages(&resource_quota(&rq)),
            [
                "spec.hard[requests.cpu]: Invalid value: \"-1\": must be greater than or equal to 0",
                "spec.hard[bad key]: Invalid value: \"bad key\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ]
        );
        let lr = json!({"spec": {"limits": [{"type": "Node", "max": {"cpu": "1x"}}, {"type": "Container", "default": {"memory": "1Gi"}}]}});
        assert_eq!(
            messages(&limit_range(&lr)),
            [
                "spec.limits[0].type: Unsupported value: \"Node\": supported values: \"Pod\", \"Container\", \"PersistentVolumeClaim\"",
                "spec.limits[0].max[cpu]: Invalid value: \"1x\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            ]
        );
    }

    #[test]
    fn namespace_finalizers() {
        let ns = json!({"spec": {"finalizers": ["kubernetes", "example.com/f", "custom"]}});
        assert_eq!(
            messages(&namespace(&ns)),
            ["spec.finalizers: Invalid value: \"custom\": name is neither a standard finalizer name nor is it fully qualified"]
        );
    }

    #[test]
    fn lease_cases() {
        assert!(lease(&json!({"spec": {"leaseDurationSeconds": 15}})).is_empty());
        assert_eq!(
            messages(&lease(&json!({"spec": {"leaseDurationSeconds": 0, "preferredHolder": "a"}}))),
            [
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
                "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined",
            ]
        );
    }

    #[test]
    fn event_cases() {
        let legacy = json!({"metadata": {"namespace": "a"}, "involvedObject": {"namespace": "b"}});
        assert_eq!(messages(&event(&legacy, false)), ["involvedObject.namespace: Invalid value: \"b\": does not match event.namespace"]);
        let cluster_scoped = json!({"metadata": {"namespace": "default"}, "involvedObject": {"kind": "Node"}});
        assert!(event(&cluster_scoped, false).is_empty());
        let new_style = json!({"metadata": {"namespace": "a"}, "eventTime": "2024-01-01T00:00:00.000000Z",
            "regarding": {"namespace": "a"}, "reportingController": "example.com/c", "reportingInstance": "i",
            "action": "Act", "reason": "Why", "note": "hi"});
        assert!(event(&new_style, true).is_empty());
        let missing = json!({"metadata": {"namespace": "a"}, "regarding": {"namespace": "a"}});
        assert_eq!(messages(&event(&missing, true)), ["eventTime: Required value"]);
    }
}
