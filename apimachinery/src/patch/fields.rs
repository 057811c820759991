//! Server-side apply and field ownership (`metadata.managedFields`, FieldsV1).
//!
//! Ownership is tracked per leaf field: scalars, lists (atomic) and empty maps. An applier owns
//! exactly what its last applied configuration set; applying again without a field removes it
//! unless another manager owns it too. Non-apply writes record `Update` entries so that a later
//! apply by someone else conflicts with values they set.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

/// One field, as the path of map keys from the object root.
type Path = Vec<String>;

/// Metadata fields the system owns; never tracked or applied.
const SYSTEM_META: &[&str] = &[
    "name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
    "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName",
];

/// Conflicts of an apply with other managers' fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyConflicts {
    /// (manager, apiVersion, field path like `.data.key1`).
    pub conflicts: Vec<(String, String, String)>,
}

impl ApplyConflicts {
    /// `details.causes` of the 409 Status.
    pub fn causes(&self) -> Vec<Value> {
        self.conflicts
            .iter()
            .map(|(m, v, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m:?} using {v}"), "field": f}))
            .collect()
    }
}

impl std::fmt::Display for ApplyConflicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.conflicts.len();
        if n == 1 {
            let (m, v, p) = &self.conflicts[0];
            return write!(f, "Apply failed with 1 conflict: conflict with {m:?} using {v}: {p}");
        }
        write!(f, "Apply failed with {n} conflicts: ")?;
        let mut by_manager: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
        for (m, v, p) in &self.conflicts {
            by_manager.entry((m, v)).or_default().push(p);
        }
        let parts: Vec<String> = by_manager
            .iter()
            .map(|((m, v), paths)| {
                let lines: Vec<String> = paths.iter().map(|p| format!("- {p}")).collect();
                format!("conflicts with {m:?} using {v}:\n{}", lines.join("\n"))
            })
            .collect();
        write!(f, "{}", parts.join("\n"))
    }
}

/// Leaf fields of an object that ownership applies to.
fn leaves(obj: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    if let Some(m) = obj.as_object() {
        for (k, v) in m {
            match k.as_str() {
                "apiVersion" | "kind" => {}
                "metadata" => {
                    for (mk, mv) in v.as_object().into_iter().flatten() {
                        if !SYSTEM_META.contains(&mk.as_str()) {
                            walk(mv, vec!["metadata".into(), mk.clone()], &mut out);
                        }
                    }
                }
                _ => walk(v, vec![k.clone()], &mut out),
            }
        }
    }
    out
}

fn walk(v: &Value, path: Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let mut p = path.clone();
                p.push(k.clone());
                walk(child, p, out);
            }
        }
        _ => {
            out.insert(path);
        }
    }
}

fn get<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(obj, |v, k| v.get(k))
}

fn set(obj: &mut Value, path: &[String], value: Value) {
    let mut cur = obj;
    for k in &path[..path.len() - 1] {
        if !cur.get(k).is_some_and(Value::is_object) {
            cur[k.as_str()] = json!({});
        }
        cur = &mut cur[k.as_str()];
    }
    cur[path[path.len() - 1].as_str()] = value;
}

fn remove(obj: &mut Value, path: &[String]) {
    let (last, parents) = match path.split_last() {
        Some(x) => x,
        None => return,
    };
    let mut cur = obj;
    for k in parents {
        match cur.get_mut(k) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(last);
    }
}

fn dotted(path: &Path) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

/// FieldsV1 JSON of a set of leaves (`{"f:data":{"f:key":{}}}`).
fn encode(set: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in set {
        let mut cur = &mut root;
        for k in p {
            let entry = cur.entry(format!("f:{k}")).or_insert_with(|| json!({}));
            cur = entry.as_object_mut().expect("inserted as object");
        }
    }
    Value::Object(root)
}

fn decode(v: &Value) -> BTreeSet<Path> {
    fn go(v: &Value, path: Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = v.as_object().map(|m| m.iter().filter(|(k, _)| k.starts_with("f:")).collect()).unwrap_or_default();
        if children.is_empty() {
            if !path.is_empty() {
                out.insert(path);
            }
            return;
        }
        for (k, child) in children {
            let mut p = path.clone();
            p.push(k[2..].to_string());
            go(child, p, out);
        }
    }
    let mut out = BTreeSet::new();
    go(v, Vec::new(), &mut out);
    out
}

