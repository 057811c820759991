//! Deleting a Workspace: its logical cluster goes with everything in it (here, or on the
//! shard hosting it), then the Workspace is released. While terminators hold the logical
//! cluster, the Workspace shows `Terminating` and who is left (then `Deleting`).

use apiserver::rest::client::ObjectRef;
use serde_json::{json, Value};

use super::super::logicalcluster::{delete_content, remote, Progress};
use super::super::{remove_finalizer, update_from, Error, Part, DELETE_PASS, RETRY};
use super::{cluster_of, phase, Workspaces};
use crate::shards;
use crate::tenancy::{self, WORKSPACE_FINALIZER};
use apimachinery::registry::kcpcore::logicalcluster::Hook;
use apiserver::controller::Action;

/// One pass of deleting a Workspace's subtree; releases the Workspace once it is gone.
pub async fn delete_subtree(w: &Workspaces, r: &ObjectRef, ws: &Value) -> Result<Action, Error> {
    let cluster = cluster_of(ws);
    let shard = shards::recorded(ws).unwrap_or(&w.placement.shard);
    if !cluster.is_empty() && shard != w.placement.shard {
        if let Some(lc) = delete_remote(w, shard, cluster).await? {
            // That shard's changes do not reach here: ask again, less often while terminators work.
            let again = if show_deletion(w, r, ws, &lc).await? { RETRY * 4 } else { RETRY };
            return Ok(Action::RequeueAfter(again));
        }
    } else if !cluster.is_empty() {
        let progress = delete_content(&w.client, &w.crds, cluster, true).await?;
        if progress == Progress::Terminating || (progress != Progress::Done && shows_terminating(ws)) {
            if let Some(lc) = tenancy::logical_cluster(&w.client.api().store, cluster).await {
                show_deletion(w, r, ws, &lc).await?;
            }
        }
        match progress {
            Progress::Done => {}
            // The logical cluster's changes (a terminator leaving, a child gone) queue this
            // Workspace again; the delays are a safety net.
            Progress::Terminating | Progress::Children => return Ok(Action::RequeueAfter(RETRY * 4)),
            Progress::Pending => return Ok(Action::RequeueAfter(DELETE_PASS)),
        }
    }
    remove_finalizer(&w.client, r, WORKSPACE_FINALIZER).await?;
    Ok(Action::Done)
}

/// Whether a Workspace shows that terminators hold it.
fn shows_terminating(ws: &Value) -> bool {
    ws.pointer("/status/phase") == Some(&json!("Terminating"))
}

/// Shows on a deleted Workspace where its logical cluster `lc` stands: `Terminating` with the
/// terminators left, then `Deleting`; true while terminators are left. A deletion no
/// terminator holds passes quickly and is not worth a write of its own: it shows nothing.
async fn show_deletion(w: &Workspaces, r: &ObjectRef, ws: &Value, lc: &Value) -> Result<bool, Error> {
    let terminators = Hook::Terminator.pending(lc);
    if terminators.is_empty() && !shows_terminating(ws) {
        return Ok(false);
    }
    let phase = json!(if terminators.is_empty() { "Deleting" } else { "Terminating" });
    update_from(&w.client, r, Part::Status, Some(ws.clone()), |ws| phase::show(ws, &phase, &terminators)).await?;
    Ok(!terminators.is_empty())
}

/// Asks the shard hosting a logical cluster to delete it; None once that shard has removed it
/// and its content, else the LogicalCluster as it stands there.
async fn delete_remote(w: &Workspaces, shard: &str, cluster: &str) -> Result<Option<Value>, Error> {
    const DOING: &str = "deleting a logical cluster";
    let client = w.placement.others.as_ref().ok_or_else(|| Error::remote(DOING, shard, "no credentials to reach other shards"))?;
    let target = shards::get(&w.placement.global, shard).await.map_err(|e| Error::remote(DOING, shard, e))?;
    let target = target.ok_or_else(|| Error::remote(DOING, shard, "the shard is not registered"))?;
    remote::delete_logical_cluster(client, &target.base_url, cluster).await.map_err(|e| Error::remote(DOING, shard, e))
}
