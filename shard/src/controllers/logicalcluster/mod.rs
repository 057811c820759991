//! Logical cluster lifecycle: creating one with what a new workspace needs ([`lifecycle`]),
//! making a new one `Ready` once its `default` namespace exists and no initializers are left,
//! and deleting its content ([`content`]): a LogicalCluster deleted with the content finalizer
//! (one a Workspace on another shard owns) first loses everything stored in it, child
//! workspaces included. [`remote`] does the same on another shard.

pub mod content;
pub mod lifecycle;
pub mod remote;

use std::sync::Arc;

use apimachinery::registry::crd::CrdIndex;
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use serde_json::{json, Value};

use super::{ensure, own_key, remove_finalizer, update, Error, Part, DELETE_PASS};
use crate::bootstrap;
use apiserver::controller::{Action, Controller, Informers, Reconcile};
pub use content::{delete_content, Progress};
pub use lifecycle::{create_logical_cluster, NewCluster};

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "logicalcluster";

/// Finalizer holding a deleted LogicalCluster until its content is gone.
pub const CONTENT_FINALIZER: &str = "core.kcp.io/content";

/// Storage prefix of every LogicalCluster on the shard.
pub const PREFIX: &str = "core.kcp.io/logicalclusters/";

/// Initializes new logical clusters and empties deleted ones.
pub struct LogicalClusters {
    /// Writes the logical cluster's objects as the controller.
    pub client: SystemClient,
    /// The served CRDs, whose instances are deleted with the logical cluster.
    pub crds: Arc<CrdIndex>,
}

/// The controller, fed by every LogicalCluster of the shard.
pub fn controller(reconciler: LogicalClusters, informers: &Informers) -> Controller<LogicalClusters> {
    Controller::new(NAME, reconciler).workers(2).watches(informers, PREFIX, own_key)
}

impl Reconcile for LogicalClusters {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let Some(lc) = self.client.get(r).await? else { return Ok(Action::Done) };
        if object::is_deleting(&lc) {
            if !object::finalizers(&lc).iter().any(|f| f == CONTENT_FINALIZER) {
                return Ok(Action::Done);
            }
            match delete_content(&self.client, &self.crds, &r.cluster, false).await? {
                Progress::Done => {}
                // A terminator leaving changes the LogicalCluster, which queues it again.
                Progress::Terminating => return Ok(Action::Done),
                Progress::Children | Progress::Pending => return Ok(Action::RequeueAfter(DELETE_PASS)),
            }
            remove_finalizer(&self.client, r, CONTENT_FINALIZER).await?;
            return Ok(Action::Done);
        }
        // Ready needs nothing more; Terminating and Deleting are the workspace controller's
        // (its deletion has begun, so nothing may be recreated).
        if matches!(lc.pointer("/status/phase").and_then(Value::as_str), Some("Ready" | "Terminating" | "Deleting")) {
            return Ok(Action::Done);
        }
        let ns = bootstrap::new_object("v1", "Namespace", "default", "", json!({}));
        ensure(&self.client, &ObjectRef::new("", "namespaces", &r.cluster, "", "default"), ns).await?;
        // Initializers hold the logical cluster in Initializing until each removed itself.
        update(&self.client, r, Part::Status, |lc| {
            let pending = lc.pointer("/status/initializers").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
            if pending || lc.pointer("/status/phase") == Some(&json!("Ready")) {
                return false;
            }
            lc["status"]["phase"] = json!("Ready");
            true
        })
        .await?;
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
