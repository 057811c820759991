//! Publishes the server's CA certificate as ConfigMap `kube-root-ca.crt` in every namespace,
//! so clients inside a workspace can verify the server.

use std::sync::Arc;

use apimachinery::rest::object;
use apimachinery::storage::{key, Key, SharedStorage, StorageError};
use serde_json::{json, Value};

use super::{run_informer, Change};

/// Name of the published ConfigMap.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";

/// Runs the publisher forever.
pub async fn run(store: SharedStorage, ca_pem: Arc<str>) {
    run_informer(store.clone(), super::namespace::PREFIX.to_string(), move |change| {
        let (store, ca_pem) = (store.clone(), ca_pem.clone());
        async move {
            let Change::Present(s) = change else { return };
            let Some((cluster, _, namespace)) = key::decode(&s.key) else { return };
            let Ok(ns) = serde_json::from_slice::<Value>(&s.value) else { return };
            if object::is_deleting(&ns) {
                return;
            }
            let cm = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CONFIG_MAP, "namespace": namespace, "uid": uuid::Uuid::new_v4().to_string(), "creationTimestamp": object::now_rfc3339()},
                "data": {"ca.crt": &*ca_pem},
            });
            let k = Key { group: "", resource: "configmaps", cluster, namespace, name: CONFIG_MAP }.encode();
            match store.create(&k, object::to_stored(&cm)).await {
                Ok(_) | Err(StorageError::AlreadyExists { .. }) => {}
                Err(e) => tracing::warn!(key = %k, error = %e, "publishing kube-root-ca.crt failed"),
            }
        }
    })
    .await;
}
