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
    /// Swagger version, always `2.0`.
    #[prost(string, tag = "1")]
    pub swagger: String,
    /// Title, version and description of the API.
    #[prost(message, optional, tag = "2")]
    pub info: Option<Info>,
    /// Every path the server serves, with its operations.
    #[prost(message, optional, tag = "8")]
    pub paths: Option<Paths>,
    /// Schemas of every kind, keyed by definition name.
    #[prost(message, optional, tag = "9")]
    pub definitions: Option<Definitions>,
    /// Top-level `x-*` extensions.
    #[prost(message, repeated, tag = "16")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.Info`.
#[derive(Clone, PartialEq, Message)]
pub struct Info {
    /// Title of the API (`Kubernetes`).
    #[prost(string, tag = "1")]
    pub title: String,
    /// Version of the API document.
    #[prost(string, tag = "2")]
    pub version: String,
    /// Free-form description of the API.
    #[prost(string, tag = "3")]
    pub description: String,
}

/// `openapi.v2.Any`: a value as YAML text.
#[derive(Clone, PartialEq, Message)]
pub struct Any {
    /// The value as YAML text (JSON text is YAML).
    #[prost(string, tag = "2")]
    pub yaml: String,
}

/// `openapi.v2.NamedAny`: one vendor extension.
#[derive(Clone, PartialEq, Message)]
pub struct NamedAny {
    /// Extension name, `x-` prefix included.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Extension value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Any>,
}

/// `openapi.v2.Paths`.
#[derive(Clone, PartialEq, Message)]
pub struct Paths {
    /// `x-*` extensions of the paths object (never written).
    #[prost(message, repeated, tag = "1")]
    pub vendor_extension: Vec<NamedAny>,
    /// Each path and its operations, in document order.
    #[prost(message, repeated, tag = "2")]
    pub path: Vec<NamedPathItem>,
}

/// `openapi.v2.NamedPathItem`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedPathItem {
    /// URL path template (`/api/v1/namespaces/{namespace}/configmaps`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// Operations and parameters of the path.
    #[prost(message, optional, tag = "2")]
    pub value: Option<PathItem>,
}

/// `openapi.v2.PathItem`.
#[derive(Clone, PartialEq, Message)]
pub struct PathItem {
    /// `get` operation (get, list, watch).
    #[prost(message, optional, tag = "2")]
    pub get: Option<Operation>,
    /// `put` operation (replace).
    #[prost(message, optional, tag = "3")]
    pub put: Option<Operation>,
    /// `post` operation (create).
    #[prost(message, optional, tag = "4")]
    pub post: Option<Operation>,
    /// `delete` operation (delete, deletecollection).
    #[prost(message, optional, tag = "5")]
    pub delete: Option<Operation>,
    /// `patch` operation.
    #[prost(message, optional, tag = "8")]
    pub patch: Option<Operation>,
    /// Parameters shared by every operation of the path.
    #[prost(message, repeated, tag = "9")]
    pub parameters: Vec<ParametersItem>,
    /// `x-*` extensions of the path.
    #[prost(message, repeated, tag = "10")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.Operation`.
#[derive(Clone, PartialEq, Message)]
pub struct Operation {
    /// Tags grouping the operation.
    #[prost(string, repeated, tag = "1")]
    pub tags: Vec<String>,
    /// What the operation does.
    #[prost(string, tag = "3")]
    pub description: String,
    /// Operation id, unique in the document.
    #[prost(string, tag = "5")]
    pub operation_id: String,
    /// Media types the operation answers with.
    #[prost(string, repeated, tag = "6")]
    pub produces: Vec<String>,
    /// Media types the operation accepts.
    #[prost(string, repeated, tag = "7")]
    pub consumes: Vec<String>,
    /// Parameters of this operation only.
    #[prost(message, repeated, tag = "8")]
    pub parameters: Vec<ParametersItem>,
    /// Responses by status code.
    #[prost(message, optional, tag = "9")]
    pub responses: Option<Responses>,
    /// URL schemes the operation is served on.
    #[prost(string, repeated, tag = "10")]
    pub schemes: Vec<String>,
    /// `x-*` extensions, including `x-kubernetes-action` and `x-kubernetes-group-version-kind`.
    #[prost(message, repeated, tag = "13")]
    pub vendor_extension: Vec<NamedAny>,
}

/// `openapi.v2.ParametersItem` (references to shared parameters are never written).
#[derive(Clone, PartialEq, Message)]
pub struct ParametersItem {
    /// The parameter itself.
    #[prost(message, optional, tag = "1")]
    pub parameter: Option<Parameter>,
}

/// `openapi.v2.Parameter`.
#[derive(Clone, PartialEq, Message)]
pub struct Parameter {
    /// Body or non-body parameter.
    #[prost(oneof = "ParameterKind", tags = "1, 2")]
    pub oneof: Option<ParameterKind>,
}

/// The `oneof` of `openapi.v2.Parameter`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum ParameterKind {
    /// The request body (`in: body`).
    #[prost(message, tag = "1")]
    BodyParameter(BodyParameter),
    /// A query or path parameter.
    #[prost(message, tag = "2")]
    NonBodyParameter(NonBodyParameter),
}

