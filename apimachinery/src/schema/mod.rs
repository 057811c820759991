//! What the apiserver does with a CRD's `openAPIV3Schema`: structural checks when the CRD is
//! written, and for every custom object validation, pruning of unknown fields and defaulting.

mod format;

use serde_json::{json, Map, Value};

use crate::status::{FieldError, FieldErrorKind};

const TYPES: &[&str] = &["object", "array", "string", "integer", "number", "boolean"];

fn preserves(schema: &Value) -> bool {
    schema["x-kubernetes-preserve-unknown-fields"] == json!(true)
}

fn int_or_string(schema: &Value) -> bool {
    schema["x-kubernetes-int-or-string"] == json!(true)
}

/// Checks that a CRD schema is structural, with kube's messages.
pub fn validate_structural(schema: &Value, field_prefix: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if schema.get("type").is_some() && schema["type"] != "object" {
        errs.push(FieldError::invalid(format!("{field_prefix}.type"), schema["type"].clone(), "must be object at the root"));
    }
    structural(schema, field_prefix, &mut errs);
    errs
}

fn structural(s: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(m) = s.as_object() else {
        errs.push(FieldError::invalid(path, s.clone(), "must be a schema object"));
        return;
    };
    match m.get("type").and_then(Value::as_str) {
        Some(t) if !TYPES.contains(&t) => errs.push(FieldError::not_supported(format!("{path}.type"), t, TYPES)),
        None if !int_or_string(s) && !preserves(s) => {
            errs.push(FieldError::required(format!("{path}.type"), "must not be empty for specified object fields"));
        }
        _ => {}
    }
    if m.contains_key("properties") && m.get("additionalProperties").is_some_and(|a| a != &json!(false)) {
        errs.push(FieldError::forbidden(format!("{path}.additionalProperties"), "additionalProperties and properties are mutual exclusive"));
    }
    if m.get("type") == Some(&json!("array")) && !m.contains_key("items") {
        errs.push(FieldError::required(format!("{path}.items"), "must be specified"));
    }
    for (k, v) in m.get("properties").and_then(Value::as_object).into_iter().flatten() {
        structural(v, &format!("{path}.properties[{k}]"), errs);
    }
    if let Some(items) = m.get("items") {
        structural(items, &format!("{path}.items"), errs);
    }
    if let Some(ap) = m.get("additionalProperties").filter(|a| a.is_object()) {
        structural(ap, &format!("{path}.additionalProperties"), errs);
    }
    if let Some(d) = m.get("default") {
        let mut probe = Vec::new();
        check(s, d, &format!("{path}.default"), &mut probe);
        errs.extend(probe.into_iter().map(|mut e| {
            e.field = format!("{path}.default");
            e
        }));
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64()
}

fn fmt_num(v: &Value) -> String {
    v.to_string()
}

/// Validates a custom object against its schema.
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let (Some(props), Some(o)) = (schema["properties"].as_object(), obj.as_object()) {
        for (k, s) in props {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            if let Some(v) = o.get(k) {
                check(s, v, k, &mut errs);
            }
        }
        for r in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !o.contains_key(r) && !matches!(r, "apiVersion" | "kind" | "metadata") {
                errs.push(FieldError::required(r, ""));
            }
        }
    }
    errs
}

