//! `/openapi/v2`: the Swagger 2.0 document of everything a logical cluster serves.
//!
//! kubectl 1.27 and 1.28 load it before `apply`, `create -f` and `explain` (and fail without
//! it); newer ones still read it for `explain --output=plaintext-openapiv2` and when a
//! client-side re-apply computes its patch. It is derived from the v3 group-version documents
//! so both describe the same thing: `components.schemas` become `definitions`, `requestBody`
//! and response `content` become `consumes`/`produces` plus body parameters, and schemas lose
//! what Swagger 2.0 cannot say, the way kube-apiserver's own v2 conversion of CRD schemas does
//! (kubectl's v2 parser rejects a `$ref` with a `type`, and `oneOf`/`anyOf` do not exist).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::REF_PREFIX;

/// Prefix of v2 schema references.
pub const DEFINITIONS_PREFIX: &str = "#/definitions/";

/// Keywords Swagger 2.0 has no room for.
const V3_ONLY: &[&str] = &["allOf", "oneOf", "anyOf", "not", "nullable"];

/// Definitions whose v2 form upstream declares by hand because their JSON form is a string or
/// a number: kubectl's v2 validation reads them as strings (`int-or-string` admits numbers).
const STRING_LIKE: &[(&str, &str)] =
    &[("io.k8s.apimachinery.pkg.util.intstr.IntOrString", "int-or-string"), ("io.k8s.apimachinery.pkg.api.resource.Quantity", "")];

/// The Swagger 2.0 document made from the v3 documents of every served group-version.
pub fn from_v3<'a>(gv_docs: impl IntoIterator<Item = &'a Value>) -> Value {
    let mut version = Value::Null;
    let mut paths = BTreeMap::new();
    let mut definitions = BTreeMap::new();
    for doc in gv_docs {
        version = doc["info"]["version"].clone();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            paths.insert(path.clone(), path_item(item));
        }
        for (name, s) in doc["components"]["schemas"].as_object().into_iter().flatten() {
            definitions.entry(name.clone()).or_insert_with(|| definition(name, s));
        }
    }
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": paths,
        "definitions": definitions,
    })
}

fn definition(name: &str, s: &Value) -> Value {
    let mut out = schema(s);
    if let (Some((_, format)), Value::Object(m)) = (STRING_LIKE.iter().find(|(n, _)| *n == name), &mut out) {
        m.insert("type".into(), json!("string"));
        if !format.is_empty() {
            m.insert("format".into(), json!(format));
        }
    }
    out
}

/// The target of a reference, either direct or as v3 writes a reference with siblings (an
/// `allOf` holding only the `$ref`).
fn reference(m: &Map<String, Value>) -> Option<&str> {
    let direct = m.get("$ref").and_then(Value::as_str);
    let wrapped = || match m.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
        Some([only]) => only.get("$ref").and_then(Value::as_str),
        _ => None,
    };
    direct.or_else(wrapped)
}

/// One schema in its v2 form.
pub fn schema(v: &Value) -> Value {
    let Value::Object(m) = v else { return v.clone() };
    if let Some(target) = reference(m) {
        // kubectl accepts a reference with a description, default and extensions, nothing else.
        let mut out = Map::new();
        out.insert("$ref".into(), json!(format!("{DEFINITIONS_PREFIX}{}", target.trim_start_matches(REF_PREFIX))));
        for (k, val) in m.iter().filter(|(k, _)| matches!(k.as_str(), "description" | "default") || k.starts_with("x-")) {
            out.insert(k.clone(), val.clone());
        }
        return Value::Object(out);
    }
    let mut out = Map::new();
    for (k, val) in m.iter().filter(|(k, _)| !V3_ONLY.contains(&k.as_str())) {
        let converted = match (k.as_str(), val) {
            ("properties", Value::Object(props)) => Value::Object(props.iter().map(|(p, s)| (p.clone(), schema(s))).collect()),
            ("items" | "additionalProperties", _) => schema(val),
            _ => val.clone(),
        };
        out.insert(k.clone(), converted);
    }
    // As apiextensions' ToStructuralOpenAPIV2: v2 clients would reject a null or an unknown
    // field under a typed schema, so such schemas lose the parts that would make them reject.
    if m.get("nullable") == Some(&json!(true)) {
        for k in ["type", "items", "properties"] {
            out.remove(k);
        }
    }
    if m.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)) {
        out.remove("items");
        out.remove("properties");
        if out.get("type") != Some(&json!("object")) {
            out.remove("type");
        }
    }
    Value::Object(out)
}

fn path_item(item: &Value) -> Value {
    let mut out = Map::new();
    for (k, val) in item.as_object().into_iter().flatten() {
        let converted = match k.as_str() {
            "parameters" => parameters(val),
            "get" | "put" | "post" | "delete" | "patch" | "head" | "options" => operation(val),
            _ => val.clone(),
        };
        out.insert(k.clone(), converted);
    }
    Value::Object(out)
}

/// v3 parameters carry their type in `schema`; v2 non-body parameters carry it inline.
fn parameters(v: &Value) -> Value {
    let list = v.as_array().into_iter().flatten().map(|p| {
        let mut out: Map<String, Value> = p.as_object().cloned().unwrap_or_default();
        if let Some(Value::Object(s)) = out.remove("schema") {
            out.extend(s);
        }
        Value::Object(out)
    });
    Value::Array(list.collect())
}

fn content_types(v: &Value) -> Vec<String> {
    v["content"].as_object().map(|c| c.keys().cloned().collect()).unwrap_or_default()
}

