//! Deleting a Workspace: its logical cluster goes with everything in it (here, or on the
//! shard hosting it), then the Workspace is released.

use apiserver::rest::client::ObjectRef;
use serde_json::Value;

use super::super::logicalcluster::{delete_content, remote, Progress};
use super::super::{remove_finalizer, Error, DELETE_PASS, RETRY};
use super::{cluster_of, Workspaces};
use crate::shards;
use crate::tenancy::WORKSPACE_FINALIZER;
use apiserver::controller::Action;

/// One pass of deleting a Workspace's subtree; releases the Workspace once it is gone.
pub async fn delete_subtree(w: &Workspaces, r: &ObjectRef, ws: &Value) -> Result<Action, Error> {
    let cluster = cluster_of(ws);
    let shard = shards::recorded(ws).unwrap_or(&w.placement.shard);
    if !cluster.is_empty() && shard != w.placement.shard {
        if !delete_remote(w, shard, cluster).await? {
            return Ok(Action::RequeueAfter(RETRY));
        }
    } else if !cluster.is_empty() {
        match delete_content(&w.client, &w.crds, cluster, true).await? {
            Progress::Done => {}
            // Each child's disappearance queues this Workspace again; the delay is a safety net.
            Progress::Children => return Ok(Action::RequeueAfter(RETRY * 4)),
            Progress::Pending => return Ok(Action::RequeueAfter(DELETE_PASS)),
        }
    }
    remove_finalizer(&w.client, r, WORKSPACE_FINALIZER).await?;
    Ok(Action::Done)
}

/// Asks the shard hosting a logical cluster to delete it; true once that shard has removed it
/// and its content.
async fn delete_remote(w: &Workspaces, shard: &str, cluster: &str) -> Result<bool, Error> {
    const DOING: &str = "deleting a logical cluster";
    let client = w.placement.others.as_ref().ok_or_else(|| Error::remote(DOING, shard, "no credentials to reach other shards"))?;
    let target = shards::get(&w.placement.global, shard).await.map_err(|e| Error::remote(DOING, shard, e))?;
    let target = target.ok_or_else(|| Error::remote(DOING, shard, "the shard is not registered"))?;
    remote::delete_logical_cluster(client, &target.base_url, cluster).await.map_err(|e| Error::remote(DOING, shard, e))
}