/// `openapi.v2.BodyParameter`.
#[derive(Clone, PartialEq, Message)]
pub struct BodyParameter {
    /// What the body carries.
    #[prost(string, tag = "1")]
    pub description: String,
    /// Parameter name (`body`).
    #[prost(string, tag = "2")]
    pub name: String,
    /// Location, always `body`.
    #[prost(string, tag = "3")]
    pub r#in: String,
    /// Whether the body must be sent.
    #[prost(bool, tag = "4")]
    pub required: bool,
    /// Schema of the body.
    #[prost(message, optional, boxed, tag = "5")]
    pub schema: Option<Box<Schema>>,
}

/// `openapi.v2.NonBodyParameter`.
#[derive(Clone, PartialEq, Message)]
pub struct NonBodyParameter {
    /// Query or path parameter.
    #[prost(oneof = "NonBodyKind", tags = "3, 4")]
    pub oneof: Option<NonBodyKind>,
}

/// The `oneof` of `openapi.v2.NonBodyParameter` (header and form parameters are never written).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum NonBodyKind {
    /// A query parameter (`in: query`).
    #[prost(message, tag = "3")]
    QueryParameterSubSchema(SimpleParameter),
    /// A path parameter (`in: path`).
    #[prost(message, tag = "4")]
    PathParameterSubSchema(PathParameter),
}

/// `openapi.v2.QueryParameterSubSchema` (its first fields; the rest are constraints never used).
#[derive(Clone, PartialEq, Message)]
pub struct SimpleParameter {
    /// Whether the parameter must be given.
    #[prost(bool, tag = "1")]
    pub required: bool,
    /// Location (`query`).
    #[prost(string, tag = "2")]
    pub r#in: String,
    /// What the parameter does.
    #[prost(string, tag = "3")]
    pub description: String,
    /// Parameter name (`fieldSelector`).
    #[prost(string, tag = "4")]
    pub name: String,
    /// Type of the value (`string`, `integer`, `boolean`).
    #[prost(string, tag = "6")]
    pub r#type: String,
    /// Whether repeated values must be distinct.
    #[prost(bool, tag = "20")]
    pub unique_items: bool,
}

/// `openapi.v2.PathParameterSubSchema`, whose numbering differs from the query form's.
#[derive(Clone, PartialEq, Message)]
pub struct PathParameter {
    /// Whether the parameter must be given (path parameters always must).
    #[prost(bool, tag = "1")]
    pub required: bool,
    /// Location, `path`.
    #[prost(string, tag = "2")]
    pub r#in: String,
    /// What the parameter names.
    #[prost(string, tag = "3")]
    pub description: String,
    /// Parameter name, as in the path template (`namespace`).
    #[prost(string, tag = "4")]
    pub name: String,
    /// Type of the value (`string`).
    #[prost(string, tag = "5")]
    pub r#type: String,
    /// Whether repeated values must be distinct.
    #[prost(bool, tag = "19")]
    pub unique_items: bool,
}

/// `openapi.v2.Responses`.
#[derive(Clone, PartialEq, Message)]
pub struct Responses {
    /// Each status code and its response.
    #[prost(message, repeated, tag = "1")]
    pub response_code: Vec<NamedResponseValue>,
}

/// `openapi.v2.NamedResponseValue`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedResponseValue {
    /// Status code (`200`, `201`).
    #[prost(string, tag = "1")]
    pub name: String,
    /// The response for that code.
    #[prost(message, optional, tag = "2")]
    pub value: Option<ResponseValue>,
}

/// `openapi.v2.ResponseValue` with its `response` branch.
#[derive(Clone, PartialEq, Message)]
pub struct ResponseValue {
    /// The response.
    #[prost(message, optional, tag = "1")]
    pub response: Option<Response>,
}

/// `openapi.v2.Response`.
#[derive(Clone, PartialEq, Message)]
pub struct Response {
    /// What the response means (`OK`).
    #[prost(string, tag = "1")]
    pub description: String,
    /// Schema of the response body.
    #[prost(message, optional, tag = "2")]
    pub schema: Option<SchemaItem>,
}

/// `openapi.v2.SchemaItem` with its `schema` branch.
#[derive(Clone, PartialEq, Message)]
pub struct SchemaItem {
    /// The schema.
    #[prost(message, optional, tag = "1")]
    pub schema: Option<Schema>,
}

