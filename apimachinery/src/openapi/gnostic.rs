//! The protobuf form of `/openapi/v2`: gnostic's `openapi.v2.Document`
//! (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`), the only form kubectl asks
//! for.
//!
//! No crate in the tree carries these messages (k8s-pb has the API types only), so the subset
//! this server writes is declared here with gnostic's field numbers (openapiv2/OpenAPIv2.proto).
//! Fields it never sets are left out; a decoder skips unknown fields, so that is safe.
//! Values of vendor extensions, defaults, enums and examples travel as YAML text in `Any.yaml`
//! the way gnostic fills them; JSON is YAML, so the JSON text is written as is.

use prost::Message;
use serde_json::{Map, Value};

/// `openapi.v2.Document`.
#[derive(Clone, PartialEq, Message)]
pub struct Document {
    #[prost(string, tag = "1")]
    pub swagger: String,
    #[prost(message, optional, tag = "2")]
    pub info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    pub paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    pub definitions: Option<Definitions>,
    #[prost(message, repeated, tag = "16")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.Info`.
#[derive(Clone, PartialEq, Message)]
pub struct Info {
    #[prost(string, tag = "1")]
    pub title: String,
    #[prost(string, tag = "2")]
    pub version: String,
    #[prost(string, tag = "3")]
    pub description: String,
}

/// `openapi.v2.Any`: a value as YAML text.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    #[prost(string, tag = "2")]
    pub yaml: String,
}

/// `openapi.v2.NamedAny`: one vendor extension.
#[derive(Clone, PartialEq, Message)]
pub struct NamedAny {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Any>,
}

/// `openapi.v2.Paths`.
#[derive(Clone, PartialEq, Message)]
pub struct Paths {
    #[prost(message, repeated, tag = "1")]
    pub vendor_extension: Vec<NamedAny>,
    #[prost(message, repeated, tag = "2")]
    pub path: Vec<NamedPathItem>,
}

/// `openapi.v2.NamedPathItem`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedPathItem {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<PathItem>,
}

/// `openapi.v2.PathItem`.
#[derive(Clone, PartialEq, Message)]
pub struct PathItem {
    #[prost(message, optional, tag = "2")]
    pub get: Option<Operation>,
    #[prost(message, optional, tag = "3")]
    pub put: Option<Operation>,
    #[prost(message, optional, tag = "4")]
    pub post: Option<Operation>,
    #[prost(message, optional, tag = "5")]
    pub delete: Option<Operation>,
    #[prost(message, optional, tag = "8")]
    pub patch: Option<Operation>,
    #[prost(message, repeated, tag = "9")]
    pub parameters: Vec<ParametersItem>,
    #[prost(message, repeated, tag = "10")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.Operation`.
#[derive(Clone, PartialEq, Message)]
pub struct Operation {
    #[prost(string, repeated, tag = "1")]
    pub tags: Vec<String>,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "5")]
    pub operation_id: String,
    #[prost(string, repeated, tag = "6")]
    pub produces: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    pub consumes: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    pub parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    pub responses: Option<Responses>,
    #[prost(string, repeated, tag = "10")]
    pub schemes: Vec<String>,
    #[prost(message, repeated, tag = "13")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.ParametersItem` (references to shared parameters are never written).
#[derive(Clone, PartialEq, Message)]
pub struct ParametersItem {
    #[prost(message, optional, tag = "1")]
    pub parameter: Option<Parameter>,
}

/// `openapi.v2.Parameter`.
#[derive(Clone, PartialEq, Message)]
pub struct Parameter {
    #[prost(oneof = "ParameterKind", tags = "1, 2")]
    pub oneof: Option<ParameterKind>,
}

/// The `oneof` of `openapi.v2.Parameter`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ParameterKind {
    #[prost(message, tag = "1")]
    BodyParameter(BodyParameter),
    #[prost(message, tag = "2")]
    NonBodyParameter(NonBodyParameter),
}

