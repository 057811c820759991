//! The one error type every API path returns, and its rendering as a Kubernetes `Status`.
//!
//! Handlers and layers build `ApiError`s with the constructors below; only the server's outermost
//! layer turns them into HTTP responses, so the wire shape lives in exactly one place.

use serde_json::{json, Value};

/// Machine-readable reason of a failed request, as kube-apiserver names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// 400: the request is malformed or its parameters are wrong.
    BadRequest,
    /// 401: no authenticator accepted the credentials.
    Unauthorized,
    /// 403: the authenticated user may not do this.
    Forbidden,
    /// 404: the object or path does not exist.
    NotFound,
    /// 409: a create named an object that already exists.
    AlreadyExists,
    /// 409: the write raced another one (a stale resourceVersion, mostly).
    Conflict,
    /// 410: the resource is gone and will not come back.
    Gone,
    /// 410: the requested resourceVersion has been compacted away.
    Expired,
    /// 422: validation failed; the details list one cause per field.
    Invalid,
    /// 405: the verb is not supported on this resource.
    MethodNotAllowed,
    /// 406: none of the media types in `Accept` can be served.
    NotAcceptable,
    /// 413: the body is over the size limit.
    RequestEntityTooLarge,
    /// 415: the body's `Content-Type` is not one the server decodes.
    UnsupportedMediaType,
    /// 429: the server is over its in-flight limit; retry after a while.
    TooManyRequests,
    /// 500: the server failed; the cause is in its log.
    InternalError,
    /// 503: the server (or a dependency) is not ready to serve.
    ServiceUnavailable,
    /// 504: the request did not finish in time.
    Timeout,
}

impl Reason {
    /// HTTP status code Kubernetes uses for this reason.
    pub fn code(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Gone | Reason::Expired => 410,
            Reason::RequestEntityTooLarge => 413,
            Reason::UnsupportedMediaType => 415,
            Reason::Invalid => 422,
            Reason::TooManyRequests => 429,
            Reason::InternalError => 500,
            Reason::ServiceUnavailable => 503,
            Reason::Timeout => 504,
        }
    }

    /// The `reason` string of the Status object.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Gone => "Gone",
            Reason::Expired => "Expired",
            Reason::Invalid => "Invalid",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::InternalError => "InternalError",
            Reason::ServiceUnavailable => "ServiceUnavailable",
            Reason::Timeout => "Timeout",
        }
    }
}

/// One field-level problem, rendered as a `details.causes` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, ...
    pub reason: String,
    /// What is wrong with the field, without the field path in front.
    pub message: String,
    /// JSON path of the field, e.g. `metadata.name` or `spec.replicas`.
    pub field: String,
}

/// The kind of a field error, with the wording Kubernetes uses in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// The value is not allowed (`FieldValueInvalid`).
    Invalid,
    /// The field is missing or empty (`FieldValueRequired`).
    Required,
    /// The value is not one of an enumerated set (`FieldValueNotSupported`).
    NotSupported,
    /// The field may not be set here (`FieldValueForbidden`).
    Forbidden,
    /// The value repeats one already given in the list (`FieldValueDuplicate`).
    Duplicate,
    /// The value is over its length limit (`FieldValueTooLong`).
    TooLong,
    /// The list has more items than allowed (`FieldValueTooMany`).
    TooMany,
    /// The value has the wrong JSON type (reported as `FieldValueInvalid`).
    TypeInvalid,
}

/// A validation error on one field; a list of them becomes a 422 `Invalid` Status.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What kind of problem it is; picks the message wording and the cause reason.
    pub kind: FieldErrorKind,
    /// JSON path of the field, e.g. `metadata.name` or `spec.template.spec.containers[0].image`.
    pub field: String,
    /// The offending value, quoted in the message; `None` when the message does not show it.
    pub value: Option<Value>,
    /// Explanation appended after the value; may be empty.
    pub detail: String,
}

