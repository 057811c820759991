//! Server-side printing: the `meta.k8s.io/v1` Tables `kubectl get` asks for.
//!
//! Built-in kinds print the columns kube-apiserver prints; CRDs print their
//! `additionalPrinterColumns`, evaluated with a small JSONPath subset. Ages are formatted here
//! because kubectl prints cells verbatim.

use serde_json::{json, Map, Value};

use crate::registry::Column;

/// What each row carries in `object` (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// Parses the `includeObject` parameter (default `Metadata`).
    pub fn parse(v: Option<&str>) -> IncludeObject {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn col(name: &str, type_: &str, priority: i32, description: &str) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: if name == "Name" { "name".into() } else { String::new() },
        description: description.into(),
        priority,
        json_path: String::new(),
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.";

/// The columns kube-apiserver prints for a built-in kind.
pub fn builtin_columns(group: &str, kind: &str) -> Vec<Column> {
    let name = col("Name", "string", 0, NAME_DESC);
    let age = col("Age", "string", 0, AGE_DESC);
    match (group, kind) {
        ("", "Namespace") => vec![name, col("Status", "string", 0, "The status of the namespace"), age],
        ("", "ConfigMap") => vec![name, col("Data", "string", 0, "Data contains the configuration data."), age],
        ("", "Secret") => vec![name, col("Type", "string", 0, "Used to facilitate programmatic handling of secret data."), col("Data", "string", 0, "Data contains the secret data."), age],
        ("", "ServiceAccount") => vec![name, col("Secrets", "string", 0, "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."), age],
        ("", "Event") => vec![
            col("Last Seen", "string", 0, "The time at which the most recent occurrence of this event was recorded."),
            col("Type", "string", 0, "Type of this event (Normal, Warning), new types could be added in the future."),
            col("Reason", "string", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
            col("Object", "string", 0, "The object that this event is about."),
            col("Subobject", "string", 1, "The field of the object this event is about."),
            col("Source", "string", 1, "The component reporting this event."),
            col("Message", "string", 0, "A human-readable description of the status of this operation."),
            col("First Seen", "string", 1, "The time at which the event was first recorded."),
            col("Count", "string", 1, "The number of times this event has occurred."),
            col("Name", "string", 1, NAME_DESC),
        ],
        ("events.k8s.io", "Event") => vec![
            col("Last Seen", "string", 0, "The time at which the most recent occurrence of this event was recorded."),
            col("Type", "string", 0, "Type of this event (Normal, Warning)."),
            col("Reason", "string", 0, "Why the action was taken."),
            col("Object", "string", 0, "The object this event is about."),
            col("Message", "string", 0, "A human-readable description of the status of this operation."),
        ],
        ("", "ResourceQuota") => vec![name, age, col("Request", "string", 0, "Request represents a minimum amount of cpu/memory that a container may consume."), col("Limit", "string", 0, "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.")],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => vec![
            name,
            col("Role", "string", 0, "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
            age,
            col("Users", "string", 1, "Users in the binding"),
            col("Groups", "string", 1, "Groups in the binding"),
            col("ServiceAccounts", "string", 1, "ServiceAccounts in the binding"),
        ],
        ("coordination.k8s.io", "Lease") => vec![name, col("Holder", "string", 0, "HolderIdentity contains the identity of the holder of a current lease."), age],
        ("core.kcp.io", "LogicalCluster") => vec![name, col("Phase", "string", 0, "The current phase of the logical cluster"), col("URL", "string", 0, "The URL of the logical cluster"), age],
        ("tenancy.kcp.io", "Workspace") => vec![
            name,
            col("Type", "string", 0, "Type of the workspace"),
            col("Region", "string", 1, "The region this workspace is in"),
            col("Phase", "string", 0, "The current phase (e.g. Scheduling, Initializing, Ready)"),
            col("URL", "string", 0, "URL to access the workspace"),
            age,
        ],
        _ => vec![name, Column { name: "Created At".into(), type_: "date".into(), format: String::new(), description: AGE_DESC.into(), priority: 0, json_path: String::new() }],
    }
}

/// kube's `duration.HumanDuration`: `0s`, `59s`, `5m30s` under 10 minutes, `3h12m`, `2d3h`, `8d`, `2y40d`.
pub fn human_age(since: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let secs = (now.as_second() - since.as_second()).max(0);
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    if secs < 60 * 2 {
        return format!("{secs}s");
    }
    if m < 10 {
        let s = secs % 60;
        return if s == 0 { format!("{m}m") } else { format!("{m}m{s}s") };
    }
    if m < 60 * 3 {
        return format!("{m}m");
    }
    if h < 8 {
        let mm = m % 60;
        return if mm == 0 { format!("{h}h") } else { format!("{h}h{mm}m") };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if h < 24 * 8 {
        let hh = h % 24;
        return if hh == 0 { format!("{d}d") } else { format!("{d}d{hh}h") };
    }
    if h < 24 * 365 * 2 {
        return format!("{d}d");
    }
    if h < 24 * 365 * 8 {
        let dy = d % 365;
        return if dy == 0 { format!("{}y", d / 365) } else { format!("{}y{dy}d", d / 365) };
    }
    format!("{}y", d / 365)
}

fn age_of(v: Option<&Value>, now: jiff::Timestamp) -> String {
    match v.and_then(Value::as_str).and_then(|s| s.parse::<jiff::Timestamp>().ok()) {
        Some(t) => human_age(t, now),
        None => "<unknown>".into(),
    }
}

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn len_of(obj: &Value, ptr: &str) -> usize {
    match obj.pointer(ptr) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn or_none(v: String) -> Value {
    json!(if v.is_empty() { "<none>".to_string() } else { v })
}

fn subjects(obj: &Value, kind: &str) -> String {
    obj["subjects"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| x["kind"] == kind)
                .map(|x| match (kind, x["namespace"].as_str()) {
                    ("ServiceAccount", Some(ns)) => format!("{ns}/{}", s(x, "/name")),
                    _ => s(x, "/name").to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// Evaluates a printer-column JSONPath subset: `.a.b`, `.a[0]`, `.a[*].b` and
/// `.a[?(@.k=="v")].b`.
pub fn json_path(obj: &Value, path: &str) -> Option<Value> {
    let mut cur: Vec<&Value> = vec![obj];
    let p = path.trim().trim_start_matches('{').trim_end_matches('}').trim_start_matches('$');
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            cur = cur.iter().filter_map(|v| v.get(key)).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if inner == "*" {
                cur = cur.iter().flat_map(|v| v.as_array().map(|a| a.iter().collect::<Vec<_>>()).unwrap_or_default()).collect();
            } else if let Ok(i) = inner.parse::<usize>() {
                cur = cur.iter().filter_map(|v| v.get(i)).collect();
            } else if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (k, want) = f.split_once("==")?;
                let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = cur
                    .iter()
                    .flat_map(|v| v.as_array().map(|a| a.iter().collect::<Vec<_>>()).unwrap_or_default())
                    .filter(|item| item.get(k.trim()).and_then(Value::as_str) == Some(want))
                    .collect();
            } else {
                let key = inner.trim_matches(|c| c == '"' || c == '\'');
                cur = cur.iter().filter_map(|v| v.get(key)).collect();
            }
        } else {
            return None;
        }
    }
    match cur.len() {
        0 => None,
        1 => Some(cur[0].clone()),
        _ => Some(Value::Array(cur.into_iter().cloned().collect())),
    }
}

fn custom_cell(c: &Column, obj: &Value, now: jiff::Timestamp) -> Value {
    let v = json_path(obj, &c.json_path);
    match (c.type_.as_str(), v) {
        ("date", Some(v)) => json!(age_of(Some(&v), now)),
        (_, None) | (_, Some(Value::Null)) => Value::Null,
        ("integer" | "number" | "boolean", Some(v)) => v,
        (_, Some(Value::String(s))) => json!(s),
        (_, Some(Value::Array(a))) => json!(a.iter().map(|x| x.as_str().map(String::from).unwrap_or_else(|| x.to_string())).collect::<Vec<_>>().join(",")),
        (_, Some(v)) => json!(v.to_string()),
    }
}

/// The cells of one row.
pub fn cells(group: &str, kind: &str, columns: &[Column], obj: &Value, now: jiff::Timestamp) -> Vec<Value> {
    if columns.iter().any(|c| !c.json_path.is_empty()) {
        return columns.iter().map(|c| if c.format == "name" { json!(s(obj, "/metadata/name")) } else { custom_cell(c, obj, now) }).collect();
    }
    let name = json!(s(obj, "/metadata/name"));
    let age = json!(age_of(obj.pointer("/metadata/creationTimestamp"), now));
    match (group, kind) {
        ("", "Namespace") => vec![name, json!(s(obj, "/status/phase")), age],
        ("", "ConfigMap") => vec![name, json!(len_of(obj, "/data") + len_of(obj, "/binaryData")), age],
        ("", "Secret") => vec![name, json!(s(obj, "/type")), json!(len_of(obj, "/data")), age],
        ("", "ServiceAccount") => vec![name, json!(len_of(obj, "/secrets")), age],
        ("", "Event") => {
            let last = obj.pointer("/lastTimestamp").or(obj.pointer("/eventTime")).or(obj.pointer("/metadata/creationTimestamp"));
            let object = format!("{}/{}", s(obj, "/involvedObject/kind").to_ascii_lowercase(), s(obj, "/involvedObject/name"));
            vec![
                json!(age_of(last, now)), json!(s(obj, "/type")), json!(s(obj, "/reason")), json!(object),
                json!(s(obj, "/involvedObject/fieldPath")), json!(s(obj, "/source/component")), json!(s(obj, "/message")),
                json!(age_of(obj.pointer("/firstTimestamp").or(last), now)), json!(obj["count"].as_i64().unwrap_or(1)), name,
            ]
        }
        ("events.k8s.io", "Event") => {
            let last = obj.pointer("/deprecatedLastTimestamp").or(obj.pointer("/eventTime")).or(obj.pointer("/metadata/creationTimestamp"));
            let object = format!("{}/{}", s(obj, "/regarding/kind").to_ascii_lowercase(), s(obj, "/regarding/name"));
            vec![json!(age_of(last, now)), json!(s(obj, "/type")), json!(s(obj, "/reason")), json!(object), json!(s(obj, "/note"))]
        }
        ("", "ResourceQuota") => {
            let pairs = |prefix: Option<&str>| -> String {
                let hard = obj.pointer("/status/hard").or(obj.pointer("/spec/hard")).and_then(Value::as_object).cloned().unwrap_or_default();
                let used = obj.pointer("/status/used").and_then(Value::as_object).cloned().unwrap_or_default();
                let mut keys: Vec<&String> = hard.keys().filter(|k| match prefix {
                    Some(p) => k.starts_with(p),
                    None => !k.starts_with("limits."),
                }).collect();
                keys.sort();
                keys.iter().map(|k| format!("{k}: {}/{}", used.get(*k).and_then(Value::as_str).unwrap_or("0"), hard[*k].as_str().unwrap_or_default())).collect::<Vec<_>>().join(", ")
            };
            vec![name, age, json!(pairs(None)), json!(pairs(Some("limits.")))]
        }
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => vec![
            name,
            json!(format!("{}/{}", s(obj, "/roleRef/kind"), s(obj, "/roleRef/name"))),
            age,
            json!(subjects(obj, "User")),
            json!(subjects(obj, "Group")),
            json!(subjects(obj, "ServiceAccount")),
        ],
        ("coordination.k8s.io", "Lease") => vec![name, or_none(s(obj, "/spec/holderIdentity").to_string()), age],
        ("core.kcp.io", "LogicalCluster") => vec![name, json!(s(obj, "/status/phase")), json!(s(obj, "/status/URL")), age],
        ("tenancy.kcp.io", "Workspace") => vec![
            name,
            json!(s(obj, "/spec/type/name")),
            json!(s(obj, "/metadata/labels/region")),
            json!(s(obj, "/status/phase")),
            json!(s(obj, "/spec/URL")),
            age,
        ],
        _ => vec![name, json!(s(obj, "/metadata/creationTimestamp"))],
    }
}

/// The `object` of a row.
pub fn row_object(obj: &Value, include: IncludeObject) -> Value {
    match include {
        IncludeObject::None => Value::Null,
        IncludeObject::Object => obj.clone(),
        IncludeObject::Metadata => {
            let mut meta = obj.get("metadata").and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
            meta.remove("managedFields");
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta})
        }
    }
}

/// A Table document.
pub fn table(columns: &[Column], rows: Vec<(Vec<Value>, Value)>, resource_version: &str, continue_token: Option<&str>) -> Value {
    let defs: Vec<Value> = columns
        .iter()
        .map(|c| json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}))
        .collect();
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(cells, object)| if object.is_null() { json!({"cells": cells}) } else { json!({"cells": cells, "object": object}) })
        .collect();
    let mut meta = json!({"resourceVersion": resource_version});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn ages_like_kubectl() {
        let now = ts("2026-11-24T12:00:00Z");
        let cases = [
            ("2026-11-24T12:00:00Z", "0s"), ("2026-11-24T11:59:01Z", "59s"), ("2026-11-24T11:55:00Z", "5m"),
            ("2026-11-24T11:54:30Z", "5m30s"), ("2026-11-24T11:30:00Z", "30m"), ("2026-11-24T08:48:00Z", "3h12m"),
            ("2026-11-23T12:00:00Z", "24h"), ("2026-11-22T09:00:00Z", "2d3h"), ("2026-11-16T12:00:00Z", "8d"),
        ];
        for (since, want) in cases {
            assert_eq!(human_age(ts(since), now), want, "{since}");
        }
    }

    #[test]
    fn builtin_cells_match_columns() {
        let now = ts("2026-11-24T12:00:00Z");
        let cm = json!({"metadata":{"name":"c","creationTimestamp":"2026-11-24T11:55:00Z"},"data":{"a":"1","b":"2"}});
        let cols = builtin_columns("", "ConfigMap");
        let cells = cells("", "ConfigMap", &cols, &cm, now);
        assert_eq!(cells, vec![json!("c"), json!(2), json!("5m")]);
        for (g, k) in [("", "Namespace"), ("", "Secret"), ("", "Event"), ("rbac.authorization.k8s.io", "RoleBinding"), ("x", "Y"), ("coordination.k8s.io", "Lease"), ("tenancy.kcp.io", "Workspace")] {
            assert_eq!(builtin_columns(g, k).len(), super::cells(g, k, &builtin_columns(g, k), &cm, now).len(), "{g}/{k}");
        }
    }

    #[test]
    fn json_paths() {
        let o = json!({"spec":{"size":"s","list":[{"n":"a"},{"n":"b"}]},"status":{"conditions":[{"type":"Ready","status":"True"}]}});
        assert_eq!(json_path(&o, ".spec.size"), Some(json!("s")));
        assert_eq!(json_path(&o, ".spec.list[1].n"), Some(json!("b")));
        assert_eq!(json_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"), Some(json!("True")));
        assert_eq!(json_path(&o, ".spec.list[*].n"), Some(json!(["a", "b"])));
        assert_eq!(json_path(&o, ".spec.missing"), None);
    }

    #[test]
    fn rows_carry_partial_metadata() {
        let obj = json!({"metadata":{"name":"x","labels":{"a":"b"},"managedFields":[{}]}});
        let r = row_object(&obj, IncludeObject::Metadata);
        assert_eq!(r["kind"], "PartialObjectMetadata");
        assert!(r["metadata"].get("managedFields").is_none());
        let t = table(&builtin_columns("", "ConfigMap"), vec![(vec![json!("x"), json!(0), json!("1s")], r)], "5", None);
        assert_eq!(t["columnDefinitions"][0]["format"], "name");
        assert_eq!(t["rows"][0]["object"]["metadata"]["labels"]["a"], "b");
    }
}
