//! Request bodies to JSON objects: JSON, YAML and kubectl's protobuf envelope, plus the
//! apiVersion/kind/name/namespace checks every write makes before anything else.

use serde_json::Value;

use super::{ApiRequest, Resolved};
use apimachinery::registry::ResourceInfo;
use apimachinery::status::ApiError;

/// Decodes the request body by its Content-Type.
pub fn body_value(req: &ApiRequest) -> Result<Value, ApiError> {
    decode(req.header("content-type"), &req.body)
}

/// Decodes a body of content type `ct` (JSON, YAML or kube's protobuf envelope) to JSON.
pub fn decode(ct: &str, body: &[u8]) -> Result<Value, ApiError> {
    let media = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if apimachinery::protobuf::is_protobuf(&media) {
        return apimachinery::registry::decode_protobuf(body).map_err(ApiError::from);
    }
    match media.as_str() {
        "" | "application/json" => json(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => yaml(body),
        _ => Err(ApiError::unsupported_media_type(ct)),
    }
}

/// Parses JSON with the message kube-apiserver uses for malformed bodies.
pub fn json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding request body: couldn't get version/kind; json parse error: {e}")))
}

/// Parses one YAML document into JSON.
pub fn yaml(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("error decoding YAML: body is not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text).map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

/// Fills a missing `kind` or `apiVersion` from the endpoint, as kube-apiserver's decoder does
/// for its compiled-in types: clients such as the official Python one send objects built
/// without them (`V1Namespace(metadata=...)`). Custom resources decode as unstructured objects
/// there, which must name their kind, so they are left as sent and [`check_object`] refuses them.
/// A value that is present is never changed, so a body that contradicts the URL still fails.
pub fn default_type(obj: &mut Value, info: &ResourceInfo) {
    if !info.custom {
        fill_type(obj, &info.api_version(), &info.kind);
    }
}

/// Sets `apiVersion` and `kind` where they are absent, null or empty; leaves them otherwise.
pub fn fill_type(obj: &mut Value, api_version: &str, kind: &str) {
    let Some(map) = obj.as_object_mut() else { return };
    // First in the object, where every encoder puts them.
    for (at, field, value) in [(0, "apiVersion", api_version), (1, "kind", kind)] {
        let missing = match map.get(field) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if missing {
            map.shift_insert(at.min(map.len()), field.to_string(), Value::String(value.to_string()));
        }
    }
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
        return Err(ApiError::bad_request(format!("the kind in the data ({kind}) does not match the expected kind ({})", info.kind)));
    }
    let obj_ns = super::object::meta_str(obj, "namespace");
    if info.namespaced && !obj_ns.is_empty() && obj_ns != namespace {
        return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
    }
    let obj_name = super::object::meta_str(obj, "name");
    if !url_name.is_empty() && !obj_name.is_empty() && obj_name != url_name {
        return Err(ApiError::bad_request(format!("the name of the object ({obj_name}) does not match the name on the URL ({url_name})")));
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use apimachinery::registry::builtin;

    fn configmaps() -> Resolved {
        Resolved::builtin(builtin::find("", "v1", "configmaps").expect("configmaps are built in"))
    }

    fn widgets() -> Resolved {
        let mut info = configmaps().info;
        (info.group, info.version, info.kind, info.plural) = ("example.com".into(), "v1".into(), "Widget".into(), "widgets".into());
        info.custom = true;
        Resolved::custom(info)
    }

    fn checked(mut obj: Value, r: &Resolved) -> Result<Value, String> {
        default_type(&mut obj, &r.info);
        check_object(&obj, r, "default", "").map(|()| obj).map_err(|e| e.message)
    }

    #[test]
    fn built_in_kind_and_api_version_default_from_the_url() {
        let r = configmaps();
        let got = checked(json!({"metadata": {"name": "c"}, "data": {"k": "v"}}), &r).expect("accepted");
        assert_eq!(got, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}));
        // The order the fields are written in is the order encoders use.
        assert_eq!(got.as_object().map(|m| m.keys().take(2).cloned().collect::<Vec<_>>()), Some(vec!["apiVersion".into(), "kind".into()]));
        for partial in [json!({"kind": "ConfigMap"}), json!({"apiVersion": "v1"}), json!({"apiVersion": null, "kind": ""})] {
            let got = checked(partial.clone(), &r).expect("accepted");
            assert_eq!((&got["apiVersion"], &got["kind"]), (&json!("v1"), &json!("ConfigMap")), "{partial}");
        }
        let mut token = json!({"spec": {"audiences": ["a"]}});
        fill_type(&mut token, "authentication.k8s.io/v1", "TokenRequest");
        assert_eq!(token, json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["a"]}}));
    }

    #[test]
    fn a_type_that_contradicts_the_url_is_refused() {
        let r = configmaps();
        let wrong_kind = checked(json!({"kind": "Secret", "metadata": {"name": "c"}}), &r);
        assert_eq!(wrong_kind.err().as_deref(), Some("the kind in the data (Secret) does not match the expected kind (ConfigMap)"));
        let wrong_version = checked(json!({"apiVersion": "apps/v1", "metadata": {"name": "c"}}), &r);
        assert_eq!(wrong_version.err().as_deref(), Some("the API version in the data (apps/v1) does not match the expected API version (v1)"));
    }

    #[test]
    fn custom_resources_must_name_their_type() {
        let r = widgets();
        let missing = checked(json!({"metadata": {"name": "w"}}), &r);
        assert_eq!(missing.err().as_deref(), Some(r#"Object 'kind' is missing in '{"metadata":{"name":"w"}}'"#));
        let no_version = checked(json!({"kind": "Widget", "metadata": {"name": "w"}}), &r);
        assert!(no_version.err().is_some_and(|m| m.starts_with("Object 'apiVersion' is missing")));
        assert!(checked(json!({"apiVersion": "example.com/v1", "kind": "Widget"}), &r).is_ok());
    }
}
