//! Validation of a custom object against its schema, as kube-openapi's `SchemaValidator` does it
//! and as apiextensions turns the results into field errors.
//!
//! Two paths exist for every error, exactly as upstream: the validator's own dotted path
//! (`spec.items[0].name`, empty at the root), which appears inside messages ("… in body must be
//! of type …"), and the field path of the `FieldError`, which is that name under the caller's
//! prefix. Errors that upstream does not attach to a field (the anyOf/oneOf/allOf/not summaries)
//! land on the prefix itself, which Go prints as `<nil>` when there is none.

use super::{additional_schema, compiled_pattern, flag, format_number, formats, json_type, properties, type_of};
use crate::status::{FieldError, FieldErrorKind};
use serde_json::{Map, Number, Value};

/// Validates a custom object (or any value) against an `openAPIV3Schema`.
pub fn validate(schema: &Value, obj: &Value) -> Vec<FieldError> {
    validate_under(schema, obj, "")
}

/// Validates `value` with every field error placed under `prefix` (used for schema defaults).
pub(super) fn validate_under(schema: &Value, value: &Value, prefix: &str) -> Vec<FieldError> {
    Validator { prefix }.node(schema, value, "")
}

struct Validator<'a> {
    prefix: &'a str,
}

/// `path` joined with a property name the way kube-openapi builds nested paths.
fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

fn too_many(field: String, actual: usize, max: u64) -> FieldError {
    FieldError { kind: FieldErrorKind::TooMany, field, value: Some(Value::from(actual)), detail: format!("must have at most {max} items") }
}

