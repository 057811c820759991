//! Structural defaulting: filling in `default` values of a schema, as apiextensions does when it
//! decodes a custom object.
//!
//! A default is applied where a field is missing or is a `null` the schema does not allow;
//! defaults are pruned against their own schema first (so a default never brings back unknown
//! fields) and then defaulted themselves, so nested defaults apply. Non-nullable `null`s that
//! have no default are dropped, as upstream does before validation.

use super::{additional_schema, flag, properties, prune::prune_value};
use serde_json::Value;

/// Applies the schema's `default`s to `obj` in place.
pub fn default(schema: &Value, obj: &mut Value) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = properties(schema) {
                for (key, prop) in props {
                    let Some(def) = prop.get("default") else { continue };
                    let missing = match map.get(key) {
                        None => true,
                        Some(v) => v.is_null() && !flag(prop, "nullable"),
                    };
                    if missing {
                        map.insert(key.clone(), pruned_default(prop, def));
                    }
                }
                map.retain(|key, v| !(v.is_null() && props.get(key).is_some_and(|p| !flag(p, "nullable") && p.get("default").is_none())));
            }
            for (key, value) in map.iter_mut() {
                match properties(schema).and_then(|p| p.get(key)) {
                    Some(prop) => default(prop, value),
                    None => {
                        if let Some(additional) = additional_schema(schema) {
                            default(additional, value);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            let Some(item_schema) = schema.get("items").filter(|s| s.is_object()) else { return };
            for item in items.iter_mut() {
                if item.is_null() && !flag(item_schema, "nullable") {
                    if let Some(def) = item_schema.get("default") {
                        *item = pruned_default(item_schema, def);
                    }
                }
                default(item_schema, item);
            }
        }
        _ => {}
    }
}

fn pruned_default(schema: &Value, def: &Value) -> Value {
    let mut value = def.clone();
    prune_value(schema, &mut value);
    value
}
