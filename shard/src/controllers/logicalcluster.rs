//! Logical cluster lifecycle: a new LogicalCluster gets its `default` namespace and becomes
//! `Ready` once no initializers are left in its status.

use apimachinery::storage::{key, SharedStorage};
use serde_json::{json, Value};

use super::{run_informer, update, Change};
use crate::bootstrap;

/// Storage prefix of every LogicalCluster on the shard.
pub const PREFIX: &str = "core.kcp.io/logicalclusters/";

/// Runs the logical cluster controller forever.
pub async fn run(store: SharedStorage) {
    run_informer(store.clone(), PREFIX.to_string(), move |change| {
        let store = store.clone();
        async move {
            let Change::Present(s) = change else { return };
            let Some((cluster, _, _)) = key::decode(&s.key) else { return };
            let Ok(obj) = serde_json::from_slice::<Value>(&s.value) else { return };
            if obj.pointer("/status/phase") == Some(&json!("Ready")) {
                return;
            }
            if let Err(e) = bootstrap::ensure_namespace(&store, cluster, "default").await {
                tracing::warn!(%cluster, error = %e, "creating namespace default failed");
                return;
            }
            // Initializers hold the logical cluster in Initializing until each removed itself.
            let result = update(&store, &s.key, |lc| {
                let pending = lc.pointer("/status/initializers").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
                if pending || lc.pointer("/status/phase") == Some(&json!("Ready")) {
                    return false;
                }
                lc["status"]["phase"] = json!("Ready");
                true
            })
            .await;
            if let Err(e) = result {
                tracing::warn!(%cluster, error = %e, "marking logical cluster ready failed");
            }
        }
    })
    .await;
}