fn check(s: &Value, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    if v.is_null() {
        if s["nullable"] != json!(true) && !preserves(s) && s.get("type").is_some() {
            let t = s["type"].as_str().unwrap_or_default();
            errs.push(FieldError::type_invalid(path, "null", format!("{path} in body must be of type {t}: \"null\"")));
        }
        return;
    }
    let actual = type_name(v);
    if int_or_string(s) {
        if !matches!(actual, "integer" | "string") {
            errs.push(FieldError::type_invalid(path, actual, format!("{path} in body must be of type integer or string: {actual:?}")));
            return;
        }
    } else if let Some(t) = s["type"].as_str() {
        let ok = t == actual || (t == "number" && actual == "integer");
        if !ok {
            errs.push(FieldError::type_invalid(path, actual, format!("{path} in body must be of type {t}: {actual:?}")));
            return;
        }
    }
    if let Some(allowed) = s["enum"].as_array() {
        if !allowed.contains(v) {
            let list: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
            errs.push(FieldError {
                kind: FieldErrorKind::NotSupported,
                field: path.to_string(),
                value: Some(v.clone()),
                detail: format!("supported values: {}", list.join(", ")),
            });
        }
    }
    match v {
        Value::Object(o) => check_object(s, o, path, errs),
        Value::Array(a) => check_array(s, a, path, errs),
        Value::String(st) => check_string(s, st, path, errs),
        Value::Number(_) => check_number(s, v, path, errs),
        _ => {}
    }
    for sub in s["allOf"].as_array().into_iter().flatten() {
        check(sub, v, path, errs);
    }
    for (key, must) in [("anyOf", false), ("oneOf", true)] {
        if let Some(alts) = s[key].as_array() {
            let passing = alts.iter().filter(|a| {
                let mut e = Vec::new();
                check(a, v, path, &mut e);
                e.is_empty()
            });
            let n = passing.count();
            if n == 0 || (must && n > 1) {
                errs.push(FieldError::invalid(path, v.clone(), format!("{path} in body must match {} of the schemas", if must { "exactly one" } else { "at least one" })));
            }
        }
    }
    if let Some(not) = s.get("not") {
        let mut e = Vec::new();
        check(not, v, path, &mut e);
        if e.is_empty() {
            errs.push(FieldError::invalid(path, v.clone(), format!("{path} in body should not match the schema")));
        }
    }
}

fn check_object(s: &Value, o: &Map<String, Value>, path: &str, errs: &mut Vec<FieldError>) {
    let props = s["properties"].as_object();
    for (k, v) in o {
        match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
            (Some(ps), _) => check(ps, v, &child(path, k), errs),
            (None, Some(ap)) if ap.is_object() => check(ap, v, &child(path, k), errs),
            _ => {}
        }
    }
    for r in s["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !o.contains_key(r) {
            errs.push(FieldError::required(child(path, r), ""));
        }
    }
    if let Some(min) = s["minProperties"].as_u64() {
        if (o.len() as u64) < min {
            errs.push(FieldError::invalid(path, o.len(), format!("{path} in body should have at least {min} properties")));
        }
    }
    if let Some(max) = s["maxProperties"].as_u64() {
        if o.len() as u64 > max {
            errs.push(FieldError { kind: FieldErrorKind::TooMany, field: path.into(), value: Some(json!(o.len())), detail: format!("must have at most {max} items") });
        }
    }
}

fn check_array(s: &Value, a: &[Value], path: &str, errs: &mut Vec<FieldError>) {
    if let Some(items) = s.get("items") {
        for (i, v) in a.iter().enumerate() {
            check(items, v, &format!("{path}[{i}]"), errs);
        }
    }
    if let Some(min) = s["minItems"].as_u64() {
        if (a.len() as u64) < min {
            errs.push(FieldError::invalid(path, a.len(), format!("{path} in body should have at least {min} items")));
        }
    }
    if let Some(max) = s["maxItems"].as_u64() {
        if a.len() as u64 > max {
            errs.push(FieldError { kind: FieldErrorKind::TooMany, field: path.into(), value: Some(json!(a.len())), detail: format!("must have at most {max} items") });
        }
    }
    if s["uniqueItems"] == json!(true) || s["x-kubernetes-list-type"] == "set" {
        for (i, v) in a.iter().enumerate() {
            if a[..i].contains(v) {
                errs.push(FieldError { kind: FieldErrorKind::Duplicate, field: format!("{path}[{i}]"), value: Some(v.clone()), detail: String::new() });
            }
        }
    }
}

fn check_string(s: &Value, st: &str, path: &str, errs: &mut Vec<FieldError>) {
    let len = st.chars().count() as u64;
    if let Some(min) = s["minLength"].as_u64() {
        if len < min {
            errs.push(FieldError::invalid(path, st, format!("{path} in body should be at least {min} chars long")));
        }
    }
    if let Some(max) = s["maxLength"].as_u64() {
        if len > max {
            errs.push(FieldError { kind: FieldErrorKind::TooLong, field: path.into(), value: None, detail: format!("may not be more than {max} bytes") });
        }
    }
    if let Some(p) = s["pattern"].as_str() {
        match regex::Regex::new(p) {
            Ok(re) if !re.is_match(st) => errs.push(FieldError::invalid(path, st, format!("{path} in body should match '{p}'"))),
            Ok(_) => {}
            Err(_) => errs.push(FieldError::invalid(path, st, format!("{path} has an invalid pattern '{p}'"))),
        }
    }
    if let Some(f) = s["format"].as_str() {
        if !format::matches(f, st) {
            errs.push(FieldError::invalid(path, st, format!("{path} in body must be of type {f}: {st:?}")));
        }
    }
}

