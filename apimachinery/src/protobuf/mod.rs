//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into Kubernetes JSON.
//!
//! kubectl 1.32's typed commands (`create namespace|configmap|secret|role|…`, `create token`,
//! `auth can-i`, `auth whoami`) POST protobuf and do not retry with JSON on a 415, so the server
//! must read them. Everything past the decoder works on JSON, so this module only translates:
//! the `k8s\0` magic and `runtime.Unknown` envelope are unwrapped here, the message is decoded
//! with `k8s-pb`'s prost types, and one small converter per kind (grouped by API in `core`,
//! `rbac` and `review`) writes the JSON the API would show, with the omission rules in
//! `json`. Kinds not listed in `convert` are refused with [`ProtoError::UnsupportedKind`].

mod core;
mod json;
mod rbac;
mod review;
#[cfg(test)]
mod tests;

use k8s_pb::api::{authentication::v1 as authn, authorization::v1 as authz, coordination::v1 as coordination};
use k8s_pb::api::{core::v1 as corev1, rbac::v1 as rbacv1};
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message;
use serde_json::{Map, Value};

use crate::status::{ApiError, Reason};
use json::Obj;

/// The media type of Kubernetes protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The four bytes that open every Kubernetes protobuf body.
const MAGIC: &[u8; 4] = b"k8s\0";

/// Why a protobuf body could not be turned into JSON.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The body is not a well-formed Kubernetes protobuf envelope or message (400).
    #[error("{0}")]
    Malformed(String),
    /// The envelope names a kind this server cannot read as protobuf (415).
    #[error(
        "the server does not accept {MEDIA_TYPE} bodies for {api_version}, Kind={kind}; send application/json instead"
    )]
    UnsupportedKind { api_version: String, kind: String },
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

/// Decodes a protobuf request body into the object's Kubernetes JSON, `apiVersion` and `kind` first.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let message = body.strip_prefix(MAGIC).ok_or_else(|| {
        ProtoError::Malformed(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]".into(),
        )
    })?;
    let envelope = Unknown::decode(message)
        .map_err(|e| ProtoError::Malformed(format!("unable to decode protobuf envelope: {e}")))?;
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

/// The kinds readable as protobuf; `None` for any other kind.
fn convert(api_version: &str, kind: &str, raw: &[u8]) -> Option<Result<Map<String, Value>, ProtoError>> {
    Some(match (api_version, kind) {
        ("v1", "Namespace") => typed::<corev1::Namespace>(kind, raw, core::namespace),
        ("v1", "ConfigMap") => typed::<corev1::ConfigMap>(kind, raw, core::config_map),
        ("v1", "Secret") => typed::<corev1::Secret>(kind, raw, core::secret),
        ("v1", "ServiceAccount") => typed::<corev1::ServiceAccount>(kind, raw, core::service_account),
        ("v1", "ResourceQuota") => typed::<corev1::ResourceQuota>(kind, raw, core::resource_quota),
        ("v1", "LimitRange") => typed::<corev1::LimitRange>(kind, raw, core::limit_range),
        ("v1", "Event") => typed::<corev1::Event>(kind, raw, core::event),
        ("coordination.k8s.io/v1", "Lease") => typed::<coordination::Lease>(kind, raw, core::lease),
        ("rbac.authorization.k8s.io/v1", "Role") => typed::<rbacv1::Role>(kind, raw, rbac::role),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => typed::<rbacv1::ClusterRole>(kind, raw, rbac::cluster_role),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => typed::<rbacv1::RoleBinding>(kind, raw, rbac::role_binding),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            typed::<rbacv1::ClusterRoleBinding>(kind, raw, rbac::cluster_role_binding)
        }
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            typed::<authz::SelfSubjectAccessReview>(kind, raw, review::self_subject_access_review)
        }
        ("authorization.k8s.io/v1", "SubjectAccessReview") => {
            typed::<authz::SubjectAccessReview>(kind, raw, review::subject_access_review)
        }
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview") => {
            typed::<authz::LocalSubjectAccessReview>(kind, raw, review::local_subject_access_review)
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            typed::<authz::SelfSubjectRulesReview>(kind, raw, review::self_subject_rules_review)
        }
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            typed::<authn::SelfSubjectReview>(kind, raw, review::self_subject_review)
        }
        ("authentication.k8s.io/v1", "TokenReview") => typed::<authn::TokenReview>(kind, raw, review::token_review),
        ("authentication.k8s.io/v1", "TokenRequest") => typed::<authn::TokenRequest>(kind, raw, review::token_request),
        _ => return None,
    })
}

/// Decodes `raw` as message `M` and converts it with that kind's converter.
fn typed<M: Message + Default>(
    kind: &str,
    raw: &[u8],
    to_json: fn(M) -> Obj,
) -> Result<Map<String, Value>, ProtoError> {
    let message = M::decode(raw).map_err(|e| ProtoError::Malformed(format!("unable to decode {kind}: {e}")))?;
    to_json(message).finish()
}
