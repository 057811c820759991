//! Logical cluster lifecycle: a new LogicalCluster gets its `default` namespace and becomes
//! `Ready` once no initializers are left in its status. One deleted with the content
//! finalizer (logical clusters that a Workspace on another shard owns) first loses
//! everything stored in it, child workspaces included.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use apimachinery::registry::crd::CrdIndex;
use apiserver::rest::object;
use apiserver::storage::{key, SharedStorage};
use serde_json::{json, Value};

use super::{run_informer, update, Change};
use crate::bootstrap;

/// Finalizer holding a deleted LogicalCluster until its content is gone.
pub const CONTENT_FINALIZER: &str = "core.kcp.io/content";

/// Storage prefix of every LogicalCluster on the shard.
pub const PREFIX: &str = "core.kcp.io/logicalclusters/";

/// Runs the logical cluster controller forever.
pub async fn run(store: SharedStorage, crds: Arc<CrdIndex>) {
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    run_informer(store.clone(), PREFIX.to_string(), move |change| {
        let (store, crds, busy) = (store.clone(), crds.clone(), busy.clone());
        async move {
            let Change::Present(s) = change else { return };
            let Some((cluster, _, _)) = key::decode(&s.key) else { return };
            let Ok(obj) = serde_json::from_slice::<Value>(&s.value) else { return };
            if object::is_deleting(&obj) {
                if object::finalizers(&obj).iter().any(|f| f == CONTENT_FINALIZER) && busy.lock().unwrap_or_else(|e| e.into_inner()).insert(s.key.clone()) {
                    let cluster = cluster.to_string();
                    tokio::spawn(async move {
                        let result = match super::workspace::delete_content(&store, &crds, &cluster, false).await {
                            Ok(()) => super::remove_finalizer(&store, &s.key, CONTENT_FINALIZER).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = result {
                            tracing::warn!(%cluster, error = %e, "deleting a logical cluster's content failed");
                        }
                        busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&s.key);
                    });
                }
                return;
            }
            // Ready needs nothing more; Deleting is the workspace controller's (its content is
            // being removed, so nothing may be recreated).
            if matches!(obj.pointer("/status/phase").and_then(Value::as_str), Some("Ready" | "Deleting")) {
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
