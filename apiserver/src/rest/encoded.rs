//! Serving stored objects without building a JSON tree.
//!
//! A stored object differs from what a list serves by a few fields: `metadata.resourceVersion`
//! (kept by the store as the revision), the `kcp.io/cluster` annotation and, for a CRD served in
//! another version, `apiVersion`. [`write_served`] copies the stored bytes field by field and
//! changes only those, which costs a scan of the input instead of parsing every value into
//! maps and strings and printing them again. The result is byte for byte what
//! [`super::Resolved::present`] followed by `serde_json::to_vec` gives; any input it cannot
//! borrow from (such as a key with an escape sequence) is an error, and callers fall back to
//! that slower path.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The fields of one JSON object in their stored order, values left as text.
struct Fields<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

impl<'a> Fields<'a> {
    fn parse(text: &'a str) -> serde_json::Result<Fields<'a>> {
        serde_json::from_str(text)
    }
}

/// What serving changes in a stored object.
pub struct Served<'a> {
    /// The object's revision, its `metadata.resourceVersion`.
    pub revision: u64,
    /// The logical cluster, for the `kcp.io/cluster` annotation.
    pub cluster: Option<&'a str>,
    /// The `apiVersion` to serve instead of the stored one.
    pub api_version: Option<&'a str>,
}

/// Appends the stored object `stored` to `out` as it is served. Every check happens before the
/// first byte is written, so on error `out` is unchanged.
pub fn write_served(stored: &[u8], served: &Served, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let text = std::str::from_utf8(stored).map_err(invalid)?;
    let top = Fields::parse(text)?;
    let Some(metadata) = top.0.iter().find(|(k, _)| *k == "metadata").map(|(_, v)| Fields::parse(v.get())).transpose()? else {
        return Err(invalid("stored object has no metadata"));
    };
    let revision = serde_json::to_string(&served.revision.to_string())?;
    let cluster = served.cluster.map(serde_json::to_string).transpose()?;
    let annotations = match (&cluster, metadata.0.iter().find(|(k, _)| *k == "annotations")) {
        (Some(_), Some((_, v))) => Some(Fields::parse(v.get())?),
        _ => None,
    };
    let api_version = served.api_version.map(serde_json::to_string).transpose()?;

    let mut top_writer = ObjectWriter::new(out);
    for (key, value) in &top.0 {
        match (*key, &api_version) {
            ("metadata", _) => {
                top_writer.key(key);
                let mut meta = ObjectWriter::new(top_writer.out);
                for (key, value) in &metadata.0 {
                    match *key {
                        "resourceVersion" => meta.field(key, &revision),
                        "annotations" if cluster.is_some() => {
                            meta.key(key);
                            let fields = annotations.as_ref().map_or(&[][..], |a| &a.0[..]);
                            write_with(ObjectWriter::new(meta.out), fields, super::CLUSTER_ANNOTATION, cluster.as_deref().unwrap_or_default());
                        }
                        _ => meta.field(key, value.get()),
                    }
                }
                if !metadata.0.iter().any(|(k, _)| *k == "resourceVersion") {
                    meta.field("resourceVersion", &revision);
                }
                if let (Some(cluster), false) = (&cluster, metadata.0.iter().any(|(k, _)| *k == "annotations")) {
                    meta.key("annotations");
                    write_with(ObjectWriter::new(meta.out), &[], super::CLUSTER_ANNOTATION, cluster);
                }
                meta.end();
            }
            ("apiVersion", Some(version)) => top_writer.field(key, version),
            _ => top_writer.field(key, value.get()),
        }
    }
    if let (Some(version), false) = (&api_version, top.0.iter().any(|(k, _)| *k == "apiVersion")) {
        top_writer.field("apiVersion", version);
    }
    top_writer.end();
    Ok(())
}

fn invalid(reason: impl fmt::Display) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(reason)
}

/// Writes `fields` with `key` set to the JSON text `value`: in place if present, else last.
fn write_with(mut writer: ObjectWriter, fields: &[(&str, &RawValue)], key: &str, value: &str) {
    for (k, v) in fields {
        writer.field(k, if *k == key { value } else { v.get() });
    }
    if !fields.iter().any(|(k, _)| *k == key) {
        writer.field(key, value);
    }
    writer.end();
}

/// Writes one JSON object, member by member, in compact form.
struct ObjectWriter<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    /// Writes a member name; the caller writes its value next. Names come from parsed input
    /// that borrowed them, so they hold no escape sequences and are written as they are.
    fn key(&mut self, key: &str) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    fn field(&mut self, key: &str, json: &str) {
        self.key(key);
        self.out.extend_from_slice(json.as_bytes());
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// What the tree path serves: decode, set the fields, print.
    fn via_tree(stored: &Value, served: &Served) -> Vec<u8> {
        let mut obj = stored.clone();
        obj["metadata"]["resourceVersion"] = json!(served.revision.to_string());
        if let Some(cluster) = served.cluster {
            let meta = obj["metadata"].as_object_mut().expect("metadata");
            meta.entry("annotations").or_insert_with(|| json!({}))["kcp.io/cluster"] = json!(cluster);
        }
        if let Some(version) = served.api_version {
            obj["apiVersion"] = json!(version);
        }
        serde_json::to_vec(&obj).expect("print")
    }

    fn same_as_tree(stored: Value, served: Served) {
        let bytes = serde_json::to_vec(&stored).expect("print");
        let mut out = Vec::new();
        write_served(&bytes, &served, &mut out).expect("splice");
        assert_eq!(String::from_utf8(out).expect("utf8"), String::from_utf8(via_tree(&stored, &served)).expect("utf8"));
    }

    #[test]
    fn matches_the_tree_path_byte_for_byte() {
        let plain = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n", "uid": "u"}, "data": {"k": "v \"quoted\" \u{e9}\n", "n": "1"}});
        same_as_tree(plain.clone(), Served { revision: 7, cluster: Some("root"), api_version: None });
        same_as_tree(plain.clone(), Served { revision: 7, cluster: None, api_version: None });
        let annotated = json!({"kind": "ConfigMap", "metadata": {"name": "a", "annotations": {"x": "y", "kcp.io/cluster": "stale"}, "labels": {"a": "b"}}, "binaryData": {}, "immutable": true});
        same_as_tree(annotated, Served { revision: 12345678901, cluster: Some("2abc"), api_version: None });
        let custom = json!({"apiVersion": "example.io/v1", "kind": "Cowboy", "metadata": {"name": "c", "annotations": {"z": "1"}}, "spec": {"n": 1.5, "list": [1, {"a": null}]}});
        same_as_tree(custom, Served { revision: 3, cluster: Some("root:org"), api_version: Some("example.io/v2") });
        let no_version = json!({"kind": "Thing", "metadata": {"name": "t"}});
        same_as_tree(no_version, Served { revision: 1, cluster: Some("c"), api_version: Some("example.io/v1") });
    }

    #[test]
    fn input_it_cannot_borrow_is_an_error_not_a_wrong_answer() {
        let mut out = Vec::new();
        assert!(write_served(br#"{"metadata":{"na\u006de":"a"}}"#, &Served { revision: 1, cluster: None, api_version: None }, &mut out).is_err());
        assert!(write_served(br#"{"kind":"x"}"#, &Served { revision: 1, cluster: None, api_version: None }, &mut out).is_err());
        assert!(write_served(b"[1]", &Served { revision: 1, cluster: None, api_version: None }, &mut out).is_err());
    }
}
