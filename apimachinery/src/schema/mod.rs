//! Everything the apiserver does with a CRD version's `openAPIV3Schema`: checking that the schema
//! is structural when the CRD is written, and validating, pruning and defaulting custom objects.
//!
//! Schemas stay plain `serde_json::Value`s instead of a typed `JSONSchemaProps` model: CRDs are
//! stored as JSON, built-in schemas from [`crate::openapi`] are JSON too, and every algorithm here
//! only reads a handful of keywords, so a typed model would add a conversion without catching
//! anything. Each algorithm follows its upstream counterpart (kube-openapi's validator,
//! apiextensions' structural, pruning and defaulting packages) closely enough that messages and
//! field paths match what kube-apiserver prints.

mod defaulting;
mod formats;
mod prune;
mod structural;
mod validate;

pub use defaulting::default;
pub use prune::prune;
pub use structural::validate_structural;
pub use validate::validate;

use serde_json::{Map, Value};

/// The JSON schema type names a structural schema may use, sorted as kube lists them.
const OPENAPI_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

/// Fields of the resource root that belong to the object's type and object metadata.
const META_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// The schema's `properties`, if any.
fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

/// The schema's `type` keyword as a string (empty when absent).
fn type_of(schema: &Value) -> &str {
    schema.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Whether a boolean vendor extension (or keyword) is set to `true`.
fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The schema that applies to values under `additionalProperties`, if that keyword is a schema.
fn additional_schema(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|v| v.is_object())
}

/// The JSON type name of a value, as kube-openapi's validator infers it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A number printed like Go's `%v`: integral values without a fraction.
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i128)
    } else {
        format!("{n}")
    }
}

/// Compiles a schema `pattern` once and reuses it: the same CRD patterns are checked on every
/// write, and compiling a regex costs far more than matching it.
fn compiled_pattern(pattern: &str) -> Result<regex::Regex, regex::Error> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, Result<regex::Regex, regex::Error>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut guard = cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    guard
        .entry(pattern.to_string())
        .or_insert_with(|| {
            // This build of `regex` lacks Unicode case folding, so `(?i)` patterns only compile
            // in ASCII mode; use that when the Unicode attempt fails and ASCII mode accepts it.
            regex::Regex::new(pattern).or_else(|unicode_err| regex::RegexBuilder::new(pattern).unicode(false).build().map_err(|_| unicode_err))
        })
        .clone()
}

#[cfg(test)]
mod tests;
