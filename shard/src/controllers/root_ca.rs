//! Publishes the server's CA certificate as ConfigMap `kube-root-ca.crt` in every namespace,
//! so clients inside a workspace can verify the server.

use std::sync::Arc;

use apimachinery::rest::object;
use apimachinery::storage::{key, Key, SharedStorage};
use serde_json::{json, Value};

use super::{run_informer, Change};
use crate::bootstrap;

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
            let cm = bootstrap::new_object("v1", "ConfigMap", CONFIG_MAP, namespace, json!({"data": {"ca.crt": &*ca_pem}}));
            let key = Key { group: "", resource: "configmaps", cluster, namespace, name: CONFIG_MAP };
            if let Err(e) = bootstrap::ensure(&store, key, cm).await {
                tracing::warn!(%cluster, %namespace, error = %e, "publishing kube-root-ca.crt failed");
            }
        }
    })
    .await;
}
