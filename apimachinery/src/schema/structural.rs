//! The checks a CRD version's `openAPIV3Schema` must pass before the CRD is stored: the
//! structural-schema invariants, valid and pruned defaults, and the keyword restrictions of
//! apiextensions' OpenAPI validation.
//!
//! They run in upstream's order and with its field paths (`properties[spec].type`), so the 422
//! a user gets for a bad CRD reads like kube-apiserver's. Structural errors are sorted by their
//! text as upstream sorts them; defaults are only checked once the schema is structural.

use super::{compiled_pattern, flag, properties, prune::prune_value, type_of, validate::validate_under, META_FIELDS, OPENAPI_TYPES};
use crate::status::FieldError;
use serde_json::{json, Value};

/// Checks a CRD version's `openAPIV3Schema`; `field_prefix` is its field path, e.g.
/// `spec.versions[0].schema.openAPIV3Schema`.
pub fn validate_structural(schema: &Value, field_prefix: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if flag(schema, "nullable") {
        errs.push(FieldError::forbidden(format!("{field_prefix}.nullable"), "nullable cannot be true at the root"));
    }
    let mut structural = Vec::new();
    invariants(schema, Level::Root, field_prefix, &mut structural);
    completeness(schema, schema, field_prefix, field_prefix, &mut structural);
    structural.sort_by_key(|e| e.to_string());
    let is_structural = structural.is_empty();
    errs.extend(structural);
    if is_structural {
        defaults(schema, field_prefix, true, &mut errs);
    }
    let root = Context { allow_defaults: true, why_no_defaults: String::new(), inside_meta: false };
    standard(schema, field_prefix, true, &root, &mut errs);
    errs
}

#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Item,
    Field,
}

fn key(path: &str, keyword: &str, name: &str) -> String {
    format!("{path}.{keyword}[{name}]")
}

fn schemas<'a>(s: &'a Value, keyword: &str) -> impl Iterator<Item = (usize, &'a Value)> {
    s.get(keyword).and_then(Value::as_array).into_iter().flatten().enumerate()
}

/// `anyOf: [{type: integer}, {type: string}]`, the one place a junctor may carry types.
fn is_int_or_string_any_of(s: &Value) -> bool {
    s.get("anyOf") == Some(&json!([{"type": "integer"}, {"type": "string"}]))
}

fn invariants(s: &Value, level: Level, path: &str, errs: &mut Vec<FieldError>) {
    let ty = type_of(s);
    let embedded = flag(s, "x-kubernetes-embedded-resource");
    let int_or_string = flag(s, "x-kubernetes-int-or-string");
    let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
    let items = s.get("items").filter(|i| i.is_object());
    if ty == "array" && items.is_none() {
        errs.push(FieldError::required(format!("{path}.items"), "must be specified"));
    }
    if let Some(items) = items {
        invariants(items, Level::Item, &format!("{path}.items"), errs);
    }
    for (name, prop) in properties(s).into_iter().flatten() {
        invariants(prop, Level::Field, &key(path, "properties", name), errs);
    }
    if let Some(additional) = s.get("additionalProperties") {
        if level == Level::Root {
            errs.push(FieldError::forbidden(format!("{path}.additionalProperties"), "must not be used at the root"));
        }
        if additional.is_object() {
            invariants(additional, Level::Field, &format!("{path}.additionalProperties"), errs);
        }
        if embedded {
            errs.push(FieldError::forbidden(format!("{path}.additionalProperties"), "must not be used if x-kubernetes-embedded-resource is set"));
        }
    }
    if int_or_string && preserve {
        errs.push(FieldError::invalid(format!("{path}.x-kubernetes-preserve-unknown-fields"), true, "must be false if x-kubernetes-int-or-string is true"));
    }
    if int_or_string && embedded {
        errs.push(FieldError::invalid(format!("{path}.x-kubernetes-embedded-resource"), true, "must be false if x-kubernetes-int-or-string is true"));
    }
    let skip_any_of = is_int_or_string_any_of(s);
    value_validation(s, skip_any_of, path, errs);

    let type_path = format!("{path}.type");
    if embedded && ty != "object" {
        let why = "must be object if x-kubernetes-embedded-resource is true";
        errs.push(if ty.is_empty() { FieldError::required(type_path, why) } else { FieldError::invalid(type_path, ty, why) });
    } else if ty.is_empty() && !int_or_string && !preserve {
        let why = match level {
            Level::Root => "must not be empty at the root",
            Level::Item => "must not be empty for specified array items",
            Level::Field => "must not be empty for specified object fields",
        };
        errs.push(FieldError::required(type_path, why));
    }
    if level == Level::Root && !ty.is_empty() && ty != "object" {
        errs.push(FieldError::invalid(format!("{path}.type"), ty, "must be object at the root"));
    }
    let check_meta = level == Level::Root || embedded;
    for field in ["kind", "apiVersion"] {
        if let Some(prop) = properties(s).and_then(|p| p.get(field)).filter(|_| check_meta) {
            if type_of(prop) != "string" {
                errs.push(FieldError::invalid(format!("{}.type", key(path, "properties", field)), type_of(prop), "must be string"));
            }
        }
    }
    if let Some(meta) = properties(s).and_then(|p| p.get("metadata")) {
        let meta_path = key(path, "properties", "metadata");
        if check_meta && type_of(meta) != "object" {
            errs.push(FieldError::invalid(format!("{meta_path}.type"), type_of(meta), "must be object"));
        }
        if level == Level::Root && !only_restricts_names(meta) {
            errs.push(FieldError::forbidden(meta_path, "must not specify anything other than name and generateName, but metadata is implicitly specified"));
        }
    }
    if embedded && !preserve && properties(s).is_none_or(|p| p.is_empty()) {
        errs.push(FieldError::required(
            format!("{path}.properties"),
            "must not be empty if x-kubernetes-embedded-resource is true without x-kubernetes-preserve-unknown-fields",
        ));
    }
}

