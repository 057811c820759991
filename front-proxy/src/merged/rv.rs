//! The merged view's resourceVersion: every shard's position in one opaque token, so a client
//! that resumes a watch (or starts one from a list) continues each shard exactly where it was.
//! Tokens are `m` followed by unpadded base64url of `shard=revision` pairs joined by `,`, and
//! never look like a shard's own decimal revisions, so the two cannot be confused.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Each shard's revision, by shard name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions(pub BTreeMap<String, u64>);

impl Positions {
    /// The opaque token a client sees.
    pub fn encode(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(shard, rv)| format!("{shard}={rv}")).collect();
        format!("m{}", B64.encode(pairs.join(",")))
    }

    /// Reads a token; None for anything that is not one (a shard's own revision, garbage).
    pub fn decode(token: &str) -> Option<Positions> {
        let text = String::from_utf8(B64.decode(token.strip_prefix('m')?).ok()?).ok()?;
        let mut out = BTreeMap::new();
        for pair in text.split(',').filter(|p| !p.is_empty()) {
            let (shard, rv) = pair.split_once('=')?;
            out.insert(shard.to_string(), rv.parse().ok()?);
        }
        Some(Positions(out))
    }

    /// These positions with `shard` at `revision`.
    pub fn with(&self, shard: &str, revision: u64) -> Positions {
        let mut next = self.clone();
        next.0.insert(shard.to_string(), revision);
        next
    }
}

/// The revision of `metadata.resourceVersion` of an object as a shard serves it.
pub fn revision_of(obj: &Value) -> Option<u64> {
    obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|rv| rv.parse().ok())
}

/// Replaces a merged token in `metadata.resourceVersion` of a request body by the revision of
/// `shard`, so an update of an object read through the merged view carries the precondition
/// its shard understands. Bodies without one are left alone; None when nothing changed.
pub fn localize_body(body: &[u8], shard: &str) -> Option<Vec<u8>> {
    let mut obj: Value = serde_json::from_slice(body).ok()?;
    let token = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str)?;
    let local = Positions::decode(token)?.0.get(shard).copied()?;
    obj["metadata"]["resourceVersion"] = Value::String(local.to_string());
    serde_json::to_vec(&obj).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_round_trip_and_are_not_revisions() {
        let p = Positions::default().with("root", 42).with("shard-2", 7);
        let token = p.encode();
        assert!(token.starts_with('m') && token.parse::<u64>().is_err(), "{token}");
        assert_eq!(Positions::decode(&token), Some(p));
        assert_eq!(Positions::decode("42"), None);
        assert_eq!(Positions::decode("m!!"), None);
        assert_eq!(Positions::decode(&format!("m{}", B64.encode("root=x"))), None);
        assert_eq!(Positions::decode("m"), Some(Positions::default()));
    }

    #[test]
    fn bodies_get_their_shards_revision() {
        let token = Positions::default().with("root", 42).with("shard-2", 7).encode();
        let body = serde_json::to_vec(&json!({"metadata": {"name": "woody", "resourceVersion": token}})).unwrap();
        let local: Value = serde_json::from_slice(&localize_body(&body, "shard-2").expect("changed")).unwrap();
        assert_eq!(local["metadata"]["resourceVersion"], "7");
        assert!(localize_body(br#"{"metadata":{"resourceVersion":"12"}}"#, "root").is_none());
        assert!(localize_body(b"not json", "root").is_none());
    }
}
