//! Workspace lifecycle: scheduling a new Workspace onto a fresh logical cluster
//! ([`scheduling`]), mirroring the logical cluster's phase ([`phase`]), and deleting the whole
//! subtree with its content ([`deletion`]). See `README.md` for the order of the steps.

pub mod census;
pub mod deletion;
pub mod phase;
pub mod scheduling;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apimachinery::registry::crd::CrdIndex;
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use serde_json::Value;

use super::{own_key, Error};
use crate::global::Global;
use apiserver::controller::{Action, Backoff, Change, Controller, Informers, Reconcile};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "workspace";

/// Storage prefix of every Workspace on the shard.
pub const PREFIX: &str = "tenancy.kcp.io/workspaces/";

/// Where this shard may put logical clusters: on itself, and on other shards when it has
/// credentials to reach them.
#[derive(Clone)]
pub struct Placement {
    /// This shard's name.
    pub shard: String,
    /// Where workspace types and shards are read.
    pub global: Arc<Global>,
    /// A `system:masters` client for other shards.
    pub others: Option<apiserver::client::Client>,
}

/// Schedules, follows and deletes Workspaces.
pub struct Workspaces {
    /// Writes Workspaces and local LogicalClusters as the controller.
    pub client: SystemClient,
    /// The served CRDs, whose instances go with a deleted Workspace's logical cluster.
    pub crds: Arc<CrdIndex>,
    /// Shards new logical clusters may be scheduled to.
    pub placement: Placement,
    /// Counts Workspaces by phase from the controller's watch.
    pub census: census::WorkspaceCensus,
}

/// The controller, fed by every Workspace of the shard and by each local LogicalCluster whose
/// phase its Workspace mirrors.
pub fn controller(reconciler: Workspaces, informers: &Informers) -> Controller<Workspaces> {
    let owners: Owners = Arc::default();
    let owner_of = owners.clone();
    let census = reconciler.census.clone();
    // A reconcile waits on several durable writes in a row, and on other shards (up to seconds
    // each): many at once let one group commit serve them all (kcp-bench workspaces: 4 workers
    // reach Ready at ~440/s, 16 at ~530/s). Retries stay quick because an unreachable shard
    // usually comes back soon.
    Controller::new(NAME, reconciler)
        .workers(16)
        .backoff(Backoff { base: Duration::from_millis(200), cap: Duration::from_secs(5) })
        .watches(informers, PREFIX, move |change: &Change| {
            census.observe(change);
            // A child that is gone may be what its parent's deletion waits for.
            let parent = match change {
                Change::Gone(key) => ObjectRef::from_key(key)
                    .and_then(|child| owner_of.lock().unwrap_or_else(|e| e.into_inner()).get(child.cluster.as_str()).map(Owner::workspace)),
                Change::Present(_) => None,
            };
            own_key(change).into_iter().chain(parent)
        })
        .watches(informers, super::logicalcluster::PREFIX, move |change: &Change| {
            let owner = owning_workspace(change);
            let mut owners = owners.lock().unwrap_or_else(|e| e.into_inner());
            match (ObjectRef::from_key(change.key()), &owner) {
                (Some(lc), Some(ws)) => owners.insert(lc.cluster.into(), Owner { cluster: ws.cluster.as_str().into(), name: ws.name.as_str().into() }),
                (Some(lc), None) => owners.remove(lc.cluster.as_str()),
                (None, _) => None,
            };
            owner
        })
}

/// The Workspace owning each local logical cluster, by cluster name: an entry per logical
/// cluster of the shard, so it keeps only the names that differ between entries.
type Owners = Arc<Mutex<HashMap<Box<str>, Owner>>>;

/// The Workspace owning a logical cluster: its own logical cluster and name.
struct Owner {
    cluster: Box<str>,
    name: Box<str>,
}

impl Owner {
    /// The owning Workspace as a controller key.
    fn workspace(&self) -> ObjectRef {
        ObjectRef::new("tenancy.kcp.io", "workspaces", &self.cluster, "", &self.name)
    }
}

/// The Workspace a LogicalCluster belongs to, from its `spec.owner`.
fn owning_workspace(change: &Change) -> Option<ObjectRef> {
    let Change::Present(s) = change else { return None };
    let lc: Value = serde_json::from_slice(&s.value).ok()?;
    let parent = lc.pointer("/spec/owner/cluster").and_then(Value::as_str)?;
    let name = lc.pointer("/spec/owner/name").and_then(Value::as_str)?;
    Some(ObjectRef::new("tenancy.kcp.io", "workspaces", parent, "", name))
}

/// The logical cluster a Workspace was given, or "" before scheduling.
fn cluster_of(ws: &Value) -> &str {
    ws.pointer("/spec/cluster").and_then(Value::as_str).unwrap_or_default()
}

impl Reconcile for Workspaces {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let Some(ws) = self.client.get(r).await? else { return Ok(Action::Done) };
        if object::is_deleting(&ws) {
            return deletion::delete_subtree(self, r, &ws).await;
        }
        let ws = if cluster_of(&ws).is_empty() {
            match scheduling::schedule(self, r, &ws).await? {
                scheduling::Scheduled::Placed(Some(ws)) => ws,
                scheduling::Scheduled::Placed(None) => return Ok(Action::Done),
                scheduling::Scheduled::Waiting(wait) => return Ok(wait),
            }
        } else {
            ws
        };
        phase::follow(self, r, ws).await
    }
}

#[cfg(test)]
mod tests;
