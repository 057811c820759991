//! What every namespace starts with, as in kube: ServiceAccount `default`, and the server's CA
//! certificate as ConfigMap `kube-root-ca.crt` so clients inside a workspace can verify the server.

use std::sync::Arc;

use apiserver::rest::object;
use apiserver::storage::{key, Key, SharedStorage};
use serde_json::{json, Value};

use super::{run_informer, Change};
use crate::bootstrap;

/// Name of the published ConfigMap.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";

/// Name of the service account every namespace gets.
pub const SERVICE_ACCOUNT: &str = "default";

/// Runs the controller forever; without a CA only the service account is created.
pub async fn run(store: SharedStorage, ca_pem: Option<Arc<str>>) {
    run_informer(store.clone(), super::namespace::PREFIX.to_string(), move |change| {
        let (store, ca_pem) = (store.clone(), ca_pem.clone());
        async move {
            let Change::Present(s) = change else { return };
            let Some((cluster, _, namespace)) = key::decode(&s.key) else { return };
            let Ok(ns) = serde_json::from_slice::<Value>(&s.value) else { return };
            if object::is_deleting(&ns) {
                return;
            }
            let sa = bootstrap::new_object("v1", "ServiceAccount", SERVICE_ACCOUNT, namespace, json!({}));
            let mut wanted = vec![(Key { group: "", resource: "serviceaccounts", cluster, namespace, name: SERVICE_ACCOUNT }, sa)];
            if let Some(ca) = &ca_pem {
                let cm = bootstrap::new_object("v1", "ConfigMap", CONFIG_MAP, namespace, json!({"data": {"ca.crt": &**ca}}));
                wanted.push((Key { group: "", resource: "configmaps", cluster, namespace, name: CONFIG_MAP }, cm));
            }
            for (key, obj) in wanted {
                if let Err(e) = bootstrap::ensure(&store, key, obj).await {
                    tracing::warn!(%cluster, %namespace, error = %e, "creating a namespace's default objects failed");
                }
            }
        }
    })
    .await;
}
