//! Dropping fields a schema does not know, as apiextensions' structural pruning does, while
//! recording their paths for `fieldValidation=Strict|Warn`.
//!
//! The object root is treated as an embedded resource: `apiVersion`, `kind` and `metadata` are
//! never pruned by a CRD schema, because CRD schemas may only constrain `metadata.name` and
//! `metadata.generateName` and the object metadata is checked elsewhere. Schemas that describe
//! the whole `ObjectMeta` (the built-in schemas from [`crate::openapi::builtin_schema`]) do get
//! their `metadata` pruned, which is how unknown `metadata.*` fields of built-ins are found.

use super::{additional_schema, flag, properties, META_FIELDS};
use serde_json::Value;

/// Removes every field `schema` does not allow from `obj` and returns the removed paths
/// (`spec.foo`, `spec.items[0].bar`), sorted, ready for `unknown field "<path>"` messages.
pub fn prune(schema: &Value, obj: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    walk(obj, Some(schema), &mut String::new(), true, &mut pruned);
    let meta_schema = properties(schema).and_then(|p| p.get("metadata")).filter(|m| describes_object_meta(m));
    if let (Some(meta_schema), Some(meta)) = (meta_schema, obj.get_mut("metadata")) {
        walk(meta, Some(meta_schema), &mut "metadata".to_string(), false, &mut pruned);
    }
    pruned.sort();
    pruned
}

/// Prunes a value that is not a resource root (schema defaults), discarding the paths.
pub(super) fn prune_value(schema: &Value, value: &mut Value) {
    walk(value, Some(schema), &mut String::new(), false, &mut Vec::new());
}

/// True when a `metadata` schema says more than the name/generateName a CRD may restrict.
fn describes_object_meta(meta: &Value) -> bool {
    properties(meta).is_some_and(|p| p.keys().any(|k| k != "name" && k != "generateName"))
}

/// Runs `f` with `path` extended by what `extend` appends, then restores it: one buffer serves
/// the whole walk, and a path becomes a string of its own only when something is pruned there.
fn below<R>(path: &mut String, extend: impl FnOnce(&mut String), f: impl FnOnce(&mut String) -> R) -> R {
    let len = path.len();
    extend(path);
    let result = f(path);
    path.truncate(len);
    result
}

/// `.key` (or `key` at the root) for [`below`].
fn key_segment(key: &str) -> impl FnOnce(&mut String) + '_ {
    move |path| {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    }
}

/// `[i]` for [`below`].
fn index_segment(i: usize) -> impl FnOnce(&mut String) {
    move |path| {
        use std::fmt::Write;
        // Writing into a String cannot fail.
        let _ = write!(path, "[{i}]");
    }
}

/// Whether a map key survives under `schema`: a declared property or any key of a map type.
fn known(schema: &Value, key: &str) -> bool {
    properties(schema).is_some_and(|p| p.contains_key(key)) || allows_additional(schema)
}

fn allows_additional(schema: &Value) -> bool {
    matches!(schema.get("additionalProperties"), Some(Value::Object(_)) | Some(Value::Bool(true)))
}

/// Prunes below one key of an object whose schema is `parent`; unknown keys are recorded here
/// and removed by the caller.
fn prune_field(parent: &Value, key: &str, value: &mut Value, path: &mut String, pruned: &mut Vec<String>) {
    below(path, key_segment(key), |child| {
        if let Some(prop) = properties(parent).and_then(|p| p.get(key)) {
            walk(value, Some(prop), child, false, pruned);
        } else if allows_additional(parent) {
            walk(value, additional_schema(parent), child, false, pruned);
        } else {
            pruned.push(child.clone());
        }
    })
}

/// Prunes `x` against `schema`; `root` marks the resource root, whose type and object metadata
/// fields are left alone like those of any embedded resource.
fn walk(x: &mut Value, schema: Option<&Value>, path: &mut String, root: bool, pruned: &mut Vec<String>) {
    if let Some(s) = schema.filter(|s| flag(s, "x-kubernetes-preserve-unknown-fields")) {
        return walk_preserving(x, s, path, root, pruned);
    }
    match x {
        Value::Object(map) => {
            let Some(s) = schema else {
                for key in map.keys() {
                    below(path, key_segment(key), |child| pruned.push(child.clone()));
                }
                map.clear();
                return;
            };
            let embedded = root || flag(s, "x-kubernetes-embedded-resource");
            for (key, value) in map.iter_mut() {
                if !(embedded && META_FIELDS.contains(&key.as_str())) {
                    prune_field(s, key, value, path, pruned);
                }
            }
            map.retain(|k, _| (embedded && META_FIELDS.contains(&k.as_str())) || known(s, k));
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.get("items")).filter(|i| i.is_object());
            for (i, item) in items.iter_mut().enumerate() {
                below(path, index_segment(i), |path| walk(item, item_schema, path, false, pruned));
            }
        }
        _ => {}
    }
}

/// Under `x-kubernetes-preserve-unknown-fields` unknown keys stay, but declared ones are still
/// pruned below.
fn walk_preserving(x: &mut Value, s: &Value, path: &mut String, root: bool, pruned: &mut Vec<String>) {
    match x {
        Value::Object(map) => {
            let embedded = root || flag(s, "x-kubernetes-embedded-resource");
            for (key, value) in map.iter_mut() {
                if embedded && META_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                if properties(s).is_some_and(|p| p.contains_key(key)) || allows_additional(s) {
                    prune_field(s, key, value, path, pruned);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.get("items").filter(|i| i.is_object()) {
                for (i, item) in items.iter_mut().enumerate() {
                    below(path, index_segment(i), |path| walk_preserving(item, item_schema, path, false, pruned));
                }
            }
        }
        _ => {}
    }
}