/// `openapi.v2.BodyParameter`.
#[derive(Clone, PartialEq, Message)]
pub struct BodyParameter {
    #[prost(string, tag = "1")]
    pub description: String,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(string, tag = "3")]
    pub r#in: String,
    #[prost(bool, tag = "4")]
    pub required: bool,
    #[prost(message, optional, boxed, tag = "5")]
    pub schema: Option<Box<Schema>>,
}

/// `openapi.v2.NonBodyParameter`.
#[derive(Clone, PartialEq, Message)]
pub struct NonBodyParameter {
    #[prost(oneof = "NonBodyKind", tags = "3, 4")]
    pub oneof: Option<NonBodyKind>,
}

/// The `oneof` of `openapi.v2.NonBodyParameter` (header and form parameters are never written).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum NonBodyKind {
    #[prost(message, tag = "3")]
    QueryParameterSubSchema(SimpleParameter),
    #[prost(message, tag = "4")]
    PathParameterSubSchema(PathParameter),
}

/// `openapi.v2.QueryParameterSubSchema` (its first fields; the rest are constraints never used).
#[derive(Clone, PartialEq, Message)]
pub struct SimpleParameter {
    #[prost(bool, tag = "1")]
    pub required: bool,
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "6")]
    pub r#type: String,
    #[prost(bool, tag = "20")]
    pub unique_items: bool,
}

/// `openapi.v2.PathParameterSubSchema`, whose numbering differs from the query form's.
#[derive(Clone, PartialEq, Message)]
pub struct PathParameter {
    #[prost(bool, tag = "1")]
    pub required: bool,
    #[prost(string, tag = "2")]
    pub r#in: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(string, tag = "4")]
    pub name: String,
    #[prost(string, tag = "5")]
    pub r#type: String,
    #[prost(bool, tag = "19")]
    pub unique_items: bool,
}

/// `openapi.v2.Responses`.
#[derive(Clone, PartialEq, Message)]
pub struct Responses {
    #[prost(message, repeated, tag = "1")]
    pub response_code: Vec<NamedResponseValue>,
}

/// `openapi.v2.NamedResponseValue`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedResponseValue {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<ResponseValue>,
}

/// `openapi.v2.ResponseValue` with its `response` branch.
#[derive(Clone, PartialEq, Message)]
pub struct ResponseValue {
    #[prost(message, optional, tag = "1")]
    pub response: Option<Response>,
}

/// `openapi.v2.Response`.
#[derive(Clone, PartialEq, Message)]
pub struct Response {
    #[prost(string, tag = "1")]
    pub description: String,
    #[prost(message, optional, tag = "2")]
    pub schema: Option<SchemaItem>,
}

/// `openapi.v2.SchemaItem` with its `schema` branch.
#[derive(Clone, PartialEq, Message)]
pub struct SchemaItem {
    #[prost(message, optional, tag = "1")]
    pub schema: Option<Schema>,
}

/// `openapi.v2.Definitions`.
#[derive(Clone, PartialEq, Message)]
pub struct Definitions {
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

/// `openapi.v2.NamedSchema`, also the entries of `openapi.v2.Properties`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedSchema {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<Schema>,
}

/// `openapi.v2.Properties`.
#[derive(Clone, PartialEq, Message)]
pub struct Properties {
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

/// `openapi.v2.TypeItem`.
#[derive(Clone, PartialEq, Message)]
pub struct TypeItem {
    #[prost(string, repeated, tag = "1")]
    pub value: Vec<String>,
}

/// `openapi.v2.ItemsItem`.
#[derive(Clone, PartialEq, Message)]
pub struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    pub schema: Vec<Schema>,
}

/// `openapi.v2.AdditionalPropertiesItem`.
#[derive(Clone, PartialEq, Message)]
pub struct AdditionalPropertiesItem {
    #[prost(oneof = "AdditionalProperties", tags = "1, 2")]
    pub oneof: Option<AdditionalProperties>,
}

