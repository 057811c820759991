//! Mirroring a scheduled Workspace's phase (and terminators) from its logical cluster: read locally when the
//! logical cluster is on this shard (its changes queue the Workspace), polled over the network
//! while one on another shard is not Ready yet (initializers may hold it for long).

use apimachinery::registry::kcpcore::logicalcluster::Hook;
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
        if let Some(lc) = tenancy::logical_cluster(&w.client.api().store, &cluster).await {
            mirror(w, r, ws, &lc).await?;
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
    match remote::logical_cluster(client, &target.base_url, &cluster).await {
        Ok(None) => return Ok(Action::Done),
        Ok(Some(lc)) => mirror(w, r, ws, &lc).await?,
        // Polling: an unreachable shard is asked again at the next poll, not sooner.
        Err(e) => tracing::debug!(%shard, error = %apiserver::process::report(&e), "reading a remote logical cluster's phase"),
    }
    Ok(Action::RequeueAfter(RETRY * 2))
}

/// Copies a logical cluster's phase and terminators onto its scheduled Workspace `ws`.
async fn mirror(w: &Workspaces, r: &ObjectRef, ws: Value, lc: &Value) -> Result<(), Error> {
    let Some(phase) = lc.pointer("/status/phase").filter(|p| p.is_string()) else { return Ok(()) };
    let terminators = Hook::Terminator.pending(lc);
    update_from(&w.client, r, Part::Status, Some(ws), |ws| !cluster_of(ws).is_empty() && !object::is_deleting(ws) && show(ws, phase, &terminators)).await?;
    Ok(())
}

/// Writes what a Workspace shows of its logical cluster into `ws`: its `phase`, and the
/// `terminators` that will hold it once deleted (kcp's fields); false when it already does.
pub fn show(ws: &mut Value, phase: &Value, terminators: &[String]) -> bool {
    let listed =
        ws.pointer("/status/terminators").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>()).unwrap_or_default();
    if ws.pointer("/status/phase") == Some(phase) && listed == terminators {
        return false;
    }
    ws["status"]["phase"] = phase.clone();
    match (terminators.is_empty(), ws["status"].as_object_mut()) {
        (true, Some(status)) => {
            status.remove("terminators");
        }
        _ => ws["status"]["terminators"] = json!(terminators),
    }
    true
}
