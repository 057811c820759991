//! Object metadata rules shared by every write path: names, uids, timestamps, generation,
//! resourceVersion and finalizers live here once, never in a per-type strategy.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use apimachinery::field;
use apimachinery::status::ApiError;

/// Current time in the RFC 3339 form Kubernetes uses (`2026-11-24T16:00:00Z`).
pub fn now_rfc3339() -> String {
    // Every write stamps at least one time and the text changes once a second: formatting it
    // anew each time was about 1 % of a create.
    thread_local!(static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) });
    let now = jiff::Timestamp::now();
    LAST.with_borrow_mut(|(second, text)| {
        if *second != now.as_second() {
            *second = now.as_second();
            *text = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        }
        text.clone()
    })
}

/// A metadata string field, or "".
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata").and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

/// The logical cluster a served object names in its `kcp.io/cluster` annotation, or "".
pub fn cluster_of(obj: &Value) -> &str {
    field::str_at(obj, &["metadata", "annotations", super::CLUSTER_ANNOTATION])
}

/// Mutable access to `metadata`, creating it when missing.
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let map = obj.as_object_mut().expect("object ensured above");
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    meta.as_object_mut().expect("metadata object ensured above")
}

/// The object's finalizers.
pub fn finalizers(obj: &Value) -> Vec<String> {
    field::at(obj, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Replaces the object's finalizers (dropping the field when empty).
pub fn set_finalizers(obj: &mut Value, list: Vec<String>) {
    let meta = meta_mut(obj);
    if list.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(list));
    }
}

/// True when the object is being deleted and waits for finalizers.
pub fn is_deleting(obj: &Value) -> bool {
    field::at(obj, &["metadata", "deletionTimestamp"]).is_some_and(|v| !v.is_null())
}

/// True when a deleted object has no finalizers left (for namespaces: neither list) and may go.
pub fn finalized(obj: &Value) -> bool {
    let spec_fins = obj.get("kind").and_then(Value::as_str) == Some("Namespace")
        && field::at(obj, &["spec", "finalizers"]).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    is_deleting(obj) && finalizers(obj).is_empty() && !spec_fins
}

/// How a delete proceeds for one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// No finalizers: remove it from storage now.
    Now,
    /// Marked (deletionTimestamp, finalizers, Terminating): store the change and wait.
    Marked,
    /// Already marked the same way: nothing to write.
    Unchanged,
}

/// Whether a delete leaves `obj` in place, marked: finalizers hold it, and namespaces always
/// wait for their content.
fn held(fins: &[String], obj: &Value) -> bool {
    !fins.is_empty() || is_namespace(obj)
}

/// Whether an object as a delete returned it was removed from storage rather than marked.
pub fn removed_by_delete(obj: &Value) -> bool {
    !held(&finalizers(obj), obj)
}

fn is_namespace(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Namespace") && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Decides how `obj` is deleted given its finalizers plus `extra` (`foregroundDeletion`,
/// `orphan`), marking it when it has to wait. Namespaces always wait: their content goes first.
pub fn plan_deletion(obj: &mut Value, extra: Option<&str>) -> Deletion {
    let mut fins = finalizers(obj);
    if let Some(f) = extra {
        if !fins.iter().any(|x| x == f) {
            fins.push(f.to_string());
        }
    }
    let namespace = is_namespace(obj);
    if !held(&fins, obj) {
        return Deletion::Now;
    }
    if is_deleting(obj) && finalizers(obj) == fins {
        return Deletion::Unchanged;
    }
    set_finalizers(obj, fins);
    let meta = meta_mut(obj);
    if !meta.contains_key("deletionTimestamp") {
        meta.insert("deletionTimestamp".into(), json!(now_rfc3339()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    }
    if namespace {
        obj["status"]["phase"] = json!("Terminating");
    }
    Deletion::Marked
}

/// Parses stored bytes and stamps a resourceVersion.
pub fn decode_stored(bytes: &Bytes, revision: u64) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::internal(format!("corrupt stored object: {e}")))?;
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(revision.to_string()));
    Ok(obj)
}

/// Serializes an object for storage, without its resourceVersion (the store owns revisions).
pub fn to_stored(obj: &Value) -> Bytes {
    // Exactly sized: the event window keeps these bytes, and a growing Vec's spare capacity
    // would stay with them.
    Bytes::from(serde_json::to_vec(&Unversioned(obj)).unwrap_or_default().into_boxed_slice())
}

