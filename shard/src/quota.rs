//! ResourceQuota in every workspace: each create in a namespace is charged on the namespace's
//! quotas before it is stored, and refused with 403 once a quota's object count is reached
//! ([`apimachinery::quota`] says what counts). The quota controller keeps `status` true to
//! what is stored ([`crate::controllers::resourcequota`]).
//!
//! Charges are compare-and-swap writes of the quota's `status.used`, so racing creates are
//! serialized on the quota and never both take its last slot.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use apimachinery::quota;
use apimachinery::status::ApiError;
use apiserver::controller::Change;
use apiserver::rest::{dry_run, object, AdmissionPlugin, Write};
use apiserver::storage::{key, Key, StorageError};
use futures::future::BoxFuture;
use serde_json::Value;

/// How many times a create re-reads quotas that changed under its charge before giving up.
const ATTEMPTS: usize = 8;

/// The names of the quotas of every namespace of the shard, from the informer: a create in a
/// namespace without quotas then costs no read.
#[derive(Default)]
pub struct QuotaIndex {
    /// cluster → namespace → quota names.
    quotas: RwLock<HashMap<String, HashMap<String, BTreeSet<String>>>>,
    /// The informer has listed every quota: absence in the index means something.
    synced: AtomicBool,
}

impl QuotaIndex {
    /// Records a change of a ResourceQuota.
    pub fn saw(&self, change: &Change) {
        let Some(k) = Key::parse(change.key()) else { return };
        let mut quotas = self.quotas.write().unwrap_or_else(|e| e.into_inner());
        match change {
            Change::Present(_) => {
                quotas.entry(k.cluster.to_string()).or_default().entry(k.namespace.to_string()).or_default().insert(k.name.to_string());
            }
            Change::Gone(_) => {
                let Some(namespaces) = quotas.get_mut(k.cluster) else { return };
                if let Some(names) = namespaces.get_mut(k.namespace) {
                    names.remove(k.name);
                    if names.is_empty() {
                        namespaces.remove(k.namespace);
                    }
                }
                if namespaces.is_empty() {
                    quotas.remove(k.cluster);
                }
            }
        }
    }

    /// Notes that every stored quota has been seen.
    pub fn mark_synced(&self) {
        self.synced.store(true, Ordering::Release);
    }

    /// The quotas of one namespace.
    pub fn of(&self, cluster: &str, namespace: &str) -> Vec<String> {
        let quotas = self.quotas.read().unwrap_or_else(|e| e.into_inner());
        quotas.get(cluster).and_then(|n| n.get(namespace)).map(|names| names.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether a quota may restrict writes in a namespace (always, until the index is complete).
    fn may_restrict(&self, cluster: &str, namespace: &str) -> bool {
        if !self.synced.load(Ordering::Acquire) {
            return true;
        }
        let quotas = self.quotas.read().unwrap_or_else(|e| e.into_inner());
        quotas.get(cluster).is_some_and(|n| n.contains_key(namespace))
    }
}

/// How many locks the namespaces with quotas share.
const LOCKS: usize = 64;

/// Charges every create on the quotas of its namespace, last of the admission plugins so that
/// nothing refuses the write after it was charged.
pub struct QuotaAdmission {
    /// Which namespaces have quotas.
    index: Arc<QuotaIndex>,
    /// Charges in one namespace take turns (kube's quota evaluator also works one namespace at
    /// a time), so that racing creates do not fail each other's compare-and-swap; only the
    /// controller's recounts can still make a charge read again.
    locks: Vec<tokio::sync::Mutex<()>>,
}

impl QuotaAdmission {
    /// Admission over the quotas `index` knows of.
    pub fn new(index: Arc<QuotaIndex>) -> Self {
        QuotaAdmission { index, locks: (0..LOCKS).map(|_| tokio::sync::Mutex::new(())).collect() }
    }

    fn lock(&self, cluster: &str, namespace: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, RandomState};
        static HASHER: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        let hash = HASHER.get_or_init(RandomState::new).hash_one((cluster, namespace));
        &self.locks[hash as usize % LOCKS]
    }
}

impl AdmissionPlugin for QuotaAdmission {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let (info, namespace) = (&w.resource.info, w.req.info.namespace.as_str());
            if w.old.is_some() || !info.namespaced || !self.index.may_restrict(w.cluster, namespace) {
                return Ok(());
            }
            let names = quota::names_counting(&info.group, &info.plural);
            let name = object::meta_str(obj, "name");
            let prefix = key::namespace_prefix("", "resourcequotas", w.cluster, namespace);
            let store = &w.api.store;
            let _turn = self.lock(w.cluster, namespace).lock().await;
            // Quotas already charged for this create, so that a retry never charges one twice.
            let mut charged = BTreeSet::new();
            // The quota whose charge last met a newer write, for the answer if none gets through.
            let mut stale = String::new();
            for _ in 0..ATTEMPTS {
                let mut charges = Vec::new();
                for item in store.list(&prefix, None, 0, None).await?.items {
                    if charged.contains(&item.key) {
                        continue;
                    }
                    let mut q: Value = serde_json::from_slice(&item.value).map_err(ApiError::internal)?;
                    match quota::charge(&q, &names) {
                        Ok(None) => {}
                        Ok(Some(used)) => {
                            q["status"]["used"] = Value::Object(used);
                            charges.push((item.key, item.revision, q));
                        }
                        Err(why) => return Err(ApiError::forbidden_because(&info.group, &info.plural, name, &why)),
                    }
                }
                if charges.is_empty() || dry_run(w.req)? {
                    return Ok(());
                }
                // The store refuses a duplicate name after admission; it must not be charged.
                if charged.is_empty() && !name.is_empty() && store.get(&w.resource.key(w.cluster, namespace, name)).await.is_ok() {
                    return Ok(());
                }
                stale.clear();
                for (key, revision, q) in charges {
                    match store.update(&key, revision, object::to_stored(&q)).await {
                        Ok(_) => {
                            charged.insert(key);
                        }
                        Err(StorageError::Conflict { .. } | StorageError::NotFound { .. }) => stale = object::meta_str(&q, "name").to_string(),
                        Err(e) => return Err(e.into()),
                    }
                }
                if stale.is_empty() {
                    return Ok(());
                }
            }
            Err(ApiError::conflict_msg("", "resourcequotas", &stale, "the object has been modified while this create was charged on it; please try again"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiserver::storage::Stored;

    fn change(present: bool, key: &str) -> Change {
        if present {
            Change::Present(Stored { key: key.into(), value: bytes::Bytes::new(), revision: 1 })
        } else {
            Change::Gone(key.into())
        }
    }

    #[test]
    fn the_index_restricts_everything_until_synced_then_only_namespaces_with_quotas() {
        let idx = QuotaIndex::default();
        assert!(idx.may_restrict("c", "default"), "not listed yet");
        let q = Key { group: "", resource: "resourcequotas", cluster: "c", namespace: "team", name: "q" }.encode();
        idx.saw(&change(true, &q));
        idx.mark_synced();
        assert!(idx.may_restrict("c", "team"));
        assert!(!idx.may_restrict("c", "default"));
        assert!(!idx.may_restrict("d", "team"), "clusters apart");
        assert_eq!(idx.of("c", "team"), ["q"]);
        idx.saw(&change(false, &q));
        assert!(!idx.may_restrict("c", "team"));
        assert!(idx.quotas.read().unwrap().is_empty(), "nothing left behind");
    }
}