fn operation(op: &Value) -> Value {
    let mut out = Map::new();
    let mut params = parameters(&op["parameters"]);
    let mut produces: Vec<String> = Vec::new();
    for (k, val) in op.as_object().into_iter().flatten() {
        match k.as_str() {
            "parameters" => {}
            "requestBody" => {
                out.insert("consumes".into(), json!(content_types(val)));
                let body_schema = val["content"].as_object().and_then(|c| c.values().next()).map(|m| schema(&m["schema"])).unwrap_or_else(|| json!({}));
                if let Value::Array(list) = &mut params {
                    list.insert(0, json!({"name": "body", "in": "body", "required": val["required"].as_bool().unwrap_or(false), "schema": body_schema}));
                }
            }
            "responses" => {
                let mut responses = Map::new();
                for (code, resp) in val.as_object().into_iter().flatten() {
                    let mut r = json!({"description": resp["description"].as_str().unwrap_or_default()});
                    if let Some(media) = resp["content"].as_object().and_then(|c| c.values().next()) {
                        r["schema"] = schema(&media["schema"]);
                    }
                    for t in content_types(resp) {
                        if !produces.contains(&t) {
                            produces.push(t);
                        }
                    }
                    responses.insert(code.clone(), r);
                }
                out.insert("responses".into(), Value::Object(responses));
            }
            _ => {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    if !produces.is_empty() {
        out.insert("produces".into(), json!(produces));
    }
    out.insert("schemes".into(), json!(["https"]));
    if params.as_array().is_some_and(|p| !p.is_empty()) {
        out.insert("parameters".into(), params);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_lose_siblings_kubectl_rejects() {
        let v3 = json!({"allOf": [{"$ref": "#/components/schemas/a.B"}], "type": "object", "description": "d", "default": {}});
        assert_eq!(schema(&v3), json!({"$ref": "#/definitions/a.B", "description": "d", "default": {}}));
    }

    #[test]
    fn crd_only_keywords_go_as_upstream() {
        let v3 = json!({"type": "object", "properties": {
            "n": {"type": "string", "nullable": true},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}},
            "ios": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "list": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"]}
        }});
        let v2 = schema(&v3);
        assert_eq!(v2["properties"]["n"], json!({}));
        assert_eq!(v2["properties"]["free"], json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        assert_eq!(v2["properties"]["ios"], json!({"x-kubernetes-int-or-string": true}));
        assert_eq!(v2["properties"]["list"]["x-kubernetes-list-map-keys"], json!(["k"]));
        assert_eq!(v2["properties"]["list"]["items"]["properties"]["k"]["type"], "string");
    }

    #[test]
    fn operations_name_their_media_types_and_body() {
        let v3 = json!({"paths": {"/api/v1/namespaces/{namespace}/configmaps/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "patch": {"operationId": "patchConfigMap", "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
                "requestBody": {"required": true, "content": {"application/merge-patch+json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/io.k8s.api.core.v1.ConfigMap"}}}}}}}}});
        let doc = from_v3([&v3]);
        let item = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"];
        assert_eq!(item["parameters"][0], json!({"name": "name", "in": "path", "required": true, "type": "string"}));
        let patch = &item["patch"];
        assert_eq!(patch["consumes"], json!(["application/merge-patch+json"]));
        assert_eq!(patch["produces"], json!(["application/json"]));
        assert_eq!(patch["parameters"][0]["in"], "body");
        assert_eq!(patch["parameters"][1], json!({"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}));
        assert_eq!(patch["responses"]["200"]["schema"]["$ref"], "#/definitions/io.k8s.api.core.v1.ConfigMap");
        assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "ConfigMap");
    }

    #[test]
    fn document_defines_every_served_kind_by_gvk() {
        use crate::registry::builtin::builtins;
        let served: Vec<_> = builtins().iter().map(|b| b.info.clone()).collect();
        let docs = crate::openapi::cache::documents(&served);
        let doc: Value = serde_json::from_slice(&docs.v2().json).expect("json");
        assert_eq!(doc["swagger"], "2.0");
        let defs = doc["definitions"].as_object().expect("definitions");
        for r in &served {
            let found = defs.values().any(|d| {
                d["x-kubernetes-group-version-kind"].as_array().is_some_and(|l| l.contains(&json!({"group": r.group, "kind": r.kind, "version": r.version})))
            });
            assert!(found, "{}/{} {}", r.group, r.version, r.kind);
        }
        assert_eq!(defs["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"], "string");
        let text = doc.to_string();
        assert!(!text.contains("#/components/schemas/"), "every reference points into definitions");
        // JSONSchemaProps has fields named like these keywords, so only schema positions count.
        fn v3_keywords(v: &Value, found: &mut Vec<String>) {
            let Value::Object(m) = v else { return };
            found.extend(m.keys().filter(|k| V3_ONLY.contains(&k.as_str())).cloned());
            for (k, val) in m {
                match (k.as_str(), val) {
                    ("properties" | "definitions", Value::Object(props)) => props.values().for_each(|p| v3_keywords(p, found)),
                    _ => v3_keywords(val, found),
                }
            }
        }
        let mut found = Vec::new();
        v3_keywords(&doc["definitions"], &mut found);
        assert!(found.is_empty(), "{found:?}");
        eprintln!("/openapi/v2 built-ins: {} bytes JSON, {} bytes protobuf", docs.v2().json.len(), docs.v2().proto.len());
    }
}
