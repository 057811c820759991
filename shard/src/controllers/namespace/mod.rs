//! Namespace deletion: a terminating namespace loses all its content, then its `kubernetes`
//! finalizer, then itself.

use std::sync::Arc;

use apimachinery::registry::builtin;
use apimachinery::registry::crd::CrdIndex;
use apiserver::rest::admission::NAMESPACE_FINALIZER;
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use apiserver::storage::key;
use serde_json::{json, Value};

use super::{delete_all, own_key, update, Error, Part, DELETE_PASS};
use apiserver::controller::{Action, Controller, Informers, Reconcile};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "namespace";

/// Storage prefix of every namespace on the shard.
pub const PREFIX: &str = "core/namespaces/";

/// Empties and then releases terminating namespaces.
pub struct NamespaceDeletion {
    /// Deletes namespace contents and finalizes as the controller.
    pub client: SystemClient,
    /// The served CRDs, whose namespaced instances are deleted too.
    pub crds: Arc<CrdIndex>,
}

/// The controller, fed by every namespace of the shard.
pub fn controller(reconciler: NamespaceDeletion, informers: &Informers) -> Controller<NamespaceDeletion> {
    Controller::new(NAME, reconciler).workers(2).watches(informers, PREFIX, own_key)
}

/// Prefixes of every namespaced resource stored for a namespace.
fn content_prefixes(crds: &CrdIndex, cluster: &str, namespace: &str) -> Vec<String> {
    let builtins = builtin::builtins()
        .iter()
        .filter(|b| b.info.namespaced && b.backing == builtin::Backing::Stored)
        .map(|b| (b.info.group.clone(), b.info.plural.clone()));
    let custom = crds.stored(cluster).into_iter().filter(|r| r.namespaced).map(|r| (r.group.clone(), r.storage_resource()));
    let mut out: Vec<String> = builtins.chain(custom).map(|(g, p)| key::namespace_prefix(&g, &p, cluster, namespace)).collect();
    out.dedup();
    out
}

impl Reconcile for NamespaceDeletion {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, ns: &ObjectRef) -> Result<Action, Error> {
        let Some(obj) = self.client.get(ns).await? else { return Ok(Action::Done) };
        if !object::is_deleting(&obj) {
            return Ok(Action::Done);
        }
        if delete_all(&self.client, content_prefixes(&self.crds, &ns.cluster, &ns.name)).await? > 0 {
            return Ok(Action::RequeueAfter(DELETE_PASS));
        }
        // With no finalizers left, the write deletes the namespace itself.
        update(&self.client, ns, Part::Main, |ns| {
            let spec_fins = ns["spec"]["finalizers"].as_array().cloned().unwrap_or_default();
            let kept: Vec<Value> = spec_fins.iter().filter(|f| *f != NAMESPACE_FINALIZER).cloned().collect();
            ns["spec"]["finalizers"] = json!(kept);
            kept.len() != spec_fins.len()
        })
        .await?;
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::Fixture;

    #[tokio::test]
    async fn a_terminating_namespace_is_emptied_then_finalized() {
        let f = Fixture::new().await;
        let ns = f.namespace("c1", "team").await;
        let cm = ObjectRef::new("", "configmaps", "c1", "team", "held");
        f.client("test")
            .create(&cm, json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}}))
            .await
            .unwrap();
        let r = NamespaceDeletion { client: f.client(NAME), crds: f.crds.clone() };
        // Not terminating: nothing happens.
        assert_eq!(r.reconcile(&ns).await.unwrap(), Action::Done);
        assert!(f.get(&cm.key()).await.is_some());

        f.client("test").delete(&ns, None).await.unwrap();
        // The content is marked, but held by its finalizer: the namespace waits.
        assert_eq!(r.reconcile(&ns).await.unwrap(), Action::RequeueAfter(DELETE_PASS));
        assert!(object::is_deleting(&f.get(&cm.key()).await.unwrap()));
        assert!(f.get(&ns.key()).await.is_some());

        crate::controllers::remove_finalizer(&f.client("test"), &cm, "example.com/hold").await.unwrap();
        assert_eq!(r.reconcile(&ns).await.unwrap(), Action::Done);
        assert!(f.get(&ns.key()).await.is_none(), "finalized and gone");
    }
}
