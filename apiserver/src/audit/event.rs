//! The audit event, in Kubernetes' `audit.k8s.io/v1` Event format, field for field, so tools
//! that read kube-apiserver's audit logs read these too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::policy::{Level, Stage};
use apimachinery::auth::UserInfo;
use apimachinery::request::RequestInfo;

/// Annotation naming the workspace as the caller wrote it (a path, or a logical cluster name).
pub const WORKSPACE_ANNOTATION: &str = "tenancy.kcp.io/workspace";
/// Annotation naming the logical cluster a request went to.
pub const CLUSTER_ANNOTATION: &str = "kcp.io/cluster";
/// Annotation naming the shard that served (or, from the front-proxy, was sent) the request.
pub const SHARD_ANNOTATION: &str = "kcp.io/shard";

/// One audit event.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `Event`.
    pub kind: String,
    /// `audit.k8s.io/v1`.
    pub api_version: String,
    /// The level the policy chose.
    pub level: Level,
    /// The request's id, shared with the server log (and, through the front-proxy, with the
    /// shard's event of the same request).
    #[serde(rename = "auditID")]
    pub audit_id: String,
    /// The stage this event describes.
    pub stage: Stage,
    /// Path and query as sent.
    #[serde(rename = "requestURI")]
    pub request_uri: String,
    /// Kubernetes verb (or the lowercased method of a non-resource request).
    pub verb: String,
    /// Who authenticated (`{username, uid, groups, extra}`, as kube writes it).
    pub user: UserInfo,
    /// Whom they acted as, when impersonating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonated_user: Option<UserInfo>,
    /// The client's address (after any trusted proxy's `X-Forwarded-For`).
    #[serde(default, rename = "sourceIPs")]
    pub source_ips: Vec<String>,
    /// The client's `User-Agent`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user_agent: String,
    /// The object addressed, for resource requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ref: Option<ObjectRef>,
    /// The answer's code (and, for failures, its message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<ResponseStatus>,
    /// The request body, at level Request and above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object: Option<Value>,
    /// The response body, at level RequestResponse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_object: Option<Value>,
    /// When the request arrived (RFC 3339, microseconds).
    pub request_received_timestamp: String,
    /// When this stage was reached.
    pub stage_timestamp: String,
    /// Workspace, logical cluster and shard, then the hash chain's `audit.kcp.io/*` keys.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The object a resource request addresses.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// Resource (plural).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// Namespace, for namespaced objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Object name; empty for collections.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// API group; empty for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// API version.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Subresource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

impl ObjectRef {
    /// The object of a resource request; `None` for other requests.
    pub fn of(info: &RequestInfo) -> Option<ObjectRef> {
        info.is_resource_request.then(|| ObjectRef {
            resource: info.resource.clone(),
            namespace: info.namespace.clone(),
            name: info.name.clone(),
            api_group: info.api_group.clone(),
            api_version: info.api_version.clone(),
            subresource: info.subresource.clone(),
        })
    }
}

/// The answer, as a `meta/v1` Status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ResponseStatus {
    /// Always empty; there for the Status shape.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// `Failure` for failed requests.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The failure's message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The failure's reason (`NotFound`, `Forbidden`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// HTTP status code.
    pub code: u16,
}

impl ResponseStatus {
    /// The status of an answer with `code`, taking message and reason from a failure's body.
    pub fn of(code: u16, body: Option<&Value>) -> ResponseStatus {
        let text = |k: &str| body.and_then(|b| b.get(k)).and_then(Value::as_str).unwrap_or_default().to_string();
        if code < 400 {
            return ResponseStatus { code, ..Default::default() };
        }
        ResponseStatus { metadata: BTreeMap::new(), status: "Failure".into(), message: text("message"), reason: text("reason"), code }
    }
}

/// The time as events write it: RFC 3339 with microseconds, in UTC.
pub fn timestamp(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}