impl Validator<'_> {
    /// The field path of an error whose validator name is `name`.
    fn field(&self, name: &str) -> String {
        let name = name.strip_prefix('.').unwrap_or(name);
        match (self.prefix.is_empty(), name.is_empty()) {
            (_, true) => self.root(),
            (true, false) => name.to_string(),
            (false, false) => format!("{}.{name}", self.prefix),
        }
    }

    /// The field path of errors upstream reports without a name.
    fn root(&self) -> String {
        if self.prefix.is_empty() {
            "<nil>".to_string()
        } else {
            self.prefix.to_string()
        }
    }

    fn node(&self, schema: &Value, data: &Value, path: &str) -> Vec<FieldError> {
        let mut errs: Vec<FieldError> = self.check_type(schema, data, path).into_iter().collect();
        if data.is_null() {
            errs.extend(self.check_enum(schema, data, path));
            return errs;
        }
        errs.extend(self.check_junctors(schema, data, path));
        match data {
            Value::String(s) => {
                errs.extend(self.check_string(schema, s, path));
                errs.extend(self.check_format(schema, s, path));
            }
            Value::Number(n) => errs.extend(self.check_number(schema, n, path)),
            Value::Array(items) => errs.extend(self.check_array(schema, items, path)),
            _ => {}
        }
        errs.extend(self.check_enum(schema, data, path));
        if let Value::Object(map) = data {
            errs.extend(self.check_object(schema, map, path));
        }
        errs
    }

    fn check_type(&self, schema: &Value, data: &Value, path: &str) -> Option<FieldError> {
        let types: Vec<&str> = if flag(schema, "x-kubernetes-int-or-string") {
            vec!["integer", "string"]
        } else {
            match type_of(schema) {
                "" => return None,
                t => vec![t],
            }
        };
        let actual = json_type(data);
        let ok = match data {
            Value::Null => flag(schema, "nullable"),
            Value::Number(n) => {
                types.contains(&actual)
                    || (actual == "number" && types.contains(&"integer") && n.as_f64().is_some_and(|f| f.fract() == 0.0))
                    || (actual == "integer" && types.contains(&"number"))
            }
            _ => types.contains(&actual),
        };
        (!ok).then(|| FieldError::type_invalid(self.field(path), actual, format!("{path} in body must be of type {}: {actual:?}", types.join(","))))
    }

    fn check_junctors(&self, schema: &Value, data: &Value, path: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let branches = |key: &str| -> Vec<Vec<FieldError>> {
            schema.get(key).and_then(Value::as_array).map(|list| list.iter().map(|s| self.node(s, data, path)).collect()).unwrap_or_default()
        };
        let summary = |msg: String| FieldError::invalid(self.root(), "", msg);

        let any_of = branches("anyOf");
        if !any_of.is_empty() && !any_of.iter().any(Vec::is_empty) {
            errs.push(summary(format!("{path:?} must validate at least one schema (anyOf)")));
            errs.extend(fewest(any_of));
        }

        let one_of = branches("oneOf");
        if !one_of.is_empty() {
            let valid = one_of.iter().filter(|r| r.is_empty()).count();
            if valid != 1 {
                let why = if valid == 0 { "Found none valid".to_string() } else { format!("Found {valid} valid alternatives") };
                errs.push(summary(format!("{path:?} must validate one and only one schema (oneOf). {why}")));
                if valid == 0 {
                    errs.extend(fewest(one_of));
                }
            }
        }

        let all_of = branches("allOf");
        if !all_of.is_empty() {
            let valid = all_of.iter().filter(|r| r.is_empty()).count();
            let total = all_of.len();
            errs.extend(all_of.into_iter().flatten());
            if valid != total {
                let none = if valid == 0 { ". None validated" } else { "" };
                errs.push(summary(format!("{path:?} must validate all the schemas (allOf){none}")));
            }
        }

        if let Some(not) = schema.get("not").filter(|s| s.is_object()) {
            if self.node(not, data, path).is_empty() {
                errs.push(summary(format!("{path:?} must not validate the schema (not)")));
            }
        }
        errs
    }

    fn check_string(&self, schema: &Value, s: &str, path: &str) -> Option<FieldError> {
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if s.chars().count() as u64 > max {
                return Some(FieldError::too_long(self.field(path), max as usize));
            }
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if (s.chars().count() as u64) < min {
                return Some(FieldError::invalid(self.field(path), s, format!("{path} in body should be at least {min} chars long")));
            }
        }
        let pattern = schema.get("pattern").and_then(Value::as_str).filter(|p| !p.is_empty())?;
        match compiled_pattern(pattern) {
            Ok(re) if re.is_match(s) => None,
            Ok(_) => Some(FieldError::invalid(self.field(path), s, format!("{path} in body should match '{pattern}'"))),
            Err(e) => Some(FieldError::invalid(self.field(path), s, format!("{path} in body should match '{pattern}, but pattern is invalid: {e}'"))),
        }
    }

    fn check_format(&self, schema: &Value, s: &str, path: &str) -> Option<FieldError> {
        if !matches!(type_of(schema), "" | "string") {
            return None;
        }
        let format = schema.get("format").and_then(Value::as_str)?;
        let normalized = format.replace('-', "");
        if !formats::is_supported(&normalized) || formats::is_valid(&normalized, s) {
            return None;
        }
        Some(FieldError::type_invalid(self.field(path), s, format!("{path} in body must be of type {format}: {s:?}")))
    }

    fn check_number(&self, schema: &Value, n: &Number, path: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let data = n.as_f64().unwrap_or(0.0);
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        let single_type = if flag(schema, "x-kubernetes-int-or-string") { "" } else { type_of(schema) };
        if let Some(detail) = range_error(n, single_type, format, path) {
            errs.push(FieldError::invalid(self.root(), "", detail));
        }
        let value = || Value::Number(n.clone());
        if let Some(factor) = schema.get("multipleOf").and_then(Value::as_f64) {
            if factor <= 0.0 {
                errs.push(FieldError::invalid(
                    self.field(path),
                    format_number(factor),
                    format!("factor MultipleOf declared for {path} must be positive: {}", format_number(factor)),
                ));
            } else {
                // Dividing by a fraction loses precision; upstream multiplies by its inverse instead.
                let quotient = if factor < 1.0 { 1.0 / factor * data } else { data / factor };
                if quotient.fract() != 0.0 {
                    errs.push(FieldError::invalid(self.field(path), value(), format!("{path} in body should be a multiple of {}", format_number(factor))));
                }
            }
        }
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            let exclusive = flag(schema, "exclusiveMinimum");
            if data < min || (exclusive && data == min) {
                let op = if exclusive { "greater than" } else { "greater than or equal to" };
                errs.push(FieldError::invalid(self.field(path), value(), format!("{path} in body should be {op} {}", format_number(min))));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            let exclusive = flag(schema, "exclusiveMaximum");
            if data > max || (exclusive && data == max) {
                let op = if exclusive { "less than" } else { "less than or equal to" };
                errs.push(FieldError::invalid(self.field(path), value(), format!("{path} in body should be {op} {}", format_number(max))));
            }
        }
        errs
    }

    fn check_array(&self, schema: &Value, items: &[Value], path: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) {
            for (i, item) in items.iter().enumerate() {
                errs.extend(self.node(item_schema, item, &format!("{path}[{i}]")));
            }
        }
        let len = items.len();
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if (len as u64) < min {
                errs.push(FieldError::invalid(self.field(path), len, format!("{path} in body should have at least {min} items")));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if len as u64 > max {
                errs.push(too_many(self.field(path), len, max));
            }
        }
        if flag(schema, "uniqueItems") && has_duplicates(items) {
            errs.push(FieldError::invalid(self.field(path), "", format!("{path} in body shouldn't contain duplicates")));
        }
        errs
    }

    fn check_enum(&self, schema: &Value, data: &Value, path: &str) -> Option<FieldError> {
        let allowed = schema.get("enum").and_then(Value::as_array).filter(|e| !e.is_empty())?;
        if !data.is_null() && allowed.iter().any(|a| same_value(a, data)) {
            return None;
        }
        let names: Vec<String> = allowed.iter().map(|a| a.as_str().map(str::to_string).unwrap_or_else(|| a.to_string())).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        Some(FieldError::not_supported(self.field(path), data.clone(), &refs))
    }

    fn check_object(&self, schema: &Value, map: &Map<String, Value>, path: &str) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let count = map.len();
        if let Some(min) = schema.get("minProperties").and_then(Value::as_u64) {
            if (count as u64) < min {
                errs.push(FieldError::invalid(self.field(path), count, format!("{path} in body should have at least {min} properties")));
            }
        }
        if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64) {
            if count as u64 > max {
                errs.push(too_many(self.field(path), count, max));
            }
        }
        let props = properties(schema);
        let known = |k: &str| props.is_some_and(|p| p.contains_key(k));
        if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
            for key in map.keys().filter(|k| !known(k)) {
                errs.push(FieldError::invalid(self.field(path), key.as_str(), format!("{path}.{key} in body is a forbidden property")));
            }
        } else if let Some(additional) = additional_schema(schema) {
            for (key, value) in map.iter().filter(|(k, _)| !known(k)) {
                errs.extend(self.node(additional, value, &format!("{path}.{key}")));
            }
        }
        for (name, sub) in props.into_iter().flatten() {
            if let Some(value) = map.get(name) {
                errs.extend(self.node(sub, value, &child_path(path, name)));
            }
        }
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !map.contains_key(required) {
                errs.push(FieldError::required(self.field(&format!("{path}.{required}")), ""));
            }
        }
        errs
    }
}