/// The `oneof` of `openapi.v2.AdditionalPropertiesItem`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum AdditionalProperties {
    #[prost(message, boxed, tag = "1")]
    Schema(Box<Schema>),
    #[prost(bool, tag = "2")]
    Boolean(bool),
}

/// `openapi.v2.Schema`.
#[derive(Clone, PartialEq, Message)]
pub struct Schema {
    #[prost(string, tag = "1")]
    pub xref: String,
    #[prost(string, tag = "2")]
    pub format: String,
    #[prost(string, tag = "3")]
    pub title: String,
    #[prost(string, tag = "4")]
    pub description: String,
    #[prost(message, optional, tag = "5")]
    pub default: Option<Any>,
    #[prost(double, tag = "6")]
    pub multiple_of: f64,
    #[prost(double, tag = "7")]
    pub maximum: f64,
    #[prost(bool, tag = "8")]
    pub exclusive_maximum: bool,
    #[prost(double, tag = "9")]
    pub minimum: f64,
    #[prost(bool, tag = "10")]
    pub exclusive_minimum: bool,
    #[prost(int64, tag = "11")]
    pub max_length: i64,
    #[prost(int64, tag = "12")]
    pub min_length: i64,
    #[prost(string, tag = "13")]
    pub pattern: String,
    #[prost(int64, tag = "14")]
    pub max_items: i64,
    #[prost(int64, tag = "15")]
    pub min_items: i64,
    #[prost(bool, tag = "16")]
    pub unique_items: bool,
    #[prost(int64, tag = "17")]
    pub max_properties: i64,
    #[prost(int64, tag = "18")]
    pub min_properties: i64,
    #[prost(string, repeated, tag = "19")]
    pub required: Vec<String>,
    #[prost(message, repeated, tag = "20")]
    pub r#enum: Vec<Any>,
    #[prost(message, optional, tag = "21")]
    pub additional_properties: Option<AdditionalPropertiesItem>,
    #[prost(message, optional, tag = "22")]
    pub r#type: Option<TypeItem>,
    #[prost(message, optional, tag = "23")]
    pub items: Option<ItemsItem>,
    #[prost(message, repeated, tag = "24")]
    pub all_of: Vec<Schema>,
    #[prost(message, optional, tag = "25")]
    pub properties: Option<Properties>,
    #[prost(string, tag = "26")]
    pub discriminator: String,
    #[prost(bool, tag = "27")]
    pub read_only: bool,
    #[prost(message, optional, tag = "30")]
    pub example: Option<Any>,
    #[prost(message, repeated, tag = "31")]
    pub vendor_extension: Vec<NamedAny>,
}

/// The protobuf encoding of a Swagger 2.0 JSON document.
pub fn encode(doc: &Value) -> Vec<u8> {
    document(doc).encode_to_vec()
}

