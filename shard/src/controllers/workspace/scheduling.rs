//! Scheduling a Workspace onto a new logical cluster.
//!
//! Two-phase so a crash never orphans or duplicates a logical cluster: the shard is chosen and
//! recorded on the Workspace first (by admission, or here when no shard qualified then), then
//! the LogicalCluster is created there under a name derived from the Workspace's uid, then
//! `spec.cluster` and `spec.URL` are set. A re-run after a crash finds the same shard and name.

use std::time::Duration;

use apimachinery::registry::kcpcore::logicalcluster::Hook;
use apiserver::rest::client::ObjectRef;
use apiserver::rest::object;
use serde_json::{json, Value};

use super::super::logicalcluster::{create_logical_cluster, remote, NewCluster};
use super::super::{update, update_from, Error, Part};
use super::Workspaces;
use crate::{shards, tenancy};
use apiserver::controller::Action;

/// How long an unschedulable Workspace waits before the scheduler looks at the shards again.
const UNSCHEDULABLE_RETRY: Duration = Duration::from_secs(2);

/// What scheduling a Workspace came to.
pub enum Scheduled {
    /// Placed; the Workspace as it now stands (None once gone).
    Placed(Option<Value>),
    /// No shard can take it now (said in its `WorkspaceScheduled=False` condition): look again then.
    Waiting(Action),
}

/// Schedules a Workspace.
pub async fn schedule(w: &Workspaces, r: &ObjectRef, ws: &Value) -> Result<Scheduled, Error> {
    let (reason, message) = match place(w, r, ws).await? {
        Ok(placed) => return Ok(Scheduled::Placed(placed)),
        Err(waiting) => waiting,
    };
    set_scheduled_condition(w, r, "False", reason, &message).await?;
    Ok(Scheduled::Waiting(Action::RequeueAfter(UNSCHEDULABLE_RETRY)))
}

/// Sets the `WorkspaceScheduled` condition unless it already says the same.
async fn set_scheduled_condition(w: &Workspaces, r: &ObjectRef, status: &str, reason: &str, message: &str) -> Result<(), Error> {
    update(&w.client, r, Part::Status, |ws| {
        let condition = scheduled_condition(status, reason, message);
        let conditions = ws["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let same = |c: &Value| {
            c["type"] == condition["type"] && c["status"] == condition["status"] && c["reason"] == condition["reason"] && c["message"] == condition["message"]
        };
        if conditions.iter().any(same) {
            return false;
        }
        let mut rest: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "WorkspaceScheduled").collect();
        rest.push(condition);
        ws["status"]["conditions"] = json!(rest);
        true
    })
    .await?;
    Ok(())
}

fn scheduled_condition(status: &str, reason: &str, message: &str) -> Value {
    let mut c = json!({"type": "WorkspaceScheduled", "status": status, "lastTransitionTime": object::now_rfc3339()});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
        c["message"] = json!(message);
    }
    c
}

/// The shard a Workspace goes to: the one chosen at admission, or (when none qualified then)
/// one chosen now and recorded before anything is created there.
async fn target_shard(w: &Workspaces, r: &ObjectRef, ws: &Value) -> Result<Option<shards::Shard>, Error> {
    let global = &w.placement.global;
    if let Some(name) = shards::recorded(ws) {
        if let Some(found) = shards::get(global, name).await? {
            return Ok(Some(found));
        }
    }
    let selector = ws.pointer("/spec/location/selector").filter(|s| !s.is_null());
    let Some(chosen) = shards::choose(global, selector).await? else { return Ok(None) };
    let name = chosen.name.clone();
    update(&w.client, r, Part::Main, |ws| {
        object::meta_mut(ws).entry("annotations").or_insert_with(|| json!({}))[shards::SHARD_ANNOTATION] = json!(name);
        true
    })
    .await?;
    Ok(Some(chosen))
}

/// Why a Workspace cannot be placed now: (reason, message) of its condition.
type Unplaced = (&'static str, String);

/// Creates the Workspace's logical cluster on its shard and points the Workspace at it,
/// returning the Workspace as written; or says why it cannot now.
async fn place(w: &Workspaces, r: &ObjectRef, ws: &Value) -> Result<Result<Option<Value>, Unplaced>, Error> {
    let Some(target) = target_shard(w, r, ws).await? else {
        return Ok(Err(("Unschedulable", "No available shards to schedule the workspace.".into())));
    };
    let store = &w.client.api().store;
    let ws_name = object::meta_str(ws, "name").to_string();
    let cluster = apimachinery::request::workspace_cluster_name(object::meta_str(ws, "uid"));
    let path = format!("{}:{ws_name}", tenancy::path_of(store, &r.cluster).await);
    let owner = ws.pointer("/metadata/annotations/experimental.tenancy.kcp.io~1owner").and_then(Value::as_str).map(String::from);
    let type_ref = format!(
        "{}:{}",
        ws.pointer("/spec/type/path").and_then(Value::as_str).unwrap_or(tenancy::TYPES_CLUSTER),
        ws.pointer("/spec/type/name").and_then(Value::as_str).unwrap_or("universal")
    );
    let spec_owner =
        json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "resource": "workspaces", "name": ws_name, "cluster": r.cluster, "uid": object::meta_str(ws, "uid")});
    let new = NewCluster { name: &cluster, path: &path, type_ref: &type_ref, owner: owner.as_deref(), spec_owner };
    let (phase, terminators) = if target.name == w.placement.shard {
        create_logical_cluster(&w.client, &w.placement.global, new).await?;
        // The logical cluster may already be Ready (no initializers): take its phase along now.
        let lc = tenancy::logical_cluster(store, &cluster).await.unwrap_or_default();
        (lc.pointer("/status/phase").cloned().unwrap_or_else(|| json!("Initializing")), Hook::Terminator.pending(&lc))
    } else {
        let Some(client) = &w.placement.others else {
            return Ok(Err((
                "ShardUnavailable",
                format!("shard {:?} was chosen, but this shard has no credentials to reach other shards (--root-shard-kubeconfig-file)", target.name),
            )));
        };
        let holders = tenancy::holders_of(&w.placement.global, &type_ref).await.map_err(apimachinery::status::ApiError::from)?;
        match remote::create_logical_cluster(client, &target.base_url, &new, &holders).await {
            Ok(phase) => (json!(phase), holders.terminators),
            Err(e) => {
                return Ok(Err(("ShardUnavailable", format!("creating the logical cluster on shard {:?}: {}", target.name, apiserver::process::report(&e)))))
            }
        }
    };
    let url = format!("{}/clusters/{path}", target.external_url);
    // Placement, phase and condition in one write: once recorded, a re-run never creates a
    // second logical cluster.
    let written = update_from(&w.client, r, Part::All, Some(ws.clone()), |ws| {
        ws["spec"]["cluster"] = json!(cluster);
        ws["spec"]["URL"] = json!(url);
        if !object::is_deleting(ws) {
            super::phase::show(ws, &phase, &terminators);
        }
        let others: Vec<Value> = ws["status"]["conditions"].as_array().into_iter().flatten().filter(|c| c["type"] != "WorkspaceScheduled").cloned().collect();
        ws["status"]["conditions"] = json!(others.into_iter().chain([scheduled_condition("True", "", "")]).collect::<Vec<_>>());
        true
    })
    .await?;
    Ok(Ok(written))
}
