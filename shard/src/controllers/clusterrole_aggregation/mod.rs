//! ClusterRole aggregation, as kube's controller does it, within each logical cluster: a
//! ClusterRole with an `aggregationRule` gets as its rules those of every other ClusterRole of
//! its logical cluster that one of its selectors matches, gathered in name order, each rule
//! once. Operators extend a workspace's roles this way by labelling a ClusterRole.

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use apimachinery::field;
use apimachinery::registry::rbac;
use apimachinery::selector::LabelSelector;
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::storage::{key, Key};
use serde_json::{Map, Value};

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

/// A ClusterRole's aggregation selectors, None when it aggregates nothing.
fn selectors(role: &Value) -> Option<Vec<LabelSelector>> {
    let list = field::at(role, &["aggregationRule", "clusterRoleSelectors"])?.as_array()?;
    Some(list.iter().filter_map(|s| LabelSelector::from_json(s).ok()).collect())
}

/// The controller, fed by every ClusterRole of the shard: any change of one queues the
/// aggregating roles of its logical cluster.
pub fn controller(reconciler: Aggregation, informers: &Informers) -> Controller<Aggregation> {
    let aggregating = reconciler.aggregating.clone();
    Controller::new(NAME, reconciler).watches(informers, key::resource_prefix(rbac::GROUP, "clusterroles"), move |change: &Change| {
        let Some(k) = Key::parse(change.key()) else { return Vec::new() };
        let aggregates = match change {
            Change::Present(s) => serde_json::from_slice::<Value>(&s.value).is_ok_and(|role| selectors(&role).is_some()),
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
        let Some(role) = self.client.get(r).await? else { return Ok(Action::Done) };
        let Some(selectors) = selectors(&role) else { return Ok(Action::Done) };
        let prefix = key::cluster_prefix(rbac::GROUP, "clusterroles", &r.cluster);
        let mut rules: Vec<Value> = Vec::new();
        // Listed in key order, which is name order within one logical cluster.
        for item in self.client.api().store.list(&prefix, None, 0, None).await?.items {
            let Ok(other) = serde_json::from_slice::<Value>(&item.value) else { continue };
            let empty = Map::new();
            let labels = field::at(&other, &["metadata", "labels"]).and_then(Value::as_object).unwrap_or(&empty);
            if field::str_at(&other, &["metadata", "name"]) == r.name || !selectors.iter().any(|s| s.matches(labels)) {
                continue;
            }
            for rule in other["rules"].as_array().into_iter().flatten() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
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
