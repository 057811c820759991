//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into Kubernetes JSON.
//!
//! kubectl 1.32's typed commands (`create namespace|configmap|secret|role|…`, `create token`,
//! `auth can-i`, `auth whoami`) POST protobuf and do not retry with JSON on a 415, so the server
//! must read them. Everything past the decoder works on JSON, so this module only translates:
//! the `k8s\0` magic and `runtime.Unknown` envelope are unwrapped here, the message is decoded
//! with `k8s-pb`'s prost types, and one small converter per kind (grouped by API in `core`,
//! `rbac` and `review`) writes the JSON the API would show, with the omission rules in
//! `json`. Which kind uses which converter is its strategy's business: [`decode`] asks the
//! caller, and kinds without one are refused with [`ProtoError::UnsupportedKind`].

pub(crate) mod core;
mod json;
pub(crate) mod rbac;
pub(crate) mod review;

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value};

use crate::status::{ApiError, Reason};
use json::Obj;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes that open every Kubernetes protobuf body.
pub(crate) const MAGIC: &[u8; 4] = b"k8s\0";

/// Why a protobuf body could not be turned into JSON.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The body is not a well-formed Kubernetes protobuf envelope or message (400).
    #[error("{0}")]
    Malformed(String),
    /// The envelope names a kind this server cannot read as protobuf (415).
    #[error("the server does not accept {MEDIA_TYPE} bodies for {api_version}, Kind={kind}; send application/json instead")]
    UnsupportedKind {
        /// `apiVersion` of the envelope's type meta, e.g. `apps/v1`.
        api_version: String,
        /// `kind` of the envelope's type meta.
        kind: String,
    },
}

/// The one mapping of decode failures onto Kubernetes `Status` errors.
impl From<ProtoError> for ApiError {
    fn from(err: ProtoError) -> Self {
        let reason = match err {
            ProtoError::Malformed(_) => Reason::BadRequest,
            ProtoError::UnsupportedKind { .. } => Reason::UnsupportedMediaType,
        };
        ApiError::new(reason, err.to_string())
    }
}

/// Whether a `Content-Type` header value announces a Kubernetes protobuf body.
pub fn is_protobuf(content_type: &str) -> bool {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    media_type.eq_ignore_ascii_case(MEDIA_TYPE)
}

/// A message decoded into its JSON fields, without `apiVersion` and `kind`.
pub type Fields = Result<Map<String, Value>, ProtoError>;

/// Decodes a protobuf request body into the object's Kubernetes JSON, `apiVersion` and `kind`
/// first; `convert(apiVersion, kind, message)` decodes the message, `None` for a kind that has
/// no protobuf converter.
pub fn decode(body: &[u8], convert: impl FnOnce(&str, &str, &[u8]) -> Option<Fields>) -> Result<Value, ProtoError> {
    let message = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ProtoError::Malformed("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]".into()))?;
    let envelope = Unknown::decode(message).map_err(|e| ProtoError::Malformed(format!("unable to decode protobuf envelope: {e}")))?;
    let content_encoding = envelope.content_encoding.unwrap_or_default();
    if !content_encoding.is_empty() {
        return Err(ProtoError::Malformed(format!("unsupported protobuf content encoding {content_encoding:?}")));
    }
    let content_type = envelope.content_type.unwrap_or_default();
    if !content_type.is_empty() && !is_protobuf(&content_type) {
        return Err(ProtoError::Malformed(format!("unsupported protobuf content type {content_type:?}")));
    }
    let type_meta = envelope.type_meta.unwrap_or_default();
    let api_version = type_meta.api_version.unwrap_or_default();
    let kind = type_meta.kind.unwrap_or_default();
    if kind.is_empty() {
        return Err(ProtoError::Malformed("Object 'Kind' is missing in protobuf envelope".into()));
    }
    let raw = envelope.raw.unwrap_or_default();
    let body = match convert(&api_version, &kind, &raw) {
        Some(body) => body?,
        None => return Err(ProtoError::UnsupportedKind { api_version, kind }),
    };
    let mut object = Map::with_capacity(body.len() + 2);
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    object.extend(body);
    Ok(Value::Object(object))
}

/// Decodes `raw` as message `M` and converts it with that kind's converter.
pub(crate) fn message<M: Message + Default>(kind: &str, raw: &[u8], to_json: fn(M) -> Obj) -> Fields {
    let message = M::decode(raw).map_err(|e| ProtoError::Malformed(format!("unable to decode {kind}: {e}")))?;
    to_json(message).finish()
}
