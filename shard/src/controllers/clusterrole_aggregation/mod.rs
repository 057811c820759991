//! ClusterRole aggregation, as kube's controller does it, within each logical cluster: a
//! ClusterRole with an `aggregationRule` gets as its rules those of the other ClusterRoles of
//! its logical cluster its selectors match (per selector, in name order, each rule once).
//! The authorizer already evaluates aggregation itself ([`rbac::aggregated_rules`] is its
//! algorithm); this writes the result into the role, so that what kubectl shows of it is what
//! is enforced. Operators extend a workspace's roles this way by labelling a ClusterRole.

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use apimachinery::auth::rbac::{aggregated_rules, aggregation_selectors};
use apimachinery::registry::rbac;
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::storage::{key, Key};
use serde_json::Value;

use super::{update, Error, Part};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "clusterrole-aggregation";

/// The aggregating ClusterRoles of each logical cluster.
type Aggregating = Arc<Mutex<HashMap<String, BTreeSet<String>>>>;

/// Fills aggregated ClusterRoles.
pub struct Aggregation {
    /// Reads and writes ClusterRoles as the controller.
    pub client: SystemClient,
    aggregating: Aggregating,
}

impl Aggregation {
    /// A controller writing through `client`.
    pub fn new(client: SystemClient) -> Self {
        Aggregation { client, aggregating: Arc::default() }
    }
}

/// The controller, fed by every ClusterRole of the shard: any change of one queues the
/// aggregating roles of its logical cluster.
pub fn controller(reconciler: Aggregation, informers: &Informers) -> Controller<Aggregation> {
    let aggregating = reconciler.aggregating.clone();
    Controller::new(NAME, reconciler).watches(informers, key::resource_prefix(rbac::GROUP, "clusterroles"), move |change: &Change| {
        let Some(k) = Key::parse(change.key()) else { return Vec::new() };
        let aggregates = match change {
            Change::Present(s) => serde_json::from_slice::<Value>(&s.value).is_ok_and(|role| aggregation_selectors(&role).is_some()),
            Change::Gone(_) => false,
        };
        let mut all = aggregating.lock().unwrap_or_else(|e| e.into_inner());
        let names = all.entry(k.cluster.to_string()).or_default();
        if aggregates {
            names.insert(k.name.to_string());
        } else {
            names.remove(k.name);
        }
        let queued: Vec<ObjectRef> = names.iter().map(|n| ObjectRef::new(rbac::GROUP, "clusterroles", k.cluster, "", n)).collect();
        if names.is_empty() {
            all.remove(k.cluster);
        }
        queued
    })
}

impl Reconcile for Aggregation {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let prefix = key::cluster_prefix(rbac::GROUP, "clusterroles", &r.cluster);
        let roles: Vec<Value> =
            self.client.api().store.list(&prefix, None, 0, None).await?.items.iter().filter_map(|item| serde_json::from_slice(&item.value).ok()).collect();
        let Some(rules) = aggregated_rules(&roles, &r.name) else { return Ok(Action::Done) };
        update(&self.client, r, Part::Main, |role| {
            let current = role["rules"].as_array().map_or(&[][..], Vec::as_slice);
            if current == rules.as_slice() {
                return false;
            }
            role["rules"] = Value::Array(rules.clone());
            true
        })
        .await?;
        Ok(Action::Done)
    }
}