impl FieldError {
    /// `field: Invalid value: <value>: detail`.
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::Invalid, field: field.into(), value: Some(value.into()), detail: detail.into() }
    }
    /// `field: Required value[: detail]`.
    pub fn required(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::Required, field: field.into(), value: None, detail: detail.into() }
    }
    /// `field: Forbidden: detail`.
    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::Forbidden, field: field.into(), value: None, detail: detail.into() }
    }
    /// `field: Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(field: impl Into<String>, value: impl Into<Value>, supported: &[&str]) -> Self {
        let list = supported.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        Self { kind: FieldErrorKind::NotSupported, field: field.into(), value: Some(value.into()), detail: format!("supported values: {list}") }
    }
    /// `field: Too long: may not be more than N bytes`.
    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        Self { kind: FieldErrorKind::TooLong, field: field.into(), value: None, detail: format!("may not be more than {max} bytes") }
    }
    /// `field: Invalid value: "type": detail` for values of the wrong JSON type.
    pub fn type_invalid(field: impl Into<String>, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self { kind: FieldErrorKind::TypeInvalid, field: field.into(), value: Some(value.into()), detail: detail.into() }
    }

    fn cause_reason(&self) -> &'static str {
        match self.kind {
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid => "FieldValueInvalid",
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::NotSupported => "FieldValueNotSupported",
            FieldErrorKind::Forbidden => "FieldValueForbidden",
            FieldErrorKind::Duplicate => "FieldValueDuplicate",
            FieldErrorKind::TooLong => "FieldValueTooLong",
            FieldErrorKind::TooMany => "FieldValueTooMany",
        }
    }

    /// The message without the field prefix, as it appears in `details.causes[].message`.
    pub fn message(&self) -> String {
        let value = self.value.as_ref().map(render_value);
        let head = match self.kind {
            FieldErrorKind::Invalid | FieldErrorKind::TypeInvalid => "Invalid value",
            FieldErrorKind::Required => "Required value",
            FieldErrorKind::NotSupported => "Unsupported value",
            FieldErrorKind::Forbidden => "Forbidden",
            FieldErrorKind::Duplicate => "Duplicate value",
            FieldErrorKind::TooLong => "Too long",
            FieldErrorKind::TooMany => "Too many",
        };
        let mut out = head.to_string();
        if let Some(v) = value {
            out.push_str(": ");
            out.push_str(&v);
        }
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message())
    }
}

fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "map[...]".to_string(),
        Value::Array(_) => "[...]".to_string(),
        other => other.to_string(),
    }
}