/// The failures of the branch that failed least, as upstream reports the "best" failing branch.
fn fewest(results: Vec<Vec<FieldError>>) -> Vec<FieldError> {
    results.into_iter().reduce(|best, r| if r.len() < best.len() { r } else { best }).unwrap_or_default()
}

/// kube-openapi's number range check: values must fit the declared integer/float format.
fn range_error(n: &Number, single_type: &str, format: &str, path: &str) -> Option<String> {
    let fits = match (single_type, format) {
        ("integer", "int32") => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) || integral_f64(n, i32::MIN as f64, i32::MAX as f64),
        ("integer", _) => n.as_i64().is_some() || integral_f64(n, i64::MIN as f64, i64::MAX as f64),
        ("number", "float") => n.as_f64().is_some_and(|f| f.abs() <= f32::MAX as f64),
        _ => true,
    };
    if fits {
        return None;
    }
    let shown_format = match (single_type, format) {
        ("integer", "int32" | "int64") | ("number", "float" | "double") => format,
        _ => "",
    };
    Some(if shown_format.is_empty() {
        format!("Checked value must be of type {single_type} (default format) in {path}")
    } else {
        format!("Checked value must be of type {single_type} with format {shown_format} in {path}")
    })
}

fn integral_f64(n: &Number, lo: f64, hi: f64) -> bool {
    n.is_f64() && n.as_f64().is_some_and(|f| f.fract() == 0.0 && f >= lo && f <= hi)
}

/// JSON equality where numbers compare by value (`1` equals `1.0`), as Go's decoded values do.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w))),
        _ => a == b,
    }
}

fn has_duplicates(items: &[Value]) -> bool {
    items.iter().enumerate().any(|(i, a)| items[i + 1..].iter().any(|b| same_value(a, b)))
}
