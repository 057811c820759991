//! Mirroring a scheduled Workspace's phase from its logical cluster: read locally when the
//! logical cluster is on this shard (its changes queue the Workspace), polled over the network
//! while one on another shard is not Ready yet (initializers may hold it for long).

use apiserver::rest::client::ObjectRef;
use apiserver::rest::object;
use serde_json::{json, Value};

use super::super::logicalcluster::remote;
use super::super::{update_from, Error, Part, RETRY};
use super::{cluster_of, Workspaces};
use crate::{shards, tenancy};
use apiserver::controller::Action;

/// Copies the logical cluster's phase onto the Workspace `ws` (as last read); polls again
/// later while a remote logical cluster is not Ready.
pub async fn follow(w: &Workspaces, r: &ObjectRef, ws: Value) -> Result<Action, Error> {
    let cluster = cluster_of(&ws).to_string();
    if cluster.is_empty() || object::is_deleting(&ws) {
        return Ok(Action::Done);
    }
    let shard = shards::recorded(&ws).unwrap_or(&w.placement.shard).to_string();
    if shard == w.placement.shard {
        if let Some(phase) = tenancy::logical_cluster(&w.client.api().store, &cluster).await.and_then(|lc| lc.pointer("/status/phase").cloned()) {
            mirror(w, r, ws, &phase).await?;
        }
        return Ok(Action::Done);
    }
    let Some(client) = &w.placement.others else { return Ok(Action::Done) };
    if ws.pointer("/status/phase") == Some(&json!("Ready")) {
        return Ok(Action::Done);
    }
    let Some(target) = shards::get(&w.placement.global, &shard).await.map_err(|e| Error::remote("reading shards", &shard, e))? else {
        return Ok(Action::RequeueAfter(RETRY * 2));
    };
    match remote::phase_of(client, &target.base_url, &cluster).await {
        Ok(None) => return Ok(Action::Done),
        Ok(Some(phase)) if phase.is_string() => mirror(w, r, ws, &phase).await?,
        Ok(Some(_)) => {}
        // Polling: an unreachable shard is asked again at the next poll, not sooner.
        Err(e) => tracing::debug!(%shard, error = %apiserver::process::report(&e), "reading a remote logical cluster's phase"),
    }
    Ok(Action::RequeueAfter(RETRY * 2))
}

/// Copies a logical cluster's phase onto its scheduled Workspace `ws`.
async fn mirror(w: &Workspaces, r: &ObjectRef, ws: Value, phase: &Value) -> Result<(), Error> {
    update_from(&w.client, r, Part::Status, Some(ws), |ws| {
        if cluster_of(ws).is_empty() || object::is_deleting(ws) || ws.pointer("/status/phase") == Some(phase) {
            return false;
        }
        ws["status"]["phase"] = phase.clone();
        true
    })
    .await?;
    Ok(())
}
