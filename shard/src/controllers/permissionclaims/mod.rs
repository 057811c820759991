//! Claim labels on existing objects: when a binding's accepted claims change (or the binding
//! goes), every object of each resource its export claims is relabelled in the binding's
//! workspace, through the REST handlers, whose admission computes the labels
//! ([`crate::claims`]). Objects written later are labelled by admission alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apimachinery::registry::storage_resource;
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use apiserver::storage::key;
use serde_json::Value;

use super::{update, Error, Part};
use crate::claims::{relabel, Claim, ClaimIndex};

#[cfg(test)]
mod tests;

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "permissionclaim-labels";

/// A claimed resource: group, plural, identity hash (empty for built-ins).
type Resource = (String, String, String);

/// Per binding key, the resources its export claims (what may carry its label).
type Scope = Arc<Mutex<HashMap<String, Vec<Resource>>>>;

/// Relabels the objects of claimed resources when claims change.
pub struct ClaimLabeller {
    /// Rewrites objects as the controller.
    pub client: SystemClient,
    /// The accepted claims, shared with admission.
    pub index: Arc<ClaimIndex>,
    scope: Scope,
}

impl ClaimLabeller {
    /// A labeller keeping `index` in step with the shard's bindings.
    pub fn new(client: SystemClient, index: Arc<ClaimIndex>) -> Self {
        ClaimLabeller { client, index, scope: Arc::default() }
    }
}

/// The accepted claims a binding applies, and the resources its export claims.
fn claims_of(binding: &Value) -> (Vec<Claim>, Vec<Resource>) {
    let export_cluster = binding.pointer("/status/apiExportClusterName").and_then(Value::as_str).unwrap_or_default();
    let export_name = binding.pointer("/spec/reference/export/name").and_then(Value::as_str).unwrap_or_default();
    let list = |p: &str| binding.pointer(p).and_then(Value::as_array).cloned().unwrap_or_default();
    let applied = if object::is_deleting(binding) || export_cluster.is_empty() { Vec::new() } else { list("/status/appliedPermissionClaims") };
    let offered = list("/status/exportPermissionClaims");
    let claims = applied.iter().map(|c| Claim::new(export_cluster, export_name, c, &offered)).collect();
    let s = |c: &Value, f: &str| c[f].as_str().unwrap_or_default().to_string();
    let resources = offered.iter().map(|c| (s(c, "group"), s(c, "resource"), s(c, "identityHash"))).collect();
    (claims, resources)
}

/// The controller, fed by every APIBinding of the shard; the claim index is updated as
/// bindings change, before any write is admitted against it.
pub fn controller(reconciler: ClaimLabeller, informers: &Informers) -> Controller<ClaimLabeller> {
    let (index, scope) = (reconciler.index.clone(), reconciler.scope.clone());
    Controller::new(NAME, reconciler).workers(2).watches(informers, key::resource_prefix("apis.kcp.io", "apibindings"), move |change: &Change| {
        let r = ObjectRef::from_key(change.key())?;
        let (claims, resources) = match change {
            Change::Present(s) => claims_of(&serde_json::from_slice(&s.value).ok()?),
            Change::Gone(_) => (Vec::new(), Vec::new()),
        };
        let changed = index.on_binding(&r.cluster, &r.name) != claims;
        index.set(&r.cluster, &r.name, claims);
        let mut scope = scope.lock().unwrap_or_else(|e| e.into_inner());
        track(&mut scope, change.key(), resources);
        // A binding that goes while tracked is looked at once more (its labels), then forgotten.
        let gone_tracked = matches!(change, Change::Gone(_)) && scope.contains_key(change.key());
        (changed || gone_tracked).then_some(r)
    })
}

/// Remembers the resources a binding's export claims, by binding key. A resource no longer
/// claimed keeps its entry until its labels are gone; a binding whose export claims nothing
/// is not tracked at all.
fn track(scope: &mut HashMap<String, Vec<Resource>>, key: &str, resources: Vec<Resource>) {
    if resources.is_empty() {
        return;
    }
    let known = scope.entry(key.to_string()).or_default();
    for res in resources {
        if !known.contains(&res) {
            known.push(res);
        }
    }
}

impl Reconcile for ClaimLabeller {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, binding: &ObjectRef) -> Result<Action, Error> {
        let resources = self.scope.lock().unwrap_or_else(|e| e.into_inner()).get(&binding.key()).cloned().unwrap_or_default();
        for (group, resource, identity) in &resources {
            let storage = storage_resource(resource, Some(identity.as_str()));
            let page = self.client.api().store.list(&key::cluster_prefix(group, &storage, &binding.cluster), None, 0, None).await?;
            let claims = self.index.on(&binding.cluster, group, resource, Some(identity.as_str()).filter(|i| !i.is_empty()));
            for item in page.items {
                let Ok(mut obj) = serde_json::from_slice::<Value>(&item.value) else { continue };
                if !relabel(&mut obj, &claims) {
                    continue;
                }
                if let Some(r) = ObjectRef::from_key(&item.key) {
                    // Admission computes the same labels; the write only has to happen.
                    update(&self.client, &r, Part::Main, |o| relabel(o, &claims)).await?;
                }
            }
        }
        if self.client.get(binding).await?.is_none() {
            self.scope.lock().unwrap_or_else(|e| e.into_inner()).remove(&binding.key());
        }
        Ok(Action::Done)
    }
}
