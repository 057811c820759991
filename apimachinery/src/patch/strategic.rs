//! Strategic merge patch for the built-in kinds this server serves.
//!
//! Lists are replaced unless the field's Go type declares a merge strategy; the table below
//! holds those declarations (patchStrategy/patchMergeKey) for the kinds served here.

use serde_json::{Map, Value};

use super::PatchError;

/// How a list field merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListStrategy {
    /// Lists of maps merged by this key.
    MergeKey(&'static str),
    /// Lists of primitives merged as sets.
    Primitives,
}

/// The list fields with a merge strategy, by path from the object root.
fn strategy(kind: &str, path: &str) -> Option<ListStrategy> {
    match (kind, path) {
        (_, "metadata.ownerReferences") => Some(ListStrategy::MergeKey("uid")),
        (_, "metadata.finalizers") => Some(ListStrategy::Primitives),
        ("ServiceAccount", "secrets" | "imagePullSecrets") => Some(ListStrategy::MergeKey("name")),
        _ => None,
    }
}

/// Applies a strategic merge patch to a built-in object.
pub fn strategic_merge_patch(doc: &Value, patch: &Value, _group: &str, kind: &str) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::Malformed("a strategic merge patch must be a JSON object".into()));
    }
    Ok(merge_value(Some(doc), patch, kind, "").unwrap_or(Value::Null))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Merges `patch` into `doc`; None means the value is deleted.
fn merge_value(doc: Option<&Value>, patch: &Value, kind: &str, path: &str) -> Option<Value> {
    let Value::Object(p) = patch else { return Some(patch.clone()) };
    match p.get("$patch").and_then(Value::as_str) {
        Some("delete") => return None,
        Some("replace") => {
            let mut m = p.clone();
            m.remove("$patch");
            return Some(Value::Object(strip_directives(m)));
        }
        _ => {}
    }
    let mut out: Map<String, Value> = doc.and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        out.retain(|k, _| keep.iter().any(|x| x == k));
    }
    for (k, v) in p {
        if k.starts_with('$') {
            if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
                if let (Some(Value::Array(cur)), Some(del)) = (out.get_mut(list), v.as_array()) {
                    cur.retain(|x| !del.contains(x));
                }
            }
            continue;
        }
        let field_path = join(path, k);
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), v, strategy(kind, &field_path)) {
            (Some(Value::Array(cur)), Value::Array(items), Some(ListStrategy::MergeKey(key))) => Some(merge_keyed(cur, items, key, kind, &field_path)),
            (None, Value::Array(items), Some(ListStrategy::MergeKey(key))) => Some(merge_keyed(&[], items, key, kind, &field_path)),
            (Some(Value::Array(cur)), Value::Array(items), Some(ListStrategy::Primitives)) => {
                let mut all = cur.clone();
                all.extend(items.iter().filter(|i| !cur.contains(i)).cloned());
                Some(Value::Array(all))
            }
            (cur, Value::Object(_), _) => merge_value(cur.filter(|c| c.is_object()), v, kind, &field_path),
            (_, other, _) => Some(strip_value(other.clone())),
        };
        match merged {
            Some(m) => out.insert(k.clone(), m),
            None => out.remove(k),
        };
    }
    // `$setElementOrder/<list>` orders merged lists like the patch's list of keys.
    for (k, order) in p.iter().filter_map(|(k, v)| k.strip_prefix("$setElementOrder/").map(|l| (l, v))) {
        if let (Some(Value::Array(cur)), Some(order), Some(ListStrategy::MergeKey(key))) = (out.get_mut(k), order.as_array(), strategy(kind, &join(path, k))) {
            cur.sort_by_key(|item| order.iter().position(|o| o.get(key) == item.get(key)).unwrap_or(usize::MAX));
        }
    }
    Some(Value::Object(out))
}

fn merge_keyed(cur: &[Value], items: &[Value], key: &str, kind: &str, path: &str) -> Value {
    let mut out: Vec<Value> = cur.to_vec();
    for item in items {
        let id = item.get(key);
        let pos = out.iter().position(|x| id.is_some() && x.get(key) == id);
        match (pos, item.get("$patch").and_then(Value::as_str)) {
            (Some(i), Some("delete")) => {
                out.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), _) => {
                if let Some(m) = merge_value(Some(&out[i]), item, kind, path) {
                    out[i] = m;
                }
            }
            (None, _) => out.push(strip_value(item.clone())),
        }
    }
    Value::Array(out)
}

fn strip_directives(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter().filter(|(k, _)| !k.starts_with('$')).map(|(k, v)| (k, strip_value(v))).collect()
}

fn strip_value(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_directives(m)),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_value).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_cases() {
        let sa = json!({"metadata":{"name":"sa","finalizers":["a"],"labels":{"x":"1"}},"secrets":[{"name":"s1"},{"name":"s2"}]});
        let cases = [
            (json!({"metadata":{"labels":{"x":null,"y":"2"}}}), json!({"metadata":{"name":"sa","finalizers":["a"],"labels":{"y":"2"}},"secrets":[{"name":"s1"},{"name":"s2"}]})),
            (json!({"secrets":[{"name":"s3"}]}), json!({"metadata":{"name":"sa","finalizers":["a"],"labels":{"x":"1"}},"secrets":[{"name":"s1"},{"name":"s2"},{"name":"s3"}]})),
            (json!({"secrets":[{"$patch":"delete","name":"s1"}]}), json!({"metadata":{"name":"sa","finalizers":["a"],"labels":{"x":"1"}},"secrets":[{"name":"s2"}]})),
            (json!({"metadata":{"finalizers":["b"]}}), json!({"metadata":{"name":"sa","finalizers":["a","b"],"labels":{"x":"1"}},"secrets":[{"name":"s1"},{"name":"s2"}]})),
            (json!({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}), json!({"metadata":{"name":"sa","finalizers":[],"labels":{"x":"1"}},"secrets":[{"name":"s1"},{"name":"s2"}]})),
            (json!({"metadata":{"labels":{"$patch":"replace","z":"3"}}}), json!({"metadata":{"name":"sa","finalizers":["a"],"labels":{"z":"3"}},"secrets":[{"name":"s1"},{"name":"s2"}]})),
            (json!({"$setElementOrder/secrets":[{"name":"s2"},{"name":"s1"}],"secrets":[{"name":"s1"}]}), json!({"metadata":{"name":"sa","finalizers":["a"],"labels":{"x":"1"}},"secrets":[{"name":"s2"},{"name":"s1"}]})),
        ];
        for (patch, want) in cases {
            assert_eq!(strategic_merge_patch(&sa, &patch, "", "ServiceAccount").expect("applies"), want, "{patch}");
        }
        let role = json!({"rules":[{"verbs":["get"]},{"verbs":["list"]}]});
        assert_eq!(strategic_merge_patch(&role, &json!({"rules":[{"verbs":["watch"]}]}), "rbac.authorization.k8s.io", "Role").expect("applies"), json!({"rules":[{"verbs":["watch"]}]}));
        assert!(strategic_merge_patch(&role, &json!([1]), "", "Role").is_err());
    }
}
