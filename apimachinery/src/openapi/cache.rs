//! The OpenAPI documents of a logical cluster, built once per set of served resources and
//! served with ETags.
//!
//! Building them clones and converts a few hundred definitions, too much for every kubectl
//! call. Entries are keyed by a SHA-256 fingerprint of what a cluster serves (the built-ins and
//! its established CRDs with their schemas), which gives the per-cluster behaviour without a
//! per-cluster invalidation hook: a CRD change in a cluster changes its key, so the next request
//! builds afresh, and clusters that serve the same resources (all those without CRDs) share one
//! entry. A cryptographic digest rather than a 64-bit hash is what guarantees that a workspace
//! is never handed a document built from another workspace's CRDs. The most recently used
//! entries are kept, a bounded number of them.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Instant;

use ring::digest;
use serde_json::{json, Map, Value};

use super::{gnostic, group_version_document, gv_prefix, v2};
use crate::registry::ResourceInfo;

/// How many distinct served-resource sets keep their documents.
const CAPACITY: usize = 16;

/// One encoded document and its entity tag (unquoted).
pub struct Encoded {
    /// The encoded document.
    pub json: Arc<[u8]>,
    /// Entity tag of the document, a digest of its bytes.
    pub etag: String,
}

/// `/openapi/v2` in both encodings; one ETag for both, as kube-apiserver does (responses say
/// `Vary: Accept`).
pub struct V2 {
    /// The document as JSON.
    pub json: Arc<[u8]>,
    /// The document as gnostic protobuf, for kubectl.
    pub proto: Arc<[u8]>,
    /// Entity tag shared by both encodings.
    pub etag: String,
}

/// Every OpenAPI document of one served-resource set.
pub struct Documents {
    group_versions: BTreeMap<(String, String), (Value, Encoded)>,
    v2: OnceLock<V2>,
}

