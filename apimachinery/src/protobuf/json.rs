//! Building Kubernetes JSON from decoded proto2 messages.
//!
//! kubectl's Go client writes every non-pointer field, so a decoded message is full of `""`, `0`
//! and empty lists that the JSON API would never show. Go's JSON tags decide what appears, and
//! they come in three shapes, one [`Obj`] method each: `omitempty` on a value field ([`Obj::omit`]:
//! zero values vanish), a pointer field ([`Obj::keep`]: present means shown, even `false`), and a
//! field without `omitempty` ([`Obj::always`]). The per-kind converters are then one line per
//! field, and the shared parts of many kinds (ObjectMeta, label selectors, object references)
//! live here once.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{LabelSelector, MicroTime, ObjectMeta, OwnerReference, Time};
use serde_json::{Map, Value};

use super::ProtoError;

/// A value that can appear in Kubernetes JSON.
pub(super) trait ToJson {
    /// The JSON form; fails only for values JSON cannot represent (a time out of range).
    fn to_json(self) -> Result<Value, ProtoError>;
    /// Whether Go's `omitempty` leaves this value out.
    fn is_zero(&self) -> bool;
}

/// A JSON object under construction; the first conversion error is kept and reported once.
#[derive(Default)]
pub(crate) struct Obj {
    map: Map<String, Value>,
    err: Option<ProtoError>,
}

impl Obj {
    /// A top-level object: every Kubernetes object shows `metadata`, even when empty.
    pub(super) fn object(meta: Option<ObjectMeta>) -> Self {
        Self::default().always("metadata", meta.map(object_meta))
    }

    /// A field tagged `omitempty` in Go: zero values are left out.
    pub(super) fn omit(self, key: &str, value: impl ToJson) -> Self {
        if value.is_zero() {
            self
        } else {
            self.always(key, value)
        }
    }

    /// A pointer field in Go: shown whenever it was sent, even when it holds a zero value.
    pub(super) fn keep<T: ToJson>(self, key: &str, value: Option<T>) -> Self {
        match value {
            Some(v) => self.always(key, v),
            None => self,
        }
    }

    /// A field without `omitempty`: always shown.
    pub(super) fn always(mut self, key: &str, value: impl ToJson) -> Self {
        match value.to_json() {
            Ok(v) => {
                self.map.insert(key.to_owned(), v);
            }
            Err(e) => {
                self.err.get_or_insert(e);
            }
        }
        self
    }

    /// The finished object, or the first error met while building it or its children.
    pub(super) fn finish(self) -> Result<Map<String, Value>, ProtoError> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(self.map),
        }
    }
}

impl ToJson for Obj {
    fn to_json(self) -> Result<Value, ProtoError> {
        self.finish().map(Value::Object)
    }
    fn is_zero(&self) -> bool {
        self.map.is_empty() && self.err.is_none()
    }
}