/// `openapi.v2.Definitions`.
#[derive(Clone, PartialEq, Message)]
pub struct Definitions {
    /// Each definition and its schema.
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

/// `openapi.v2.NamedSchema`, also the entries of `openapi.v2.Properties`.
#[derive(Clone, PartialEq, Message)]
pub struct NamedSchema {
    /// Definition or property name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its schema.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Schema>,
}

/// `openapi.v2.Properties`.
#[derive(Clone, PartialEq, Message)]
pub struct Properties {
    /// Each property and its schema.
    #[prost(message, repeated, tag = "1")]
    pub additional_properties: Vec<NamedSchema>,
}

/// `openapi.v2.TypeItem`.
#[derive(Clone, PartialEq, Message)]
pub struct TypeItem {
    /// JSON types the value may have (`object`, `string`, ...).
    #[prost(string, repeated, tag = "1")]
    pub value: Vec<String>,
}

/// `openapi.v2.ItemsItem`.
#[derive(Clone, PartialEq, Message)]
pub struct ItemsItem {
    /// Schemas of the items: one, or one per position when `items` is a list.
    #[prost(message, repeated, tag = "1")]
    pub schema: Vec<Schema>,
}

/// `openapi.v2.AdditionalPropertiesItem`.
#[derive(Clone, PartialEq, Message)]
pub struct AdditionalPropertiesItem {
    /// A schema or a boolean.
    #[prost(oneof = "AdditionalProperties", tags = "1, 2")]
    pub oneof: Option<AdditionalProperties>,
}

/// The `oneof` of `openapi.v2.AdditionalPropertiesItem`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum AdditionalProperties {
    /// Schema of every additional property.
    #[prost(message, boxed, tag = "1")]
    Schema(Box<Schema>),
    /// Whether additional properties are allowed at all.
    #[prost(bool, tag = "2")]
    Boolean(bool),
}

/// `openapi.v2.Schema`.
#[derive(Clone, PartialEq, Message)]
pub struct Schema {
    /// `$ref`: the referenced definition (`#/definitions/...`).
    #[prost(string, tag = "1")]
    pub xref: String,
    /// Format of the value (`int32`, `date-time`, `byte`).
    #[prost(string, tag = "2")]
    pub format: String,
    /// Short title of the schema.
    #[prost(string, tag = "3")]
    pub title: String,
    /// What the value holds.
    #[prost(string, tag = "4")]
    pub description: String,
    /// Default value.
    #[prost(message, optional, tag = "5")]
    pub default: Option<Any>,
    /// `multipleOf`: the value must divide by it.
    #[prost(double, tag = "6")]
    pub multiple_of: f64,
    /// Largest value allowed.
    #[prost(double, tag = "7")]
    pub maximum: f64,
    /// Whether `maximum` itself is excluded.
    #[prost(bool, tag = "8")]
    pub exclusive_maximum: bool,
    /// Smallest value allowed.
    #[prost(double, tag = "9")]
    pub minimum: f64,
    /// Whether `minimum` itself is excluded.
    #[prost(bool, tag = "10")]
    pub exclusive_minimum: bool,
    /// Longest string allowed.
    #[prost(int64, tag = "11")]
    pub max_length: i64,
    /// Shortest string allowed.
    #[prost(int64, tag = "12")]
    pub min_length: i64,
    /// Regular expression a string must match.
    #[prost(string, tag = "13")]
    pub pattern: String,
    /// Most items a list may have.
    #[prost(int64, tag = "14")]
    pub max_items: i64,
    /// Fewest items a list must have.
    #[prost(int64, tag = "15")]
    pub min_items: i64,
    /// Whether list items must be distinct.
    #[prost(bool, tag = "16")]
    pub unique_items: bool,
    /// Most properties an object may have.
    #[prost(int64, tag = "17")]
    pub max_properties: i64,
    /// Fewest properties an object must have.
    #[prost(int64, tag = "18")]
    pub min_properties: i64,
    /// Properties that must be present.
    #[prost(string, repeated, tag = "19")]
    pub required: Vec<String>,
    /// Values allowed, when the schema is an enum.
    #[prost(message, repeated, tag = "20")]
    pub r#enum: Vec<Any>,
    /// `additionalProperties`: the schema of map values.
    #[prost(message, optional, tag = "21")]
    pub additional_properties: Option<AdditionalPropertiesItem>,
    /// JSON type of the value.
    #[prost(message, optional, tag = "22")]
    pub r#type: Option<TypeItem>,
    /// Schema of list items.
    #[prost(message, optional, tag = "23")]
    pub items: Option<ItemsItem>,
    /// `allOf`: schemas the value must also match.
    #[prost(message, repeated, tag = "24")]
    pub all_of: Vec<Schema>,
    /// Schemas of the object's properties.
    #[prost(message, optional, tag = "25")]
    pub properties: Option<Properties>,
    /// Property naming a polymorphic object's type.
    #[prost(string, tag = "26")]
    pub discriminator: String,
    /// Whether the property is set by the server only.
    #[prost(bool, tag = "27")]
    pub read_only: bool,
    /// Example value.
    #[prost(message, optional, tag = "30")]
    pub example: Option<Any>,
    /// `x-*` extensions (`x-kubernetes-list-type`, `x-kubernetes-patch-strategy`, ...).
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