/// One managedFields entry, parsed.
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    fields: BTreeSet<Path>,
}

fn entries(obj: &Value) -> Vec<Entry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| Entry {
                    manager: e["manager"].as_str().unwrap_or_default().to_string(),
                    operation: e["operation"].as_str().unwrap_or_default().to_string(),
                    api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                    time: e["time"].as_str().unwrap_or_default().to_string(),
                    fields: decode(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn store_entries(obj: &mut Value, list: Vec<Entry>) {
    let arr: Vec<Value> = list
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            json!({"manager": e.manager, "operation": e.operation, "apiVersion": e.api_version, "time": e.time,
                   "fieldsType": "FieldsV1", "fieldsV1": encode(&e.fields)})
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if arr.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(arr));
        }
    }
}

fn upsert<'a>(list: &'a mut Vec<Entry>, manager: &str, operation: &str, api_version: &str, now: &str) -> &'a mut Entry {
    let pos = match list.iter().position(|e| e.manager == manager && e.operation == operation) {
        Some(i) => i,
        None => {
            list.push(Entry { manager: manager.into(), operation: operation.into(), api_version: api_version.into(), time: now.into(), fields: BTreeSet::new() });
            list.len() - 1
        }
    };
    let e = &mut list[pos];
    e.time = now.into();
    e.api_version = api_version.into();
    e
}