/// Root `metadata` may only carry `type`, `default` and constraints on name/generateName.
fn only_restricts_names(meta: &Value) -> bool {
    let Some(map) = meta.as_object() else { return true };
    map.iter().all(|(k, v)| match k.as_str() {
        "type" | "default" => true,
        "properties" => v.as_object().is_some_and(|p| p.keys().all(|n| n == "name" || n == "generateName")),
        _ => false,
    })
}

/// Junctor contents and `pattern` of a schema node.
fn value_validation(s: &Value, skip_any_of: bool, path: &str, errs: &mut Vec<FieldError>) {
    if !skip_any_of {
        for (i, sub) in schemas(s, "anyOf") {
            nested(sub, false, &format!("{path}.anyOf[{i}]"), errs);
        }
    }
    for (i, sub) in schemas(s, "allOf") {
        nested(sub, i == 0 && is_int_or_string_any_of(sub), &format!("{path}.allOf[{i}]"), errs);
    }
    for (i, sub) in schemas(s, "oneOf") {
        nested(sub, false, &format!("{path}.oneOf[{i}]"), errs);
    }
    if let Some(not) = s.get("not").filter(|n| n.is_object()) {
        nested(not, false, &format!("{path}.not"), errs);
    }
    if let Some(pattern) = s.get("pattern").and_then(Value::as_str).filter(|p| !p.is_empty()) {
        if let Err(e) = compiled_pattern(pattern) {
            errs.push(FieldError::invalid(format!("{path}.pattern"), pattern, format!("must be a valid regular expression, but isn't: {e}")));
        }
    }
}

/// Inside allOf/anyOf/oneOf/not only value validations are allowed.
fn nested(v: &Value, skip_any_of: bool, path: &str, errs: &mut Vec<FieldError>) {
    value_validation(v, skip_any_of, path, errs);
    if let Some(items) = v.get("items").filter(|i| i.is_object()) {
        nested(items, false, &format!("{path}.items"), errs);
    }
    for (name, prop) in properties(v).into_iter().flatten() {
        nested(prop, false, &key(path, "properties", name), errs);
    }
    let forbidden: [(&str, bool, &str); 12] = [
        ("type", !type_of(v).is_empty(), "must be empty to be structural"),
        ("additionalProperties", v.get("additionalProperties").is_some(), "must be undefined to be structural"),
        ("default", v.get("default").is_some(), "must be undefined to be structural"),
        ("title", v.get("title").and_then(Value::as_str).is_some_and(|t| !t.is_empty()), "must be empty to be structural"),
        ("description", v.get("description").and_then(Value::as_str).is_some_and(|t| !t.is_empty()), "must be empty to be structural"),
        ("nullable", flag(v, "nullable"), "must be false to be structural"),
        ("x-kubernetes-preserve-unknown-fields", flag(v, "x-kubernetes-preserve-unknown-fields"), "must be false to be structural"),
        ("x-kubernetes-embedded-resource", flag(v, "x-kubernetes-embedded-resource"), "must be false to be structural"),
        ("x-kubernetes-int-or-string", flag(v, "x-kubernetes-int-or-string"), "must be false to be structural"),
        (
            "x-kubernetes-list-map-keys",
            v.get("x-kubernetes-list-map-keys").and_then(Value::as_array).is_some_and(|k| !k.is_empty()),
            "must be empty to be structural",
        ),
        ("x-kubernetes-list-type", v.get("x-kubernetes-list-type").is_some(), "must be undefined to be structural"),
        ("x-kubernetes-map-type", v.get("x-kubernetes-map-type").is_some(), "must be undefined to be structural"),
    ];
    for (keyword, present, why) in forbidden {
        if present {
            errs.push(FieldError::forbidden(format!("{path}.{keyword}"), why));
        }
    }
    if properties(v).is_some_and(|p| p.contains_key("metadata")) {
        errs.push(FieldError::forbidden(key(path, "properties", "metadata"), "must not be specified in a nested context"));
    }
}