/// Prints an object as it is but for `metadata.resourceVersion`, without copying the object.
struct Unversioned<'a>(&'a Value);

impl serde::Serialize for Unversioned<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(top) = self.0 else { return self.0.serialize(serializer) };
        let mut map = serializer.serialize_map(Some(top.len()))?;
        for (key, value) in top {
            match value {
                Value::Object(meta) if key == "metadata" => map.serialize_entry(key, &UnversionedMeta(meta))?,
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

/// `metadata` without `resourceVersion`.
struct UnversionedMeta<'a>(&'a serde_json::Map<String, Value>);

impl serde::Serialize for UnversionedMeta<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kept = self.0.iter().filter(|(k, _)| *k != "resourceVersion");
        let mut map = serializer.serialize_map(Some(kept.clone().count()))?;
        for (key, value) in kept {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// The resourceVersion an object carries, if any; a malformed one is a 400.
pub fn resource_version(obj: &Value) -> Result<Option<u64>, ApiError> {
    match field::at(obj, &["metadata", "resourceVersion"]) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {s:?}: must be a decimal number"))),
        Some(other) => Err(ApiError::bad_request(format!("invalid resourceVersion {other}: must be a string"))),
    }
}

const NAME_SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `generateName` plus five random characters, as the apiserver's name generator does.
pub fn generate_name(prefix: &str) -> String {
    let prefix = if prefix.len() > 58 { &prefix[..58] } else { prefix };
    let mut bytes = [0; 5];
    apimachinery::uid::fill(&mut bytes);
    let suffix: String = bytes.iter().map(|b| NAME_SUFFIX_ALPHABET[*b as usize % NAME_SUFFIX_ALPHABET.len()] as char).collect();
    format!("{prefix}{suffix}")
}

/// Everything except `metadata` and `status`: what bumps `generation` when it changes.
pub fn spec_part(obj: &Value) -> Value {
    let mut copy = obj.clone();
    if let Some(map) = copy.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            map.remove(k);
        }
    }
    copy
}

/// System-owned metadata of `old` carried over onto an updated object.
pub fn preserve_system_meta(new: &mut Value, old: &Value) {
    let old_meta = old.get("metadata").cloned().unwrap_or_else(|| json!({}));
    let meta = meta_mut(new);
    for k in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
        match old_meta.get(k) {
            Some(v) => meta.insert(k.into(), v.clone()),
            None => meta.remove(k),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_removes_what_nothing_holds() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}});
        assert!(removed_by_delete(&cm));
        let held = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "finalizers": ["x"]}});
        assert!(!removed_by_delete(&held));
        assert!(!removed_by_delete(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}})), "namespaces wait for their content");
    }

    #[test]
    fn the_time_is_current_to_the_second() {
        let before = jiff::Timestamp::now().as_second();
        let stamped: jiff::Timestamp = now_rfc3339().parse().expect("RFC 3339");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let later: jiff::Timestamp = now_rfc3339().parse().expect("RFC 3339");
        assert!(stamped.as_second() >= before && later.as_second() > stamped.as_second(), "{stamped} then {later}");
    }

    #[test]
    fn generated_names_keep_prefix() {
        let n = generate_name("web-");
        assert!(n.starts_with("web-") && n.len() == 9);
        assert!(n[4..].bytes().all(|b| NAME_SUFFIX_ALPHABET.contains(&b)));
    }

    #[test]
    fn stored_form_drops_only_the_resource_version_and_keeps_order() {
        let obj = json!({"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "5", "uid": "u"}, "data": {"resourceVersion": "kept"}});
        assert_eq!(&to_stored(&obj)[..], br#"{"kind":"ConfigMap","metadata":{"name":"a","uid":"u"},"data":{"resourceVersion":"kept"}}"#);
        assert_eq!(&to_stored(&json!({"metadata": null}))[..], br#"{"metadata":null}"#);
    }

    #[test]
    fn stored_round_trip_stamps_revision() {
        let obj = json!({"metadata":{"name":"a","resourceVersion":"5"},"data":{"k":"v"}});
        let bytes = to_stored(&obj);
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let back = decode_stored(&bytes, 9).expect("decodes");
        assert_eq!(back["metadata"]["resourceVersion"], "9");
        assert_eq!(resource_version(&back).expect("valid"), Some(9));
        assert!(resource_version(&json!({"metadata":{"resourceVersion":"x"}})).is_err());
    }
}
