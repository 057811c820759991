//! Permission claims across v1alpha1 and v1alpha2, as kcp converts them.
//!
//! A v1alpha2 claim says which verbs it wants and (on bindings) a label selector; a v1alpha1
//! claim says `all` or lists `resourceSelector`s. Each side converts to the other's shape, and a
//! claim whose round trip would differ is kept whole in an annotation of the converted object;
//! on the way back the annotated claim (matched by group, resource and identity hash) gives
//! back the fields only its version has. kcp annotates the claims its own round trip loses;
//! comparing the round trip decides the same cases and also keeps a wildcard claim's
//! `defaultSelector`, which kcp's rule lets go.

use serde_json::{json, Map, Value};

use crate::registry::strategy::ConversionError;

/// Fields both versions share.
const COMMON: &[&str] = &["group", "resource", "identityHash", "state"];
/// Fields only a v1alpha1 claim has.
const V1ALPHA1_ONLY: &[&str] = &["all", "resourceSelector"];

/// One list of claims in an object and the annotations that carry it across versions.
pub(super) struct ClaimList {
    /// Where the list is (`/spec/permissionClaims`).
    pub pointer: &'static str,
    /// Whether v1alpha2 claims of this list carry a `selector` (bindings) rather than a
    /// `defaultSelector` (exports).
    pub scoped: bool,
    /// Annotation on a v1alpha2 object with the v1alpha1 claims it cannot say.
    pub v1alpha1_annotation: &'static str,
    /// Annotation on a v1alpha1 object with the v1alpha2 claims it cannot say.
    pub v1alpha2_annotation: &'static str,
}

fn pick(claim: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter().filter_map(|k| claim.get(*k).map(|v| (k.to_string(), v.clone()))).collect()
}

impl ClaimList {
    fn v1alpha2_only(&self) -> &'static [&'static str] {
        if self.scoped {
            &["verbs", "selector"]
        } else {
            &["verbs", "defaultSelector"]
        }
    }

    /// A v1alpha2 claim in v1alpha1's words: a scoped claim matching everything is `all`.
    fn down(&self, claim: &Value) -> Value {
        let mut out = pick(claim, COMMON);
        if self.scoped && claim.pointer("/selector/matchAll") == Some(&json!(true)) {
            out.insert("all".into(), json!(true));
        }
        Value::Object(out)
    }

    /// A v1alpha1 claim in v1alpha2's words: all verbs, and on bindings a selector matching all.
    fn up(&self, claim: &Value) -> Value {
        let mut out = pick(claim, COMMON);
        out.insert("verbs".into(), json!(["*"]));
        if self.scoped {
            out.insert("selector".into(), json!({"matchAll": true}));
        }
        Value::Object(out)
    }

    /// Converts the list of a v1alpha2 object becoming v1alpha1.
    pub fn to_v1alpha1(&self, obj: &mut Value) -> Result<(), ConversionError> {
        let way = Way {
            there: Self::down,
            back: Self::up,
            restore_from: self.v1alpha1_annotation,
            target_only: V1ALPHA1_ONLY,
            keep_in: self.v1alpha2_annotation,
            version: "v1alpha1",
        };
        self.convert(obj, &way)
    }

    /// Converts the list of a v1alpha1 object becoming v1alpha2.
    pub fn to_v1alpha2(&self, obj: &mut Value) -> Result<(), ConversionError> {
        let way = Way {
            there: Self::up,
            back: Self::down,
            restore_from: self.v1alpha2_annotation,
            target_only: self.v1alpha2_only(),
            keep_in: self.v1alpha1_annotation,
            version: "v1alpha2",
        };
        self.convert(obj, &way)
    }

    /// Converts each claim, restores the target-only fields kept by an earlier conversion, and
    /// keeps the claims that would not come back unchanged.
    fn convert(&self, obj: &mut Value, way: &Way) -> Result<(), ConversionError> {
        let kept = take_annotation(obj, way.restore_from, way.version)?;
        let Some(Value::Array(claims)) = obj.pointer_mut(self.pointer) else { return Ok(()) };
        let mut lossy = Vec::new();
        for claim in claims.iter_mut() {
            let mut converted = (way.there)(self, claim);
            if let (Some(original), Some(fields)) = (kept.iter().find(|k| same_claim(k, claim)), converted.as_object_mut()) {
                for field in way.target_only {
                    match original.get(*field) {
                        Some(v) => fields.insert(field.to_string(), v.clone()),
                        None => fields.remove(*field),
                    };
                }
            }
            // Judged after restoring: what an earlier conversion kept is not lost again.
            if (way.back)(self, &converted) != *claim {
                lossy.push(std::mem::replace(claim, converted));
            } else {
                *claim = converted;
            }
        }
        if !lossy.is_empty() {
            let encoded = serde_json::to_string(&lossy).map_err(|e| ConversionError {
                version: way.version.into(),
                field: self.pointer.trim_start_matches('/').replace('/', "."),
                reason: e.to_string(),
            })?;
            set_annotation(obj, way.keep_in, encoded);
        }
        Ok(())
    }
}

/// One direction of a conversion: how claims go there and back, and where each side's
/// leftovers are annotated.
struct Way {
    there: fn(&ClaimList, &Value) -> Value,
    back: fn(&ClaimList, &Value) -> Value,
    /// Annotation holding what the target version can say and the source could not.
    restore_from: &'static str,
    /// Fields only the target version has.
    target_only: &'static [&'static str],
    /// Annotation for the source claims the target cannot say.
    keep_in: &'static str,
    version: &'static str,
}

/// kcp's `EqualGRI`: the same group, resource and identity hash.
fn same_claim(a: &Value, b: &Value) -> bool {
    ["group", "resource", "identityHash"].iter().all(|k| a[*k].as_str().unwrap_or_default() == b[*k].as_str().unwrap_or_default())
}

/// Removes annotation `key` and parses the JSON list it holds (none when absent).
pub(super) fn take_annotation(obj: &mut Value, key: &str, version: &str) -> Result<Vec<Value>, ConversionError> {
    let Some(annotations) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) else { return Ok(Vec::new()) };
    let Some(raw) = annotations.remove(key) else { return Ok(Vec::new()) };
    if annotations.is_empty() {
        if let Some(meta) = obj["metadata"].as_object_mut() {
            meta.remove("annotations");
        }
    }
    raw.as_str().and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok()).ok_or_else(|| ConversionError {
        version: version.into(),
        field: format!("metadata.annotations[{key}]"),
        reason: "must hold a JSON list".into(),
    })
}

/// Sets annotation `key` to `value`.
pub(super) fn set_annotation(obj: &mut Value, key: &str, value: String) {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if !obj["metadata"]["annotations"].is_object() {
        obj["metadata"]["annotations"] = json!({});
    }
    obj["metadata"]["annotations"][key] = json!(value);
}