/// Every property or items a junctor of the root constrains must also exist structurally.
fn completeness(v: &Value, s: &Value, s_path: &str, v_path: &str, errs: &mut Vec<FieldError>) {
    let check = |sub: &Value, sub_path: String, errs: &mut Vec<FieldError>| nested_completeness(sub, Some(s), s_path, &sub_path, errs);
    if let Some(not) = v.get("not").filter(|n| n.is_object()) {
        check(not, format!("{v_path}.not"), errs);
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        for (i, sub) in schemas(v, keyword) {
            check(sub, format!("{v_path}.{keyword}[{i}]"), errs);
        }
    }
}

fn nested_completeness(v: &Value, s: Option<&Value>, s_path: &str, v_path: &str, errs: &mut Vec<FieldError>) {
    let Some(s) = s else {
        errs.push(FieldError::required(s_path, format!("because it is defined in {v_path}")));
        return;
    };
    completeness(v, s, s_path, v_path, errs);
    if let Some(items) = v.get("items").filter(|i| i.is_object()) {
        let s_items = s.get("items").filter(|i| i.is_object());
        nested_completeness(items, s_items, &format!("{s_path}.items"), &format!("{v_path}.items"), errs);
    }
    for (name, prop) in properties(v).into_iter().flatten() {
        let v_prop_path = key(v_path, "properties", name);
        match properties(s).and_then(|p| p.get(name)) {
            Some(s_prop) => nested_completeness(prop, Some(s_prop), &key(s_path, "properties", name), &v_prop_path, errs),
            None => errs.push(FieldError::required(key(s_path, "properties", name), format!("because it is defined in {v_prop_path}"))),
        }
    }
}

/// Defaults must validate against their schema and must not carry fields pruning would drop.
/// `additionalProperties` is not followed: defaults are forbidden there, as they are in the
/// root's type and object metadata, which the keyword checks report.
fn defaults(s: &Value, path: &str, is_root: bool, errs: &mut Vec<FieldError>) {
    if let Some(def) = s.get("default") {
        let default_path = format!("{path}.default");
        let mut pruned = def.clone();
        prune_value(s, &mut pruned);
        if &pruned != def {
            errs.push(FieldError::invalid(default_path.clone(), def.clone(), "must not have unknown fields"));
        }
        errs.extend(validate_under(s, def, &default_path));
    }
    if let Some(items) = s.get("items").filter(|i| i.is_object()) {
        defaults(items, &format!("{path}.items"), false, errs);
    }
    for (name, prop) in properties(s).into_iter().flatten() {
        if is_root && META_FIELDS.contains(&name.as_str()) {
            continue;
        }
        defaults(prop, &key(path, "properties", name), false, errs);
    }
}

/// Where a schema node sits, for the keyword restrictions that depend on it.
#[derive(Clone)]
struct Context {
    allow_defaults: bool,
    why_no_defaults: String,
    inside_meta: bool,
}

impl Context {
    fn without_defaults(&self, why: &str) -> Self {
        Self { allow_defaults: false, why_no_defaults: why.to_string(), ..self.clone() }
    }
}