/// Server-side apply of `applied` by `manager` onto `live` (None: the object is created).
pub fn apply(live: Option<&Value>, applied: &Value, manager: &str, force: bool, now: &str) -> Result<Value, ApplyConflicts> {
    let api_version = applied["apiVersion"].as_str().unwrap_or_default().to_string();
    let mut out = live.cloned().unwrap_or_else(|| json!({"apiVersion": applied["apiVersion"], "kind": applied["kind"], "metadata": {}}));
    let mut list = entries(&out);
    let wanted = leaves(applied);
    let mut conflicts = Vec::new();
    for path in &wanted {
        let same = get(&out, path) == get(applied, path);
        if same {
            continue;
        }
        for e in list.iter().filter(|e| !(e.manager == manager && e.operation == "Apply")) {
            if e.fields.contains(path) {
                conflicts.push((e.manager.clone(), e.api_version.clone(), dotted(path)));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(ApplyConflicts { conflicts });
    }
    let previous = list.iter().find(|e| e.manager == manager && e.operation == "Apply").map(|e| e.fields.clone()).unwrap_or_default();
    for path in &wanted {
        if let Some(v) = get(applied, path) {
            set(&mut out, path, v.clone());
        }
    }
    for path in previous.difference(&wanted) {
        let shared = list.iter().any(|e| !(e.manager == manager && e.operation == "Apply") && e.fields.contains(path));
        if !shared {
            remove(&mut out, path);
        }
    }
    for e in list.iter_mut().filter(|e| !(e.manager == manager && e.operation == "Apply")) {
        // Taking over a field (forced, or by setting the same value) leaves others owning it only when values agree.
        e.fields.retain(|p| !(wanted.contains(p) && get(live.unwrap_or(&Value::Null), p) != get(applied, p)));
    }
    upsert(&mut list, manager, "Apply", &api_version, now).fields = wanted;
    for k in ["apiVersion", "kind"] {
        out[k] = applied[k].clone();
    }
    for k in ["name", "namespace"] {
        if let Some(v) = applied.pointer(&format!("/metadata/{k}")) {
            out["metadata"][k] = v.clone();
        }
    }
    store_entries(&mut out, list);
    Ok(out)
}

/// Records the fields a non-apply write changed as owned by `manager` (operation `Update`).
pub fn track_update(old: Option<&Value>, new: &mut Value, manager: &str, now: &str) {
    let null = Value::Null;
    let old_v = old.unwrap_or(&null);
    let mut list = entries(old_v);
    let before = leaves(old_v);
    let after = leaves(new);
    let changed: BTreeSet<Path> = after.iter().filter(|p| get(old_v, p) != get(new, p)).cloned().collect();
    let removed: BTreeSet<Path> = before.difference(&after).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        store_entries(new, list);
        return;
    }
    for e in list.iter_mut() {
        e.fields.retain(|p| !removed.contains(p) && (!changed.contains(p) || e.manager == manager));
    }
    let api_version = new["apiVersion"].as_str().unwrap_or_default().to_string();
    upsert(&mut list, manager, "Update", &api_version, now).fields.extend(changed);
    store_entries(new, list);
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-11-24T12:00:00Z";

    #[test]
    fn apply_creates_and_tracks() {
        let cfg = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"},"data":{"a":"1","b":"2"}});
        let obj = apply(None, &cfg, "m1", false, NOW).expect("applies");
        assert_eq!(obj["data"], json!({"a":"1","b":"2"}));
        let mf = &obj["metadata"]["managedFields"][0];
        assert_eq!(mf["manager"], "m1");
        assert_eq!(mf["operation"], "Apply");
        assert_eq!(mf["fieldsV1"], json!({"f:data":{"f:a":{},"f:b":{}}}));
        // Dropping a field from the applied config removes it.
        let cfg2 = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"},"data":{"a":"1"}});
        let obj2 = apply(Some(&obj), &cfg2, "m1", false, NOW).expect("applies");
        assert_eq!(obj2["data"], json!({"a":"1"}));
    }

    #[test]
    fn conflicts_with_other_managers() {
        let mut live = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"key1":"v"}});
        track_update(None, &mut live, "kubectl-client-side-apply", NOW);
        let cfg = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"key1":"other"}});
        let err = apply(Some(&live), &cfg, "kubectl", false, NOW).expect_err("conflicts");
        assert_eq!(err.to_string(), "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.key1");
        assert_eq!(err.causes()[0]["field"], ".data.key1");
        let forced = apply(Some(&live), &cfg, "kubectl", true, NOW).expect("force");
        assert_eq!(forced["data"]["key1"], "other");
        let managers: Vec<&str> = forced["metadata"]["managedFields"].as_array().expect("list").iter().map(|e| e["manager"].as_str().expect("m")).collect();
        assert_eq!(managers, vec!["kubectl"]);
        // Applying the same value is not a conflict; ownership is shared.
        let same = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"key1":"v"}});
        let shared = apply(Some(&live), &same, "kubectl", false, NOW).expect("no conflict");
        assert_eq!(shared["metadata"]["managedFields"].as_array().expect("list").len(), 2);
    }

    #[test]
    fn two_conflicts_message() {
        let mut live = json!({"apiVersion":"v1","metadata":{"name":"c"},"data":{"a":"1","b":"1"}});
        track_update(None, &mut live, "m", NOW);
        let err = apply(Some(&live), &json!({"apiVersion":"v1","metadata":{"name":"c"},"data":{"a":"2","b":"2"}}), "x", false, NOW).expect_err("conflicts");
        assert_eq!(err.to_string(), "Apply failed with 2 conflicts: conflicts with \"m\" using v1:\n- .data.a\n- .data.b");
    }

    #[test]
    fn updates_move_ownership() {
        let mut a = json!({"apiVersion":"v1","metadata":{"name":"c","labels":{"x":"1"}},"data":{"k":"v"}});
        track_update(None, &mut a, "create", NOW);
        let mut b = a.clone();
        b["data"]["k"] = json!("w");
        track_update(Some(&a), &mut b, "edit", NOW);
        let mf = b["metadata"]["managedFields"].as_array().expect("list");
        let create = mf.iter().find(|e| e["manager"] == "create").expect("create entry");
        assert_eq!(create["fieldsV1"], json!({"f:metadata":{"f:labels":{"f:x":{}}}}));
        let edit = mf.iter().find(|e| e["manager"] == "edit").expect("edit entry");
        assert_eq!(edit["fieldsV1"], json!({"f:data":{"f:k":{}}}));
    }
}
