//! What Go's JSON decoder refuses in a built-in object: a value of the wrong JSON type for its
//! field, such as `"data": {"port": 8080}` in a ConfigMap (Python dicts make that easy).
//!
//! kube-apiserver decodes a built-in into its Go struct before anything else, so such a body
//! never reaches storage there, and Go clients rely on every stored object decoding. Objects
//! stay JSON here, so a walk over the kind's OpenAPI definition stands in for that decode and
//! words the first mismatch (in document order, as Go stops at the first) like Go's
//! `*json.UnmarshalTypeError`. Types with their own decoders are approximated by what they
//! accept: times are strings, quantities and int-or-strings are strings or numbers, raw
//! extensions and field sets are anything.

use serde_json::{Map, Value};

/// One value Go could not decode, with the context kube-apiserver prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeMismatch {
    /// What was found: `string`, `number`, `number 1.5`, `bool`, `array` or `object`.
    value: String,
    /// The Go type of the field (`string`, `int32`, `map[string]string`, `v1.ObjectMeta`).
    go_type: String,
    /// The innermost Go struct holding the field (`ObjectMeta`).
    strukt: String,
    /// JSON field names from the object's root; map keys and list indexes are not part of it.
    field: String,
}

impl std::fmt::Display for TypeMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "json: cannot unmarshal {} into Go struct field {}.{} of type {}", self.value, self.strukt, self.field, self.go_type)
    }
}

/// The first value in `obj` that Go could not decode into the built-in `group/version/kind`;
/// None for a well-typed object or a kind without a compiled-in definition.
pub fn first_mismatch(group: &str, version: &str, kind: &str, obj: &Value) -> Option<TypeMismatch> {
    let (defs, name) = crate::openapi::builtin_definition(group, version, kind)?;
    let walk = Walk { defs };
    let Shape::Struct { props, .. } = walk.named(name) else { return None };
    walk.fields(props, obj.as_object()?, short_name(name), &mut Vec::new())
}