/// apiextensions' OpenAPI keyword checks, applied to every node including junctor contents.
fn standard(s: &Value, path: &str, is_root: bool, ctx: &Context, errs: &mut Vec<FieldError>) {
    let ty = type_of(s);
    if !ty.is_empty() && !OPENAPI_TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(format!("{path}.type"), ty, &OPENAPI_TYPES));
    }
    if s.get("default").is_some() && !ctx.allow_defaults {
        let why = if ctx.why_no_defaults.is_empty() { "must not be set".to_string() } else { format!("must not be set {}", ctx.why_no_defaults) };
        errs.push(FieldError::forbidden(format!("{path}.default"), why));
    }
    let unsupported = [
        ("id", s.get("id").and_then(Value::as_str).is_some_and(|i| !i.is_empty()), "id is not supported"),
        ("additionalItems", s.get("additionalItems").is_some(), "additionalItems is not supported"),
        ("patternProperties", s.get("patternProperties").and_then(Value::as_object).is_some_and(|p| !p.is_empty()), "patternProperties is not supported"),
        ("definitions", s.get("definitions").and_then(Value::as_object).is_some_and(|p| !p.is_empty()), "definitions is not supported"),
        ("dependencies", s.get("dependencies").is_some(), "dependencies is not supported"),
        ("$ref", s.get("$ref").is_some(), "$ref is not supported"),
        ("type", ty == "null", "type cannot be set to null, use nullable as an alternative"),
        ("items", s.get("items").is_some_and(Value::is_array), "items must be a schema object and not an array"),
        ("x-kubernetes-embedded-resource", ctx.inside_meta && flag(s, "x-kubernetes-embedded-resource"), "must not be used inside of resource meta"),
        ("uniqueItems", flag(s, "uniqueItems"), "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"),
    ];
    for (keyword, present, why) in unsupported {
        if present {
            errs.push(FieldError::forbidden(format!("{path}.{keyword}"), why));
        }
    }
    let props = properties(s).filter(|p| !p.is_empty());
    if let Some(additional) = s.get("additionalProperties") {
        if props.is_some() && (additional == &Value::Bool(false) || additional.is_object()) {
            errs.push(FieldError::forbidden(format!("{path}.additionalProperties"), "additionalProperties and properties are mutual exclusive"));
        }
        if additional.is_object() {
            let sub = if ctx.inside_meta { ctx.without_defaults("inside additionalProperties applying to object metadata") } else { ctx.clone() };
            standard(additional, &format!("{path}.additionalProperties"), false, &sub, errs);
        }
    }
    let embedded = flag(s, "x-kubernetes-embedded-resource");
    for (name, prop) in props.into_iter().flatten() {
        let mut sub = ctx.clone();
        if (is_root || embedded) && META_FIELDS.contains(&name.as_str()) {
            sub.inside_meta = true;
            if is_root {
                sub = sub.without_defaults(&format!("in top-level {name}"));
            }
        }
        standard(prop, &key(path, "properties", name), false, &sub, errs);
    }
    if let Some(not) = s.get("not").filter(|n| n.is_object()) {
        standard(not, &format!("{path}.not"), false, ctx, errs);
    }
    for keyword in ["allOf", "oneOf", "anyOf"] {
        for (i, sub) in schemas(s, keyword) {
            standard(sub, &format!("{path}.{keyword}[{i}]"), false, ctx, errs);
        }
    }
    match s.get("items") {
        Some(items @ Value::Object(_)) => standard(items, &format!("{path}.items"), false, ctx, errs),
        Some(Value::Array(list)) => {
            for (i, item) in list.iter().enumerate() {
                standard(item, &format!("{path}.items[{i}]"), false, ctx, errs);
            }
        }
        _ => {}
    }
    list_and_map_types(s, path, errs);
}

fn list_and_map_types(s: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let ty = type_of(s);
    if s.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(false)) {
        errs.push(FieldError::invalid(format!("{path}.x-kubernetes-preserve-unknown-fields"), false, "must be true or undefined"));
    }
    let typed = |expected: &str, why: &str, errs: &mut Vec<FieldError>| {
        let type_path = format!("{path}.type");
        if ty.is_empty() {
            errs.push(FieldError::required(type_path, why));
        } else if ty != expected {
            errs.push(FieldError::invalid(type_path, ty, why));
        }
    };
    if let Some(map_type) = s.get("x-kubernetes-map-type") {
        typed("object", "must be object if x-kubernetes-map-type is specified", errs);
        if !matches!(map_type.as_str(), Some("atomic" | "granular")) {
            errs.push(FieldError::not_supported(format!("{path}.x-kubernetes-map-type"), map_type.clone(), &["atomic", "granular"]));
        }
    }
    if let Some(list_type) = s.get("x-kubernetes-list-type") {
        typed("array", "must be array if x-kubernetes-list-type is specified", errs);
        if !matches!(list_type.as_str(), Some("atomic" | "set" | "map")) {
            errs.push(FieldError::not_supported(format!("{path}.x-kubernetes-list-type"), list_type.clone(), &["atomic", "set", "map"]));
        }
        let keys_empty = s.get("x-kubernetes-list-map-keys").and_then(Value::as_array).is_none_or(|k| k.is_empty());
        if list_type.as_str() == Some("map") && keys_empty {
            errs.push(FieldError::required(format!("{path}.x-kubernetes-list-map-keys"), "must not be empty if x-kubernetes-list-type is map"));
        }
    }
}