fn check_number(s: &Value, v: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let Some(x) = num(v) else { return };
    if let Some(min) = s.get("minimum").and_then(num) {
        let excl = s["exclusiveMinimum"] == json!(true);
        if x < min || (excl && x == min) {
            let cmp = if excl { "greater than" } else { "greater than or equal to" };
            errs.push(FieldError::invalid(path, v.clone(), format!("{path} in body should be {cmp} {}", fmt_num(&s["minimum"]))));
        }
    }
    if let Some(max) = s.get("maximum").and_then(num) {
        let excl = s["exclusiveMaximum"] == json!(true);
        if x > max || (excl && x == max) {
            let cmp = if excl { "less than" } else { "less than or equal to" };
            errs.push(FieldError::invalid(path, v.clone(), format!("{path} in body should be {cmp} {}", fmt_num(&s["maximum"]))));
        }
    }
    if let Some(m) = s.get("multipleOf").and_then(num).filter(|m| *m > 0.0) {
        if (x / m).fract().abs() > 1e-9 {
            errs.push(FieldError::invalid(path, v.clone(), format!("{path} in body should be a multiple of {}", fmt_num(&s["multipleOf"]))));
        }
    }
    if s["format"] == "int32" && v.as_i64().is_some_and(|i| i32::try_from(i).is_err()) {
        errs.push(FieldError::invalid(path, v.clone(), format!("{path} in body must be of type int32: \"{}\"", fmt_num(v))));
    }
}

/// Drops fields the schema does not know; returns their paths (`.spec.foo`). `apiVersion`,
/// `kind` and `metadata` at the root are always kept.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut dropped = Vec::new();
    if let Some(o) = obj.as_object_mut() {
        let keys: Vec<String> = o.keys().cloned().collect();
        for k in keys {
            if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            prune_field(schema, o, &k, "", &mut dropped);
        }
    }
    dropped
}

fn prune_field(parent: &Value, o: &mut Map<String, Value>, k: &str, path: &str, dropped: &mut Vec<String>) {
    let p = format!("{path}.{k}");
    let sub = parent["properties"].get(k).or_else(|| parent.get("additionalProperties").filter(|a| a.is_object()));
    match sub {
        Some(s) => {
            if let Some(v) = o.get_mut(k) {
                prune_value(s, v, &p, dropped);
            }
        }
        None if preserves(parent) || parent["additionalProperties"] == json!(true) => {}
        None => {
            o.remove(k);
            dropped.push(p);
        }
    }
}

fn prune_value(s: &Value, v: &mut Value, path: &str, dropped: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            let free_form = s.get("type").is_none() && s.get("properties").is_none() && s.get("additionalProperties").is_none();
            if free_form && s.get("items").is_none() {
                return;
            }
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                prune_field(s, o, &k, path, dropped);
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items") {
                for (i, item) in a.iter_mut().enumerate() {
                    prune_value(items, item, &format!("{path}[{i}]"), dropped);
                }
            }
        }
        _ => {}
    }
}

/// Applies `default` values of the schema to missing fields.
pub fn default(schema: &Value, obj: &mut Value) {
    match obj {
        Value::Object(o) => {
            if let Some(props) = schema["properties"].as_object() {
                for (k, s) in props {
                    if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") && schema.get("x-kubernetes-group-version-kind").is_none() && !o.contains_key(k) {
                        continue;
                    }
                    if !o.contains_key(k) {
                        if let Some(d) = s.get("default") {
                            o.insert(k.clone(), d.clone());
                        }
                    }
                    if let Some(v) = o.get_mut(k) {
                        default(s, v);
                    }
                }
            }
            if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                let known = schema["properties"].as_object();
                for (k, v) in o.iter_mut() {
                    if known.is_none_or(|p| !p.contains_key(k)) {
                        default(ap, v);
                    }
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for v in a.iter_mut() {
                    default(items, v);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