/// How Go decodes one field, from its schema.
#[derive(Clone, Copy)]
enum Shape<'a> {
    Any,
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Float,
    IntOrString,
    Array(&'a Value),
    Map(&'a Value),
    /// `def` names the definition; none for an inline object schema.
    Struct {
        def: Option<&'a str>,
        props: &'a Map<String, Value>,
    },
}

struct Walk {
    defs: &'static Map<String, Value>,
}

/// `io.k8s.api.core.v1.ConfigMap` → `ConfigMap`.
fn short_name(def: &str) -> &str {
    def.rsplit('.').next().unwrap_or(def)
}

/// `io.k8s.api.core.v1.ConfigMap` → `v1.ConfigMap`, Go's `package.Type`.
fn go_name(def: &str) -> String {
    let mut parts = def.rsplit('.');
    match (parts.next(), parts.next()) {
        (Some(t), Some(p)) => format!("{p}.{t}"),
        _ => def.to_string(),
    }
}

/// The definition a schema refers to, directly or as the single member of `allOf`.
fn target(schema: &Value) -> Option<&str> {
    crate::openapi::ref_name(schema).or_else(|| match schema.get("allOf").and_then(Value::as_array) {
        Some(list) if list.len() == 1 => crate::openapi::ref_name(&list[0]),
        _ => None,
    })
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Walk {
    fn named(&self, name: &'static str) -> Shape<'static> {
        match short_name(name) {
            "Time" | "MicroTime" => return Shape::String,
            "Quantity" | "IntOrString" => return Shape::IntOrString,
            "RawExtension" | "FieldsV1" | "JSON" | "JSONSchemaPropsOrArray" | "JSONSchemaPropsOrBool" | "JSONSchemaPropsOrStringArray" => return Shape::Any,
            _ => {}
        }
        match self.defs.get(name).map(|d| self.shape(d)) {
            Some(Shape::Struct { props, .. }) => Shape::Struct { def: Some(name), props },
            Some(other) => other,
            None => Shape::Any,
        }
    }

    /// The shape of `schema`, remembered by its address: the definitions live as long as the
    /// process (so at most one entry per schema node), and reading a shape takes up to five
    /// lookups by name (2 % of a create's CPU).
    fn shape(&self, schema: &'static Value) -> Shape<'static> {
        thread_local!(static SHAPES: std::cell::RefCell<std::collections::HashMap<usize, Shape<'static>>> = Default::default());
        let address = schema as *const Value as usize;
        if let Some(shape) = SHAPES.with_borrow(|shapes| shapes.get(&address).copied()) {
            return shape;
        }
        let shape = self.read_shape(schema);
        SHAPES.with_borrow_mut(|shapes| shapes.insert(address, shape));
        shape
    }

    fn read_shape(&self, schema: &'static Value) -> Shape<'static> {
        if let Some(name) = target(schema) {
            return self.named(name);
        }
        if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
            return Shape::IntOrString;
        }
        let format = schema.get("format").and_then(Value::as_str).unwrap_or_default();
        match schema.get("type").and_then(Value::as_str).unwrap_or_default() {
            "string" if format == "byte" => Shape::Bytes,
            "string" => Shape::String,
            "boolean" => Shape::Bool,
            "integer" if format == "int32" => Shape::Int32,
            "integer" => Shape::Int64,
            "number" => Shape::Float,
            "array" => schema.get("items").map_or(Shape::Any, Shape::Array),
            "object" => match (schema.get("properties").and_then(Value::as_object), schema.get("additionalProperties")) {
                (Some(props), _) => Shape::Struct { def: None, props },
                (None, Some(values)) if values.is_object() => Shape::Map(values),
                _ => Shape::Any,
            },
            _ => Shape::Any,
        }
    }

    /// Go's name for the type of a field with this schema.
    fn go_type(&self, shape: &Shape<'static>) -> String {
        match shape {
            Shape::Any => "interface {}".into(),
            Shape::String => "string".into(),
            Shape::Bytes => "[]uint8".into(),
            Shape::Bool => "bool".into(),
            Shape::Int32 | Shape::IntOrString => "int32".into(),
            Shape::Int64 => "int64".into(),
            Shape::Float => "float64".into(),
            Shape::Array(items) => format!("[]{}", self.go_type(&self.shape(items))),
            Shape::Map(values) => format!("map[string]{}", self.go_type(&self.shape(values))),
            Shape::Struct { def, .. } => def.map_or_else(|| "struct".into(), go_name),
        }
    }

    /// Checks the known fields of a struct; unknown ones are pruning's business.
    fn fields<'o>(&self, props: &'static Map<String, Value>, obj: &'o Map<String, Value>, strukt: &str, path: &mut Vec<&'o str>) -> Option<TypeMismatch> {
        obj.iter().find_map(|(key, v)| {
            let schema = props.get(key)?;
            path.push(key);
            let found = self.value(schema, v, strukt, path);
            path.pop();
            found
        })
    }

    fn value<'o>(&self, schema: &'static Value, v: &'o Value, strukt: &str, path: &mut Vec<&'o str>) -> Option<TypeMismatch> {
        let shape = self.shape(schema);
        let mismatch = |found: String| Some(TypeMismatch { value: found, go_type: self.go_type(&shape), strukt: strukt.to_string(), field: path.join(".") });
        let integral = |n: &serde_json::Number, fits: fn(i64) -> bool| n.as_i64().is_some_and(fits);
        match (&shape, v) {
            // A JSON null leaves Go's zero value, whatever the type.
            (_, Value::Null) | (Shape::Any, _) => None,
            (Shape::String | Shape::Bytes, Value::String(_)) | (Shape::Bool, Value::Bool(_)) | (Shape::Float, Value::Number(_)) => None,
            (Shape::IntOrString, Value::String(_) | Value::Number(_)) => None,
            (Shape::Int32, Value::Number(n)) if integral(n, |i| i32::try_from(i).is_ok()) => None,
            (Shape::Int64, Value::Number(n)) if integral(n, |_| true) => None,
            (Shape::Int32 | Shape::Int64, Value::Number(n)) => mismatch(format!("number {n}")),
            (Shape::Array(items), Value::Array(list)) => list.iter().find_map(|item| self.value(items, item, strukt, path)),
            (Shape::Map(values), Value::Object(map)) => map.values().find_map(|item| self.value(values, item, strukt, path)),
            (Shape::Struct { def, props }, Value::Object(map)) => {
                // Fields below are reported against this struct, under the full path.
                self.fields(props, map, def.map_or("struct", short_name), path)
            }
            (_, other) => mismatch(json_kind(other).to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn message(group: &str, kind: &str, obj: Value) -> Option<String> {
        let version = if group.is_empty() || group == "rbac.authorization.k8s.io" || group == "coordination.k8s.io" { "v1" } else { "v1alpha1" };
        first_mismatch(group, version, kind, &obj).map(|m| m.to_string())
    }

    #[test]
    fn well_typed_objects_pass() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "b"}, "creationTimestamp": null,
                        "managedFields": [{"fieldsV1": {"f:data": {}}}]}, "data": {"k": "v"}, "binaryData": {"b": "AA=="}, "immutable": true});
        assert_eq!(message("", "ConfigMap", cm), None);
        let quota = json!({"spec": {"hard": {"pods": 10, "cpu": "1.5", "memory": 0.5}}});
        assert_eq!(message("", "ResourceQuota", quota), None);
        let lease = json!({"spec": {"leaseDurationSeconds": 15, "renewTime": "2026-01-01T00:00:00.000000Z"}});
        assert_eq!(message("coordination.k8s.io", "Lease", lease), None);
        // Fields the kind does not have are left to pruning.
        assert_eq!(message("", "ConfigMap", json!({"spec": 1, "metadata": {"bogus": []}})), None);
        assert_eq!(message("tenancy.kcp.io", "Workspace", json!({"spec": {"anything": [1, "x"]}})), None);
    }

    #[test]
    fn mismatches_read_like_go() {
        let cases = [
            ("", "ConfigMap", json!({"data": {"port": 8080}}), "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"),
            ("", "ConfigMap", json!({"data": "text"}), "json: cannot unmarshal string into Go struct field ConfigMap.data of type map[string]string"),
            (
                "",
                "ConfigMap",
                json!({"metadata": {"labels": {"a": true}}}),
                "json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string",
            ),
            ("", "ConfigMap", json!({"metadata": "c"}), "json: cannot unmarshal string into Go struct field ConfigMap.metadata of type v1.ObjectMeta"),
            ("", "Secret", json!({"data": {"k": 1}}), "json: cannot unmarshal number into Go struct field Secret.data of type []uint8"),
            (
                "rbac.authorization.k8s.io",
                "Role",
                json!({"rules": [{"verbs": "get"}]}),
                "json: cannot unmarshal string into Go struct field PolicyRule.rules.verbs of type []string",
            ),
            (
                "coordination.k8s.io",
                "Lease",
                json!({"spec": {"leaseDurationSeconds": 1.5}}),
                "json: cannot unmarshal number 1.5 into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32",
            ),
            (
                "",
                "Namespace",
                json!({"metadata": {"creationTimestamp": 5}}),
                "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string",
            ),
        ];
        // Twice: the second pass reads every shape from what the first remembered.
        for _ in 0..2 {
            for (group, kind, obj, want) in &cases {
                assert_eq!(message(group, kind, obj.clone()).as_deref(), Some(*want), "{kind} {obj}");
            }
        }
        // Go stops at the first problem, in document order.
        let two = json!({"data": {"a": 1}, "metadata": {"labels": {"b": 2}}});
        assert_eq!(message("", "ConfigMap", two).as_deref(), Some("json: cannot unmarshal number into Go struct field ConfigMap.data of type string"));
    }
}