/// A failed API request: everything needed to render a Kubernetes `Status`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// Machine-readable reason; also decides the HTTP status code.
    pub reason: Reason,
    /// Human-readable message, in kube-apiserver's wording where there is one.
    pub message: String,
    /// The Status `details` object (name, group, kind, causes), when the error has one.
    pub details: Option<Value>,
    /// Seconds for the `Retry-After` header, set on 429s.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// An error with a reason and message and no details.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Self { reason, message: message.into(), details: None, retry_after: None }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 400 `BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Reason::BadRequest, message)
    }
    /// 401 `Unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(Reason::Unauthorized, "Unauthorized")
    }
    /// 403 `Forbidden` in the wording kube-apiserver uses for RBAC denials.
    pub fn forbidden(user: &str, verb: &str, resource: &str, group: &str, name: &str, scope: &str, why: &str) -> Self {
        let res = qualified(group, resource);
        let mut msg = if name.is_empty() {
            format!("{res} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}")
        } else {
            format!("{res} \"{name}\" is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{group}\" {scope}")
        };
        if !why.is_empty() {
            msg.push_str(": ");
            msg.push_str(why);
        }
        let mut details = json!({"kind": resource});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        if !name.is_empty() {
            details["name"] = json!(name);
        }
        Self::new(Reason::Forbidden, msg).with_details(details)
    }
    /// 403 `Forbidden` from admission: `<resource>[.<group>] "<name>" is forbidden: <why>`.
    pub fn forbidden_because(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let res = qualified(group, resource);
        Self::new(Reason::Forbidden, format!("{res} \"{name}\" is forbidden: {why}")).with_details(object_details(group, resource, name))
    }
    /// 404 `NotFound`: `<resource>[.<group>] "<name>" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let res = qualified(group, resource);
        Self::new(Reason::NotFound, format!("{res} \"{name}\" not found")).with_details(object_details(group, resource, name))
    }
    /// 404 for a path that names no resource at all.
    pub fn path_not_found() -> Self {
        Self::new(Reason::NotFound, "the server could not find the requested resource").with_details(json!({}))
    }
    /// 409 `AlreadyExists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let res = qualified(group, resource);
        Self::new(Reason::AlreadyExists, format!("{res} \"{name}\" already exists")).with_details(object_details(group, resource, name))
    }
    /// 409 `Conflict` for a stale resourceVersion.
    pub fn conflict(group: &str, resource: &str, name: &str) -> Self {
        Self::conflict_msg(group, resource, name, "the object has been modified; please apply your changes to the latest version and try again")
    }
    /// 409 `Conflict` with a custom explanation.
    pub fn conflict_msg(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let res = qualified(group, resource);
        Self::new(Reason::Conflict, format!("Operation cannot be fulfilled on {res} \"{name}\": {why}")).with_details(object_details(group, resource, name))
    }
    /// 422 `Invalid` with one cause per field error.
    pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let gk = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let list = if errors.len() == 1 { errors[0].to_string() } else { format!("[{}]", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(", ")) };
        let causes: Vec<Value> = errors.iter().map(|e| json!({"reason": e.cause_reason(), "message": e.message(), "field": e.field})).collect();
        let mut details = json!({"name": name, "kind": kind, "causes": causes});
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(Reason::Invalid, format!("{gk} \"{name}\" is invalid: {list}")).with_details(details)
    }
    /// 410 `Expired` for a watch or list from a compacted resourceVersion.
    pub fn expired(requested: u64, oldest: u64) -> Self {
        Self::new(Reason::Expired, format!("too old resource version: {requested} ({oldest})"))
    }
    /// 405 `MethodNotAllowed`.
    pub fn method_not_allowed(msg: impl Into<String>) -> Self {
        Self::new(Reason::MethodNotAllowed, msg)
    }
    /// 413 `RequestEntityTooLarge`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(Reason::RequestEntityTooLarge, format!("Request entity too large: limit is {limit}"))
    }
    /// 415 `UnsupportedMediaType`.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(Reason::UnsupportedMediaType, format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type:?}"))
    }
    /// 429 `TooManyRequests` with a Retry-After hint.
    pub fn too_many_requests(retry_after: u32) -> Self {
        let mut e = Self::new(Reason::TooManyRequests, "Too many requests, please try again later.").with_details(json!({"retryAfterSeconds": retry_after}));
        e.retry_after = Some(retry_after);
        e
    }
    /// 500 `InternalError`; the cause is logged by the caller, not sent.
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        Self::new(Reason::InternalError, format!("Internal error occurred: {msg}"))
    }
    /// 503 `ServiceUnavailable`.
    pub fn unavailable(msg: impl Into<String>) -> Self {
        Self::new(Reason::ServiceUnavailable, msg)
    }

    /// HTTP status code of this error.
    pub fn code(&self) -> u16 {
        self.reason.code()
    }

    /// The `Status` object sent to the client.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.code(),
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

/// The Status `details` naming one object: name, kind (the resource), and group if any.
fn object_details(group: &str, resource: &str, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    details
}

fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// A `Status` with `status: Success`, as DELETE of a collection or a gone object returns.
pub fn success_status(group: &str, kind: &str, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": kind, "uid": uid});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_matches_kube_wording() {
        let e = ApiError::not_found("", "configmaps", "x");
        assert_eq!(e.message, "configmaps \"x\" not found");
        assert_eq!(e.to_status()["code"], 404);
        assert_eq!(e.to_status()["details"]["kind"], "configmaps");
    }

    #[test]
    fn admission_refusals_name_the_qualified_resource_and_object() {
        let e = ApiError::forbidden_because("rbac.authorization.k8s.io", "roles", "r", "no");
        assert_eq!(e.message, "roles.rbac.authorization.k8s.io \"r\" is forbidden: no");
        let status = e.to_status();
        assert_eq!((status["code"].clone(), status["reason"].clone()), (json!(403), json!("Forbidden")));
        assert_eq!(status["details"], json!({"name": "r", "kind": "roles", "group": "rbac.authorization.k8s.io"}));
    }

    #[test]
    fn invalid_lists_causes() {
        let e = ApiError::invalid(
            "",
            "ConfigMap",
            "Web",
            &[FieldError::invalid("metadata.name", "Web", "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters")],
        );
        assert!(e.message.starts_with("ConfigMap \"Web\" is invalid: metadata.name: Invalid value: \"Web\": a lowercase"));
        assert_eq!(e.to_status()["details"]["causes"][0]["field"], "metadata.name");
        assert_eq!(e.code(), 422);
    }
}