/// Uppercase hex SHA-512 of a document, kube-openapi's ETag.
pub fn etag(bytes: &[u8]) -> String {
    digest::digest(&digest::SHA512, bytes).as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

impl Documents {
    fn build(served: &[ResourceInfo]) -> Self {
        let mut gvs: Vec<(String, String)> = served.iter().map(|r| (r.group.clone(), r.version.clone())).collect();
        gvs.sort();
        gvs.dedup();
        let group_versions = gvs
            .into_iter()
            .map(|(g, v)| {
                let doc = group_version_document(&g, &v, served);
                let json: Arc<[u8]> = serde_json::to_vec(&doc).unwrap_or_default().into();
                let encoded = Encoded { etag: etag(&json), json };
                ((g, v), (doc, encoded))
            })
            .collect();
        Self { group_versions, v2: OnceLock::new() }
    }

    /// The v3 document of a served group-version.
    pub fn group_version(&self, group: &str, version: &str) -> Option<&Encoded> {
        self.group_versions.get(&(group.to_string(), version.to_string())).map(|(_, e)| e)
    }

    /// The `/openapi/v3` index; each URL carries its document's ETag so clients refetch only
    /// what changed.
    pub fn index(&self, prefix: &str) -> Value {
        let paths: Map<String, Value> = self
            .group_versions
            .iter()
            .map(|((g, v), (_, e))| {
                let key = gv_prefix(g, v).trim_start_matches('/').to_string();
                let url = format!("{prefix}/openapi/v3/{key}?hash={}", e.etag);
                (key, json!({"serverRelativeURL": url}))
            })
            .collect();
        json!({"paths": paths})
    }

    /// `/openapi/v2`, built on first use.
    pub fn v2(&self) -> &V2 {
        self.v2.get_or_init(|| {
            let started = Instant::now();
            let doc = v2::from_v3(self.group_versions.values().map(|(d, _)| d));
            let json: Arc<[u8]> = serde_json::to_vec(&doc).unwrap_or_default().into();
            let proto: Arc<[u8]> = gnostic::encode(&doc).into();
            tracing::debug!(json_bytes = json.len(), proto_bytes = proto.len(), elapsed_ms = started.elapsed().as_millis() as u64, "built /openapi/v2");
            V2 { etag: etag(&json), json, proto }
        })
    }
}

type Fingerprint = [u8; 32];

/// Length-prefixes every field so that no two different inputs hash the same bytes.
fn fingerprint(served: &[ResourceInfo]) -> Fingerprint {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut field = |bytes: &[u8]| {
        ctx.update(&(bytes.len() as u64).to_le_bytes());
        ctx.update(bytes);
    };
    for r in served {
        for s in [&r.group, &r.version, &r.kind, &r.plural] {
            field(s.as_bytes());
        }
        field(&[u8::from(r.namespaced), u8::from(r.custom)]);
        field(&serde_json::to_vec(&r.schema).unwrap_or_default());
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Most recently used first.
type Entries = Vec<(Fingerprint, Arc<Documents>)>;

static CACHE: LazyLock<Mutex<Entries>> = LazyLock::new(Default::default);

/// The documents for a served-resource set (a logical cluster's), from the cache or built now.
pub fn documents(served: &[ResourceInfo]) -> Arc<Documents> {
    let key = fingerprint(served);
    let lock = || CACHE.lock().unwrap_or_else(|e| e.into_inner());
    {
        let mut entries = lock();
        if let Some(pos) = entries.iter().position(|(k, _)| *k == key) {
            let hit = entries.remove(pos);
            let docs = hit.1.clone();
            entries.insert(0, hit);
            return docs;
        }
    }
    // Built outside the lock: other clusters keep being served meanwhile. Two requests racing
    // for the same new key both build; the first insert wins, so every caller from then on
    // shares one copy (and one ETag computation).
    let built = Arc::new(Documents::build(served));
    let mut entries = lock();
    let docs = match entries.iter().position(|(k, _)| *k == key) {
        Some(pos) => entries.remove(pos).1,
        None => built,
    };
    entries.insert(0, (key, docs.clone()));
    entries.truncate(CAPACITY);
    docs
}

/// True when an `If-None-Match` header value names `etag` (or is `*`); weak validators
/// compare equal, as RFC 9110 wants for GET.
pub fn matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/").trim_matches('"') == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::builtin::builtins;
    use crate::registry::crd::resources_of;

    fn builtin_infos() -> Vec<ResourceInfo> {
        builtins().iter().map(|b| b.info.clone()).collect()
    }

    fn with_widget(schema: Value) -> Vec<ResourceInfo> {
        let crd = json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema}}]}});
        builtin_infos().into_iter().chain(resources_of(&crd)).collect()
    }

    #[test]
    fn same_resources_share_documents_and_crd_changes_rebuild() {
        let a = documents(&builtin_infos());
        assert!(Arc::ptr_eq(&a, &documents(&builtin_infos())));
        let one = documents(&with_widget(json!({"type": "object", "properties": {"spec": {"type": "string"}}})));
        let other = documents(&with_widget(json!({"type": "object", "properties": {"spec": {"type": "integer"}}})));
        assert!(!Arc::ptr_eq(&a, &one) && !Arc::ptr_eq(&one, &other));
        assert_ne!(one.v2().etag, other.v2().etag);
        assert!(a.group_version("example.com", "v1").is_none());
        assert!(one.group_version("example.com", "v1").is_some());
    }

    #[test]
    fn etag_is_stable_and_conditional_requests_match() {
        let a = documents(&builtin_infos()).v2().etag.clone();
        assert_eq!(a, Documents::build(&builtin_infos()).v2().etag);
        assert_eq!(a.len(), 128);
        assert!(matches(&format!("\"{a}\""), &a));
        assert!(matches(&format!("\"x\", W/\"{a}\""), &a));
        assert!(matches("*", &a));
        assert!(!matches("\"0123\"", &a));
    }

    #[test]
    fn index_urls_carry_the_document_etag() {
        let docs = documents(&builtin_infos());
        let index = docs.index("/clusters/root");
        let url = index["paths"]["api/v1"]["serverRelativeURL"].as_str().expect("url");
        let etag = &docs.group_version("", "v1").expect("core").etag;
        assert_eq!(url, format!("/clusters/root/openapi/v3/api/v1?hash={etag}"));
    }
}
