//! Namespace deletion: a terminating namespace loses all its content, then its `kubernetes`
//! finalizer, then itself.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use apimachinery::registry::builtin;
use apimachinery::registry::crd::CrdIndex;
use apiserver::rest::admission::NAMESPACE_FINALIZER;
use apiserver::rest::object;
use apiserver::storage::{key, SharedStorage};
use serde_json::{json, Value};

use super::{run_informer, Change, RETRY};

/// Storage prefix of every namespace on the shard.
pub const PREFIX: &str = "core/namespaces/";

/// Runs the namespace controller forever.
pub async fn run(store: SharedStorage, crds: Arc<CrdIndex>) {
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    run_informer(store.clone(), PREFIX.to_string(), move |change| {
        let (store, crds, busy) = (store.clone(), crds.clone(), busy.clone());
        async move {
            let Change::Present(s) = change else { return };
            let Ok(obj) = serde_json::from_slice::<Value>(&s.value) else { return };
            if !object::is_deleting(&obj) || !busy.lock().unwrap_or_else(|e| e.into_inner()).insert(s.key.clone()) {
                return;
            }
            tokio::spawn(async move {
                if let Some((cluster, _, name)) = key::decode(&s.key) {
                    finish(&store, &crds, cluster, name, &s.key).await;
                }
                busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&s.key);
            });
        }
    })
    .await;
}

/// Prefixes of every namespaced resource stored for a namespace.
fn content_prefixes(crds: &CrdIndex, cluster: &str, namespace: &str) -> Vec<String> {
    let builtins = builtin::builtins()
        .iter()
        .filter(|b| b.info.namespaced && b.backing == builtin::Backing::Stored)
        .map(|b| (b.info.group.clone(), b.info.plural.clone()));
    let custom = crds.served(cluster).into_iter().filter(|r| r.namespaced).map(|r| (r.group, r.plural));
    let mut out: Vec<String> = builtins.chain(custom).map(|(g, p)| key::namespace_prefix(&g, &p, cluster, namespace)).collect();
    out.dedup();
    out
}

async fn finish(store: &SharedStorage, crds: &CrdIndex, cluster: &str, namespace: &str, ns_key: &str) {
    loop {
        let mut remaining = 0usize;
        for prefix in content_prefixes(crds, cluster, namespace) {
            match store.list(&prefix, None, 0).await {
                Ok(page) => {
                    remaining += page.items.len();
                    for item in page.items {
                        if let Err(e) = super::delete(store, &item.key, None).await {
                            tracing::warn!(key = %item.key, error = %e, "deleting namespace content failed");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listing namespace content failed");
                    remaining += 1;
                }
            }
        }
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(RETRY / 5).await;
    }
    let result = super::update(store, ns_key, |ns| {
        let spec_fins = ns["spec"]["finalizers"].as_array().cloned().unwrap_or_default();
        let kept: Vec<Value> = spec_fins.into_iter().filter(|f| f != NAMESPACE_FINALIZER).collect();
        ns["spec"]["finalizers"] = json!(kept);
        true
    })
    .await;
    // With no finalizers left, `update` deletes the namespace itself.
    if let Err(e) = result {
        tracing::warn!(key = %ns_key, error = %e, "finalizing namespace failed");
    }
}
