//! What every namespace starts with, as in kube: ServiceAccount `default`, and the server's CA
//! certificate as ConfigMap `kube-root-ca.crt` so clients inside a workspace can verify the server.

use std::sync::Arc;

use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use serde_json::json;

use super::{ensure, own_key, Error};
use crate::bootstrap;
use apiserver::controller::{Action, Controller, Informers, Reconcile};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "namespace-defaults";

/// Name of the published ConfigMap.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";

/// Name of the service account every namespace gets.
pub const SERVICE_ACCOUNT: &str = "default";

/// Creates the default objects of each namespace; without a CA only the service account.
pub struct NamespaceDefaults {
    /// Creates the default objects as the controller.
    pub client: SystemClient,
    /// CA certificate (PEM) published as ConfigMap `kube-root-ca.crt`; `None` skips it.
    pub ca_pem: Option<Arc<str>>,
}

/// The controller, fed by every namespace of the shard.
pub fn controller(reconciler: NamespaceDefaults, informers: &Informers) -> Controller<NamespaceDefaults> {
    Controller::new(NAME, reconciler).workers(2).watches(informers, super::namespace::PREFIX, own_key)
}

impl Reconcile for NamespaceDefaults {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, ns: &ObjectRef) -> Result<Action, Error> {
        let Some(obj) = self.client.get(ns).await? else { return Ok(Action::Done) };
        if object::is_deleting(&obj) {
            return Ok(Action::Done);
        }
        let (cluster, namespace) = (ns.cluster.as_str(), ns.name.as_str());
        let sa = bootstrap::new_object("v1", "ServiceAccount", SERVICE_ACCOUNT, namespace, json!({}));
        ensure(&self.client, &ObjectRef::new("", "serviceaccounts", cluster, namespace, SERVICE_ACCOUNT), sa).await?;
        if let Some(ca) = &self.ca_pem {
            let cm = bootstrap::new_object("v1", "ConfigMap", CONFIG_MAP, namespace, json!({"data": {"ca.crt": &**ca}}));
            ensure(&self.client, &ObjectRef::new("", "configmaps", cluster, namespace, CONFIG_MAP), cm).await?;
        }
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::Fixture;

    #[tokio::test]
    async fn a_namespace_gets_its_service_account_and_ca() {
        let f = Fixture::new().await;
        let ns = f.namespace("c1", "team").await;
        let r = NamespaceDefaults { client: f.client(NAME), ca_pem: Some(Arc::from("PEM")) };
        assert_eq!(r.reconcile(&ns).await.unwrap(), Action::Done);
        assert!(f.get("core/serviceaccounts/c1/team/default").await.is_some());
        let cm = f.get("core/configmaps/c1/team/kube-root-ca.crt").await.unwrap();
        assert_eq!(cm["data"]["ca.crt"], "PEM");
        // Idempotent: a second pass finds both.
        assert_eq!(r.reconcile(&ns).await.unwrap(), Action::Done);
    }
}