impl ToJson for String {
    fn to_json(self) -> Result<Value, ProtoError> {
        Ok(Value::String(self))
    }
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

impl ToJson for bool {
    fn to_json(self) -> Result<Value, ProtoError> {
        Ok(Value::Bool(self))
    }
    fn is_zero(&self) -> bool {
        !*self
    }
}

impl ToJson for i32 {
    fn to_json(self) -> Result<Value, ProtoError> {
        Ok(self.into())
    }
    fn is_zero(&self) -> bool {
        *self == 0
    }
}

impl ToJson for i64 {
    fn to_json(self) -> Result<Value, ProtoError> {
        Ok(self.into())
    }
    fn is_zero(&self) -> bool {
        *self == 0
    }
}

/// An unset proto2 field behaves like Go's zero value for its type.
impl<T: ToJson + Default> ToJson for Option<T> {
    fn to_json(self) -> Result<Value, ProtoError> {
        self.unwrap_or_default().to_json()
    }
    fn is_zero(&self) -> bool {
        self.as_ref().is_none_or(T::is_zero)
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(self) -> Result<Value, ProtoError> {
        self.into_iter().map(T::to_json).collect::<Result<_, _>>().map(Value::Array)
    }
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

impl<T: ToJson> ToJson for BTreeMap<String, T> {
    fn to_json(self) -> Result<Value, ProtoError> {
        self.into_iter().map(|(k, v)| Ok((k, v.to_json()?))).collect::<Result<_, _>>().map(Value::Object)
    }
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

/// `[]byte` fields, which Go's JSON encoder writes as standard base64.
pub(super) struct Bytes(pub(super) Vec<u8>);

impl ToJson for Bytes {
    fn to_json(self) -> Result<Value, ProtoError> {
        Ok(Value::String(base64::engine::general_purpose::STANDARD.encode(self.0)))
    }
    fn is_zero(&self) -> bool {
        self.0.is_empty()
    }
}

/// A `map[string][]byte`, e.g. Secret `data` or ConfigMap `binaryData`.
pub(super) fn byte_map(map: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Bytes> {
    map.into_iter().map(|(k, v)| (k, Bytes(v))).collect()
}

impl ToJson for Quantity {
    fn to_json(self) -> Result<Value, ProtoError> {
        self.string.unwrap_or_default().to_json()
    }
    fn is_zero(&self) -> bool {
        self.string.is_zero()
    }
}

/// `metav1.Time`: whole seconds in RFC 3339. Go sends its zero time as an empty message and
/// writes it as `null`; any field present (even `seconds: 0`) is a real instant.
impl ToJson for Time {
    fn to_json(self) -> Result<Value, ProtoError> {
        timestamp(self.seconds, self.nanos, "%Y-%m-%dT%H:%M:%SZ")
    }
    fn is_zero(&self) -> bool {
        self.seconds.is_none() && self.nanos.is_none()
    }
}

/// `metav1.MicroTime`: RFC 3339 with exactly six fractional digits.
impl ToJson for MicroTime {
    fn to_json(self) -> Result<Value, ProtoError> {
        timestamp(self.seconds, self.nanos, "%Y-%m-%dT%H:%M:%S.%6fZ")
    }
    fn is_zero(&self) -> bool {
        self.seconds.is_none() && self.nanos.is_none()
    }
}

fn timestamp(seconds: Option<i64>, nanos: Option<i32>, format: &str) -> Result<Value, ProtoError> {
    if seconds.is_none() && nanos.is_none() {
        return Ok(Value::Null);
    }
    let (seconds, nanos) = (seconds.unwrap_or(0), nanos.unwrap_or(0));
    jiff::Timestamp::new(seconds, nanos)
        .and_then(|ts| jiff::fmt::strtime::format(format, ts))
        .map(Value::String)
        .map_err(|e| ProtoError::Malformed(format!("invalid time {seconds}s {nanos}ns: {e}")))
}

/// ObjectMeta, in Go's field order. `managedFields` is not carried over: the server owns field
/// management, and the typed-client commands that send protobuf never set it.
pub(super) fn object_meta(m: ObjectMeta) -> Obj {
    Obj::default()
        .omit("name", m.name)
        .omit("generateName", m.generate_name)
        .omit("namespace", m.namespace)
        .omit("selfLink", m.self_link)
        .omit("uid", m.uid)
        .omit("resourceVersion", m.resource_version)
        .omit("generation", m.generation)
        .omit("creationTimestamp", m.creation_timestamp)
        .keep("deletionTimestamp", m.deletion_timestamp)
        .keep("deletionGracePeriodSeconds", m.deletion_grace_period_seconds)
        .omit("labels", m.labels)
        .omit("annotations", m.annotations)
        .omit("ownerReferences", all(m.owner_references, owner_reference))
        .omit("finalizers", m.finalizers)
}

fn owner_reference(r: OwnerReference) -> Obj {
    Obj::default()
        .always("apiVersion", r.api_version)
        .always("kind", r.kind)
        .always("name", r.name)
        .always("uid", r.uid)
        .keep("controller", r.controller)
        .keep("blockOwnerDeletion", r.block_owner_deletion)
}

/// `metav1.LabelSelector`.
pub(super) fn label_selector(s: LabelSelector) -> Obj {
    let expressions = all(s.match_expressions, |r| requirement("key", r.key, r.operator, r.values));
    Obj::default().omit("matchLabels", s.match_labels).omit("matchExpressions", expressions)
}

/// The `{key, operator, values}` requirement shape shared by label, field and scope selectors;
/// only the name of the key field differs between them.
pub(super) fn requirement(key_field: &str, key: Option<String>, operator: Option<String>, values: Vec<String>) -> Obj {
    Obj::default().always(key_field, key).always("operator", operator).omit("values", values)
}

/// Converts every element of a repeated message field.
pub(super) fn all<T>(items: Vec<T>, convert: impl FnMut(T) -> Obj) -> Vec<Obj> {
    items.into_iter().map(convert).collect()
}