/// A Swagger 2.0 JSON document as gnostic's message.
pub fn document(doc: &Value) -> Document {
    let paths = doc["paths"].as_object().into_iter().flatten().map(|(name, item)| NamedPathItem { name: name.clone(), value: Some(path_item(item)) });
    Document {
        swagger: text(&doc["swagger"]),
        info: Some(Info { title: text(&doc["info"]["title"]), version: text(&doc["info"]["version"]), description: text(&doc["info"]["description"]) }),
        paths: Some(Paths { vendor_extension: Vec::new(), path: paths.collect() }),
        definitions: Some(Definitions { additional_properties: named_schemas(&doc["definitions"]) }),
        vendor_extension: extensions(doc),
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn any(v: &Value) -> Any {
    Any { yaml: v.to_string() }
}

fn extensions(v: &Value) -> Vec<NamedAny> {
    let fields = v.as_object().into_iter().flatten();
    fields.filter(|(k, _)| k.starts_with("x-")).map(|(k, val)| NamedAny { name: k.clone(), value: Some(any(val)) }).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(String::from).collect()
}

fn path_item(item: &Value) -> PathItem {
    let op = |method: &str| item.get(method).map(operation);
    PathItem {
        get: op("get"),
        put: op("put"),
        post: op("post"),
        delete: op("delete"),
        patch: op("patch"),
        parameters: parameters(&item["parameters"]),
        vendor_extension: extensions(item),
    }
}

fn operation(op: &Value) -> Operation {
    let responses = op["responses"].as_object().into_iter().flatten().map(|(code, r)| NamedResponseValue {
        name: code.clone(),
        value: Some(ResponseValue {
            response: Some(Response { description: text(&r["description"]), schema: r.get("schema").map(|s| SchemaItem { schema: Some(schema(s)) }) }),
        }),
    });
    Operation {
        tags: strings(&op["tags"]),
        description: text(&op["description"]),
        operation_id: text(&op["operationId"]),
        produces: strings(&op["produces"]),
        consumes: strings(&op["consumes"]),
        parameters: parameters(&op["parameters"]),
        responses: Some(Responses { response_code: responses.collect() }),
        schemes: strings(&op["schemes"]),
        vendor_extension: extensions(op),
    }
}

fn parameters(list: &Value) -> Vec<ParametersItem> {
    let one = |p: &Value| {
        let (name, r#in, description, required) = (text(&p["name"]), text(&p["in"]), text(&p["description"]), p["required"].as_bool().unwrap_or(false));
        let (r#type, unique_items) = (text(&p["type"]), p["uniqueItems"].as_bool().unwrap_or(false));
        let kind = match r#in.as_str() {
            "body" => ParameterKind::BodyParameter(BodyParameter { description, name, r#in, required, schema: Some(Box::new(schema(&p["schema"]))) }),
            "path" => ParameterKind::NonBodyParameter(NonBodyParameter {
                oneof: Some(NonBodyKind::PathParameterSubSchema(PathParameter { required, r#in, description, name, r#type, unique_items })),
            }),
            _ => ParameterKind::NonBodyParameter(NonBodyParameter {
                oneof: Some(NonBodyKind::QueryParameterSubSchema(SimpleParameter { required, r#in, description, name, r#type, unique_items })),
            }),
        };
        ParametersItem { parameter: Some(Parameter { oneof: Some(kind) }) }
    };
    list.as_array().into_iter().flatten().map(one).collect()
}

fn named_schemas(map: &Value) -> Vec<NamedSchema> {
    map.as_object().into_iter().flatten().map(|(name, s)| NamedSchema { name: name.clone(), value: Some(schema(s)) }).collect()
}

/// One v2 JSON schema as gnostic's message.
pub fn schema(v: &Value) -> Schema {
    let empty = Map::new();
    let m = v.as_object().unwrap_or(&empty);
    let f = |k: &str| m.get(k).and_then(Value::as_f64).unwrap_or_default();
    let i = |k: &str| m.get(k).and_then(Value::as_i64).unwrap_or_default();
    let b = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or_default();
    let t = |k: &str| m.get(k).map(text).unwrap_or_default();
    let additional_properties = m.get("additionalProperties").map(|a| {
        let oneof = match a {
            Value::Bool(x) => AdditionalProperties::Boolean(*x),
            s => AdditionalProperties::Schema(Box::new(schema(s))),
        };
        AdditionalPropertiesItem { oneof: Some(oneof) }
    });
    let r#type = m.get("type").map(|ty| TypeItem { value: if ty.is_array() { strings(ty) } else { vec![text(ty)] } });
    let items = m.get("items").map(|it| ItemsItem { schema: if let Value::Array(a) = it { a.iter().map(schema).collect() } else { vec![schema(it)] } });
    Schema {
        xref: t("$ref"),
        format: t("format"),
        title: t("title"),
        description: t("description"),
        default: m.get("default").map(any),
        multiple_of: f("multipleOf"),
        maximum: f("maximum"),
        exclusive_maximum: b("exclusiveMaximum"),
        minimum: f("minimum"),
        exclusive_minimum: b("exclusiveMinimum"),
        max_length: i("maxLength"),
        min_length: i("minLength"),
        pattern: t("pattern"),
        max_items: i("maxItems"),
        min_items: i("minItems"),
        unique_items: b("uniqueItems"),
        max_properties: i("maxProperties"),
        min_properties: i("minProperties"),
        required: m.get("required").map(strings).unwrap_or_default(),
        r#enum: m.get("enum").and_then(Value::as_array).into_iter().flatten().map(any).collect(),
        additional_properties,
        r#type,
        items,
        all_of: m.get("allOf").and_then(Value::as_array).into_iter().flatten().map(schema).collect(),
        properties: m.get("properties").map(|p| Properties { additional_properties: named_schemas(p) }),
        discriminator: t("discriminator"),
        read_only: b("readOnly"),
        example: m.get("example").map(any),
        vendor_extension: extensions(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::cache::documents;
    use crate::registry::builtin::builtins;

    fn built_in_document() -> Value {
        let served: Vec<_> = builtins().iter().map(|b| b.info.clone()).collect();
        serde_json::from_slice(&documents(&served).v2().json).expect("json")
    }

    fn extension<'a>(exts: &'a [NamedAny], name: &str) -> Option<&'a str> {
        exts.iter().find(|e| e.name == name).and_then(|e| e.value.as_ref()).map(|a| a.yaml.as_str())
    }

    #[test]
    fn round_trips_through_prost() {
        let json = built_in_document();
        let bytes = encode(&json);
        let decoded = Document::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(decoded, document(&json));
        let defs = decoded.definitions.expect("definitions").additional_properties;
        let cm = defs.iter().find(|d| d.name == "io.k8s.api.core.v1.ConfigMap").and_then(|d| d.value.as_ref()).expect("ConfigMap");
        let gvk: Value = serde_json::from_str(extension(&cm.vendor_extension, "x-kubernetes-group-version-kind").expect("gvk")).expect("yaml is json");
        assert_eq!(gvk, serde_json::json!([{"group": "", "kind": "ConfigMap", "version": "v1"}]));
        let props = &cm.properties.as_ref().expect("properties").additional_properties;
        let meta = props.iter().find(|p| p.name == "metadata").and_then(|p| p.value.as_ref()).expect("metadata");
        assert_eq!(meta.xref, "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
        assert!(meta.r#type.is_none(), "kubectl rejects a typed reference");
        let data = props.iter().find(|p| p.name == "data").and_then(|p| p.value.as_ref()).expect("data");
        let values = data.additional_properties.as_ref().and_then(|a| a.oneof.as_ref());
        assert!(matches!(values, Some(AdditionalProperties::Schema(s)) if s.r#type.as_ref().map(|t| t.value.clone()) == Some(vec!["string".to_string()])));
    }

    #[test]
    fn patch_operations_name_gvk_and_field_validation() {
        let decoded = Document::decode(encode(&built_in_document()).as_slice()).expect("decodes");
        let paths = decoded.paths.expect("paths").path;
        let item = paths.iter().find(|p| p.name == "/api/v1/namespaces/{namespace}/configmaps/{name}").and_then(|p| p.value.as_ref()).expect("path");
        let patch = item.patch.as_ref().expect("patch");
        let gvk: Value = serde_json::from_str(extension(&patch.vendor_extension, "x-kubernetes-group-version-kind").expect("gvk")).expect("json");
        assert_eq!(gvk, serde_json::json!({"group": "", "version": "v1", "kind": "ConfigMap"}));
        let query = |p: &ParametersItem| match p.parameter.as_ref().and_then(|p| p.oneof.as_ref()) {
            Some(ParameterKind::NonBodyParameter(NonBodyParameter { oneof: Some(NonBodyKind::QueryParameterSubSchema(q)) })) => Some(q.name.clone()),
            _ => None,
        };
        assert!(patch.parameters.iter().filter_map(query).any(|n| n == "fieldValidation"));
        assert!(patch.consumes.contains(&"application/merge-patch+json".to_string()));
        assert!(!patch.consumes.contains(&"application/strategic-merge-patch+json".to_string()));
        assert_eq!(item.parameters.len(), 2, "name and namespace");
    }
}
