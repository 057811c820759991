//! Deleting everything in a logical cluster: once its terminators are done, child workspaces
//! first (their own deletion recurses through the workspace controller), then every other
//! object, and last, when asked, the LogicalCluster itself.

use apimachinery::registry::builtin::{self, Backing};
use apimachinery::registry::crd::CrdIndex;
use apimachinery::registry::kcpcore::logicalcluster::{Hook, TERMINATOR_FINALIZER};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use apiserver::storage::key;
use serde_json::json;

use super::super::{add_finalizer, delete_all, remove_finalizer, update_from, Error, Part};

/// Where deleting a logical cluster's content stands after one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Everything asked for is gone.
    Done,
    /// Terminators are still at work; the content waits for them, and their leaving changes
    /// the LogicalCluster, which wakes its watchers.
    Terminating,
    /// Child workspaces are still being deleted; their going wakes the parent.
    Children,
    /// Objects remain (held by finalizers); look again later.
    Pending,
}

/// Prefixes of everything stored in a logical cluster but its LogicalCluster: custom objects
/// first, then built-ins.
fn content_prefixes(crds: &CrdIndex, cluster: &str) -> Vec<String> {
    let custom = crds.stored(cluster).into_iter().map(|r| (r.group.clone(), r.storage_resource()));
    let builtins = builtin::builtins()
        .iter()
        .filter(|b| b.backing == Backing::Stored && b.info.plural != "logicalclusters")
        .map(|b| (b.info.group.clone(), b.info.plural.clone()));
    let mut out: Vec<String> = custom.chain(builtins).map(|(g, p)| key::cluster_prefix(&g, &p, cluster)).collect();
    out.dedup();
    out
}

/// One pass of deleting a logical cluster: it is `Terminating` while terminators are left (and
/// marked deleted, which shows it in their views), then `Deleting`: its child workspaces, every
/// object in it (finalizers respected), and once all are gone, with `with_singleton`, its
/// LogicalCluster.
pub async fn delete_content(client: &SystemClient, crds: &CrdIndex, cluster: &str, with_singleton: bool) -> Result<Progress, Error> {
    let lc = ObjectRef::new("core.kcp.io", "logicalclusters", cluster, "", "cluster");
    // Said on the LogicalCluster while it lasts; `Deleting` also lets its `default` namespace go.
    let now = update_from(client, &lc, Part::Status, None, |lc| {
        let phase = if Hook::Terminator.pending(lc).is_empty() { "Deleting" } else { "Terminating" };
        if lc.pointer("/status/phase") == Some(&json!(phase)) {
            return false;
        }
        lc["status"]["phase"] = json!(phase);
        true
    })
    .await?;
    if let Some(now) = now.filter(|lc| !Hook::Terminator.pending(lc).is_empty()) {
        if !object::is_deleting(&now) {
            // The terminators' finalizer keeps it, marked, until its content is gone.
            add_finalizer(client, &lc, Some(now), TERMINATOR_FINALIZER).await?;
            client.delete(&lc, None).await?;
        }
        return Ok(Progress::Terminating);
    }
    // Content waits until the child workspaces are gone.
    let children = key::cluster_prefix("tenancy.kcp.io", "workspaces", cluster);
    if delete_all(client, [children.clone()]).await? > 0 {
        return Ok(Progress::Children);
    }
    if delete_all(client, content_prefixes(crds, cluster).into_iter().filter(|p| *p != children)).await? > 0 {
        return Ok(Progress::Pending);
    }
    remove_finalizer(client, &lc, TERMINATOR_FINALIZER).await?;
    if !with_singleton {
        return Ok(Progress::Done);
    }
    // The LogicalCluster goes last: while anything is held by a finalizer, the logical cluster
    // (and access to finish that object) must remain. A finalizer on the LogicalCluster itself
    // holds the Workspace too.
    Ok(if client.delete(&lc, None).await? { Progress::Done } else { Progress::Pending })
}
