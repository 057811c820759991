//! Request bodies to JSON objects: JSON, YAML and kubectl's protobuf envelope, plus the
//! apiVersion/kind/name/namespace checks every write makes before anything else.

use serde_json::Value;

use super::{ApiRequest, Resolved};
use apimachinery::status::ApiError;

/// Decodes the request body by its Content-Type.
pub fn body_value(req: &ApiRequest) -> Result<Value, ApiError> {
    let ct = req.header("content-type");
    let media = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if apimachinery::protobuf::is_protobuf(&media) {
        return apimachinery::protobuf::decode(&req.body).map_err(ApiError::from);
    }
    match media.as_str() {
        "" | "application/json" => json(&req.body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => yaml(&req.body),
        _ => Err(ApiError::unsupported_media_type(ct)),
    }
}

/// Parses JSON with the message kube-apiserver uses for malformed bodies.
pub fn json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("error decoding request body: couldn't get version/kind; json parse error: {e}"))
    })
}

/// Parses one YAML document into JSON.
pub fn yaml(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("error decoding YAML: body is not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

/// Checks that a decoded object is the kind this endpoint serves and sits where the URL says.
pub fn check_object(obj: &Value, resolved: &Resolved, namespace: &str, url_name: &str) -> Result<(), ApiError> {
    let info = &resolved.info;
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body of the request must be a JSON object"));
    }
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        let missing = if kind.is_empty() { "kind" } else { "apiVersion" };
        return Err(ApiError::bad_request(format!("Object '{missing}' is missing in '{}'", compact(obj))));
    }
    if api_version != info.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            info.api_version()
        )));
    }
    if kind != info.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            info.kind
        )));
    }
    let obj_ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
    if info.namespaced && !obj_ns.is_empty() && obj_ns != namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let obj_name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
    if !url_name.is_empty() && !obj_name.is_empty() && obj_name != url_name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({obj_name}) does not match the name on the URL ({url_name})"
        )));
    }
    Ok(())
}

fn compact(obj: &Value) -> String {
    let s = obj.to_string();
    if s.len() > 256 {
        format!("{}...", &s[..s.char_indices().take_while(|(i, _)| *i < 256).last().map_or(0, |(i, _)| i)])
    } else {
        s
    }
}
