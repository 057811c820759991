//! Virtual workspace URLs of workspace types, as kcp's workspacetype controller: a type that
//! initializes (terminates) its workspaces lists in `status.virtualWorkspaces` its
//! initializingworkspaces (terminatingworkspaces) URL on every shard, since its workspaces may
//! be placed on any of them.

use std::sync::Arc;

use apimachinery::registry::kcpcore::logicalcluster::Hook;
use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::storage::key;
use serde_json::{json, Value};
use virtual_workspaces::lifecycle;

use super::{update_from, Error, Keys, Part};
use crate::global::Global;
use crate::tenancy;

#[cfg(test)]
mod tests;

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "workspacetype-urls";

const GROUP: &str = "tenancy.kcp.io";

/// Keeps every local WorkspaceType's virtual workspace URLs in step with the shards.
pub struct WorkspaceTypeUrls {
    /// Writes type status as the controller.
    pub client: SystemClient,
    /// Where the shards are listed.
    pub global: Arc<Global>,
    /// The local types, to look at again when the shards change.
    known: Keys,
}

impl WorkspaceTypeUrls {
    /// The reconciler of this shard's types.
    pub fn new(client: SystemClient, global: Arc<Global>) -> Self {
        WorkspaceTypeUrls { client, global, known: Keys::default() }
    }
}

/// The controller, fed by the shard's WorkspaceTypes and by Shards, here and in the cache.
pub fn controller(reconciler: WorkspaceTypeUrls, informers: &Informers) -> Controller<WorkspaceTypeUrls> {
    let (cache, known, all, woken) = (reconciler.global.cache.clone(), reconciler.known.clone(), reconciler.known.clone(), reconciler.known.clone());
    let controller = Controller::new(NAME, reconciler)
        .watches(informers, key::resource_prefix(GROUP, "workspacetypes"), move |change: &Change| {
            let r = ObjectRef::from_key(change.key())?;
            let mut known = known.lock().unwrap_or_else(|e| e.into_inner());
            match change {
                Change::Present(_) => known.insert(r.clone()),
                Change::Gone(_) => known.remove(&r),
            };
            Some(r)
        })
        .watches(informers, key::resource_prefix("core.kcp.io", "shards"), move |_: &Change| {
            all.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect::<Vec<_>>()
        });
    if let Some(cache) = cache {
        // Shards are written on the root shard; the others learn of them through the cache.
        tokio::spawn(super::wake_on_cache(cache.changed(), "core.kcp.io", controller.queue(), woken));
    }
    controller
}

/// The name a type holds its workspaces with, as initializer and terminator alike:
/// `<type workspace path>:<name>`.
pub fn holder(type_path: &str, name: &str) -> String {
    format!("{type_path}:{name}")
}

/// What `status.virtualWorkspaces` of a type should say, given every shard's virtual
/// workspace base URL: per shard, the initializingworkspaces URL of a type that initializes
/// and the terminatingworkspaces URL of one that terminates, each with kcp's `type`.
pub fn virtual_workspaces(def: &Value, holder: &str, shard_urls: &[String]) -> Vec<Value> {
    let mut bases: Vec<&str> = shard_urls.iter().map(|u| u.trim_end_matches('/')).filter(|u| !u.is_empty()).collect();
    bases.sort();
    bases.dedup();
    let hooks: Vec<Hook> = [Hook::Initializer, Hook::Terminator].into_iter().filter(|h| h.marks(def)).collect();
    bases
        .iter()
        .flat_map(|base| hooks.iter().map(move |&h| json!({"url": format!("{base}{}{holder}", lifecycle::path::prefix(h)), "type": lifecycle::path::kind(h)})))
        .collect()
}

impl Reconcile for WorkspaceTypeUrls {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let Some(def) = self.client.get(r).await? else { return Ok(Action::Done) };
        let path = tenancy::path_of(&self.client.api().store, &r.cluster).await;
        let shards = self.global.shards().await?;
        let urls: Vec<String> = shards.iter().filter_map(|s| s.pointer("/spec/virtualWorkspaceURL").and_then(Value::as_str)).map(String::from).collect();
        let wanted = virtual_workspaces(&def, &holder(&path, &r.name), &urls);
        update_from(&self.client, r, Part::Status, Some(def), |t| {
            let now = t.pointer("/status/virtualWorkspaces").and_then(Value::as_array).cloned().unwrap_or_default();
            if now == wanted {
                return false;
            }
            match (wanted.is_empty(), t["status"].as_object_mut()) {
                (true, Some(status)) => {
                    status.remove("virtualWorkspaces");
                }
                _ => t["status"]["virtualWorkspaces"] = Value::Array(wanted.clone()),
            }
            true
        })
        .await?;
        Ok(Action::Done)
    }
}
