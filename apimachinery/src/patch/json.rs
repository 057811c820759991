//! RFC 6902 JSON patch (`kubectl patch --type json`), on top of the json-patch crate.
//!
//! kube-apiserver answers an undecodable patch with 400 and a patch that fails to apply
//! (a failed `test`, a missing path) with 422; the split is kept here.

use serde_json::Value;

use super::PatchError;

/// Applies an RFC 6902 patch document (a JSON array of operations) to `doc`.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| PatchError::BadRequest(format!("error decoding patch: {e}")))?;
    let mut out = doc.clone();
    json_patch::patch(&mut out, &ops).map_err(|e| PatchError::Unprocessable(format!("unable to apply patch: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations() {
        let doc = json!({"data": {"key1": "v1"}, "list": [1, 2]});
        let cases = [
            (json!([{"op": "remove", "path": "/data/key1"}]), json!({"data": {}, "list": [1, 2]})),
            (json!([{"op": "add", "path": "/data/key2", "value": "v2"}]), json!({"data": {"key1": "v1", "key2": "v2"}, "list": [1, 2]})),
            (json!([{"op": "replace", "path": "/data/key1", "value": "x"}]), json!({"data": {"key1": "x"}, "list": [1, 2]})),
            (json!([{"op": "add", "path": "/list/-", "value": 3}]), json!({"data": {"key1": "v1"}, "list": [1, 2, 3]})),
            (json!([{"op": "move", "from": "/data/key1", "path": "/moved"}]), json!({"data": {}, "list": [1, 2], "moved": "v1"})),
            (json!([{"op": "copy", "from": "/data/key1", "path": "/copied"}]), json!({"data": {"key1": "v1"}, "list": [1, 2], "copied": "v1"})),
            (json!([{"op": "test", "path": "/data/key1", "value": "v1"}, {"op": "remove", "path": "/list/0"}]), json!({"data": {"key1": "v1"}, "list": [2]})),
        ];
        for (patch, want) in cases {
            assert_eq!(json_patch(&doc, &patch), Ok(want), "patch {patch}");
        }
    }

    #[test]
    fn failures() {
        let doc = json!({"data": {"key1": "v1"}});
        let unprocessable = [
            json!([{"op": "test", "path": "/data/key1", "value": "other"}]),
            json!([{"op": "remove", "path": "/data/missing"}]),
            json!([{"op": "replace", "path": "/nope/x", "value": 1}]),
        ];
        for patch in unprocessable {
            match json_patch(&doc, &patch) {
                Err(PatchError::Unprocessable(m)) => assert!(m.starts_with("unable to apply patch: "), "{m}"),
                other => panic!("{patch}: {other:?}"),
            }
        }
        let malformed = [json!({"op": "add"}), json!([{"op": "frobnicate", "path": "/a"}])];
        for patch in malformed {
            assert!(matches!(json_patch(&doc, &patch), Err(PatchError::BadRequest(_))), "{patch}");
        }
    }
}
