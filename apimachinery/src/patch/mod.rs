//! Patching: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge patch for built-in
//! kinds, and server-side apply with managed fields. Pure functions over JSON values.

mod fields;
mod strategic;

use serde_json::Value;

pub use fields::{apply, track_update, ApplyConflicts};
pub use strategic::strategic_merge_patch;

/// The patch formats the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchType {
    /// The patch type of a Content-Type (without parameters).
    pub fn from_content_type(media: &str) -> Option<PatchType> {
        match media {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// A patch that cannot be applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PatchError {
    #[error("the server rejected our request due to an error in our request: {0}")]
    Malformed(String),
    #[error("unable to apply patch: {0}")]
    Apply(String),
}

/// Applies an RFC 6902 JSON patch.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let p: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| PatchError::Malformed(e.to_string()))?;
    let mut out = doc.clone();
    json_patch::patch(&mut out, &p).map_err(|e| PatchError::Apply(e.to_string()))?;
    Ok(out)
}

/// Applies an RFC 7386 merge patch.
pub fn merge_patch(doc: &Value, patch: &Value) -> Value {
    let mut out = doc.clone();
    json_patch::merge(&mut out, patch);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_merge_patches() {
        let doc = json!({"data":{"a":"1","b":"2"}});
        assert_eq!(json_patch(&doc, &json!([{"op":"remove","path":"/data/a"}])).expect("applies"), json!({"data":{"b":"2"}}));
        assert!(matches!(json_patch(&doc, &json!([{"op":"test","path":"/data/a","value":"9"}])), Err(PatchError::Apply(_))));
        assert!(matches!(json_patch(&doc, &json!({"op":"x"})), Err(PatchError::Malformed(_))));
        assert_eq!(merge_patch(&doc, &json!({"data":{"a":null,"c":"3"}})), json!({"data":{"b":"2","c":"3"}}));
        assert_eq!(PatchType::from_content_type("application/apply-patch+yaml"), Some(PatchType::Apply));
    }
}
