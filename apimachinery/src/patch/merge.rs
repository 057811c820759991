//! RFC 7386 JSON merge patch, as `kubectl label`, `annotate`, `patch --type merge` and
//! client-side apply of custom resources send it.

use serde_json::Value;

/// Applies an RFC 7386 merge patch: objects merge key by key, `null` deletes a key, and every
/// other value (arrays included) replaces what was there.
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
    fn rfc7386_semantics() {
        let cases = [
            // label / unlabel, as kubectl sends them
            (
                json!({"metadata": {"labels": {"a": "1"}}}),
                json!({"metadata": {"labels": {"tier": "be"}}}),
                json!({"metadata": {"labels": {"a": "1", "tier": "be"}}}),
            ),
            (
                json!({"metadata": {"labels": {"a": "1", "tier": "be"}}}),
                json!({"metadata": {"labels": {"tier": null}}}),
                json!({"metadata": {"labels": {"a": "1"}}}),
            ),
            // arrays are replaced, not merged
            (json!({"l": [1, 2]}), json!({"l": [3]}), json!({"l": [3]})),
            // nulls inside a newly added object are dropped
            (json!({}), json!({"spec": {"a": 1, "b": null}}), json!({"spec": {"a": 1}})),
            // a non-object patch replaces the document
            (json!({"a": 1}), json!("x"), json!("x")),
        ];
        for (doc, patch, want) in cases {
            assert_eq!(merge_patch(&doc, &patch), want, "patch {patch}");
        }
    }
}
