//! Workspace lifecycle: scheduling a new Workspace onto a fresh logical cluster, mirroring the
//! logical cluster's phase, and deleting the whole subtree with its content.
//!
//! Scheduling is two-phase so a crash never orphans or duplicates a logical cluster: the shard
//! is chosen and recorded on the Workspace first (by admission, or here when no shard
//! qualified then), then the LogicalCluster is created there under a name derived from the
//! Workspace's uid, then `spec.cluster` and `spec.URL` are set. A re-run after a crash finds
//! the same shard and name.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use apimachinery::registry::builtin::{self, Backing};
use apimachinery::registry::crd::{self, CrdIndex};
use apiserver::rest::object;
use apiserver::storage::{key, Key, SharedStorage, StorageError};
use serde_json::{json, Value};

use super::{remote, run_informer, update, Change, RETRY};
use crate::root_view::RootView;
use crate::{bootstrap, shards};
use crate::tenancy::{self, OWNER_ANNOTATION, PATH_ANNOTATION, TYPE_ANNOTATION, WORKSPACE_FINALIZER};

/// Storage prefix of every Workspace on the shard.
pub const PREFIX: &str = "tenancy.kcp.io/workspaces/";

/// How long an unschedulable Workspace waits before the scheduler looks at the shards again.
const UNSCHEDULABLE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs the workspace controller forever.
pub async fn run(store: SharedStorage, crds: Arc<CrdIndex>, placement: Placement) {
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let mirror = tokio::spawn(mirror_phases(store.clone()));
    run_informer(store.clone(), PREFIX.to_string(), move |change| {
        let (store, crds, busy, placement) = (store.clone(), crds.clone(), busy.clone(), placement.clone());
        async move {
            let Change::Present(s) = change else { return };
            let Some((parent, _, _)) = key::decode(&s.key) else { return };
            let Ok(ws) = serde_json::from_slice::<Value>(&s.value) else { return };
            if !busy.lock().unwrap_or_else(|e| e.into_inner()).insert(s.key.clone()) {
                return;
            }
            let (parent, k) = (parent.to_string(), s.key.clone());
            tokio::spawn(async move {
                let result = if object::is_deleting(&ws) {
                    delete_subtree(&store, &crds, &placement, &k, &ws).await
                } else if ws.pointer("/spec/cluster").and_then(Value::as_str).unwrap_or_default().is_empty() {
                    match schedule_until_placed(&store, &parent, &k, ws, &placement).await {
                        Ok(()) => follow_remote_phase(&store, &placement, &k).await,
                        Err(e) => Err(e),
                    }
                } else {
                    follow_remote_phase(&store, &placement, &k).await
                };
                if let Err(e) = result {
                    tracing::warn!(key = %k, error = %e, "reconciling workspace failed");
                }
                busy.lock().unwrap_or_else(|e| e.into_inner()).remove(&k);
            });
        }
    })
    .await;
    mirror.abort();
}

/// Where this shard may put logical clusters: on itself, and on other shards when it has
/// credentials to reach them.
#[derive(Clone)]
pub struct Placement {
    /// This shard's name.
    pub shard: String,
    /// Where workspace types and shards are read.
    pub root: Arc<RootView>,
    /// A `system:masters` client for other shards.
    pub others: Option<apiserver::client::Client>,
}

/// Where scheduling a Workspace stands.
enum Scheduled {
    Done,
    /// Not placed yet: (reason, message) for the `WorkspaceScheduled=False` condition.
    Waiting(&'static str, String),
}

/// Schedules a Workspace, retrying while no shard can take it.
async fn schedule_until_placed(store: &SharedStorage, parent: &str, ws_key: &str, mut ws: Value, placement: &Placement) -> Result<(), StorageError> {
    loop {
        let Scheduled::Waiting(reason, message) = schedule(store, parent, ws_key, &ws, placement).await? else { return Ok(()) };
        set_scheduled_condition(store, ws_key, "False", reason, &message).await?;
        tokio::time::sleep(UNSCHEDULABLE_RETRY).await;
        match super::read(store, ws_key).await? {
            Some((w, _)) if !object::is_deleting(&w) && w.pointer("/spec/cluster").and_then(Value::as_str).unwrap_or_default().is_empty() => ws = w,
            _ => return Ok(()),
        }
    }
}

/// Sets the `WorkspaceScheduled` condition unless it already says the same.
async fn set_scheduled_condition(store: &SharedStorage, ws_key: &str, status: &str, reason: &str, message: &str) -> Result<(), StorageError> {
    update(store, ws_key, |w| {
        let condition = scheduled_condition(status, reason, message);
        let conditions = w["status"]["conditions"].as_array().cloned().unwrap_or_default();
        let same = |c: &Value| c["type"] == condition["type"] && c["status"] == condition["status"] && c["reason"] == condition["reason"] && c["message"] == condition["message"];
        if conditions.iter().any(same) {
            return false;
        }
        let mut rest: Vec<Value> = conditions.into_iter().filter(|c| c["type"] != "WorkspaceScheduled").collect();
        rest.push(condition);
        w["status"]["conditions"] = json!(rest);
        true
    })
    .await
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
async fn target_shard(store: &SharedStorage, root: &RootView, ws_key: &str, ws: &Value) -> Result<Option<shards::Shard>, StorageError> {
    let unavailable = |e: String| StorageError::Unavailable(format!("reading shards: {e}"));
    let recorded = shards::recorded(ws);
    if let Some(found) = match recorded {
        Some(name) => shards::get(root, name).await.map_err(unavailable)?,
        None => None,
    } {
        return Ok(Some(found));
    }
    let selector = ws.pointer("/spec/location/selector").filter(|s| !s.is_null());
    let Some(chosen) = shards::choose(root, selector).await.map_err(unavailable)? else { return Ok(None) };
    let name = chosen.name.clone();
    update(store, ws_key, |w| {
        object::meta_mut(w).entry("annotations").or_insert_with(|| json!({}))[shards::SHARD_ANNOTATION] = json!(name);
        true
    })
    .await?;
    Ok(Some(chosen))
}

/// Creates the Workspace's logical cluster on its shard and points the Workspace at it.
async fn schedule(store: &SharedStorage, parent: &str, ws_key: &str, ws: &Value, placement: &Placement) -> Result<Scheduled, StorageError> {
    let Some(target) = target_shard(store, &placement.root, ws_key, ws).await? else {
        return Ok(Scheduled::Waiting("Unschedulable", "No available shards to schedule the workspace.".into()));
    };
    let ws_name = object::meta_str(ws, "name").to_string();
    let cluster = apimachinery::request::workspace_cluster_name(object::meta_str(ws, "uid"));
    let path = format!("{}:{ws_name}", tenancy::path_of(store, parent).await);
    let owner = ws.pointer("/metadata/annotations/experimental.tenancy.kcp.io~1owner").and_then(Value::as_str).map(String::from);
    let type_ref = format!(
        "{}:{}",
        ws.pointer("/spec/type/path").and_then(Value::as_str).unwrap_or(tenancy::TYPES_CLUSTER),
        ws.pointer("/spec/type/name").and_then(Value::as_str).unwrap_or("universal")
    );
    let spec_owner = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "resource": "workspaces", "name": ws_name, "cluster": parent, "uid": object::meta_str(ws, "uid")});
    let new = NewCluster { name: &cluster, path: &path, type_ref: &type_ref, owner: owner.as_deref(), spec_owner };
    let phase = if target.name == placement.shard {
        create_logical_cluster(store, &placement.root, new).await?;
        // The logical cluster may already be Ready (no initializers), and the phase mirror
        // skips Workspaces that are not scheduled yet: take its phase along now.
        tenancy::logical_cluster(store, &cluster).await.and_then(|lc| lc.pointer("/status/phase").cloned()).unwrap_or_else(|| json!("Initializing"))
    } else {
        let Some(client) = &placement.others else {
            return Ok(Scheduled::Waiting("ShardUnavailable", format!("shard {:?} was chosen, but this shard has no credentials to reach other shards (--root-shard-kubeconfig-file)", target.name)));
        };
        let initializers = tenancy::initializers_of(&placement.root, &type_ref).await;
        match remote::create_logical_cluster(client, &target.base_url, &new, &initializers).await {
            Ok(phase) => json!(phase),
            Err(e) => return Ok(Scheduled::Waiting("ShardUnavailable", format!("creating the logical cluster on shard {:?}: {e}", target.name))),
        }
    };
    let url = format!("{}/clusters/{path}", target.external_url);
    update(store, ws_key, |w| {
        w["spec"]["cluster"] = json!(cluster);
        w["spec"]["URL"] = json!(url);
        if !object::is_deleting(w) {
            w["status"]["phase"] = phase.clone();
        }
        let others: Vec<Value> = w["status"]["conditions"].as_array().into_iter().flatten().filter(|c| c["type"] != "WorkspaceScheduled").cloned().collect();
        w["status"]["conditions"] = json!(others.into_iter().chain([scheduled_condition("True", "", "")]).collect::<Vec<_>>());
        true
    })
    .await?;
    Ok(Scheduled::Done)
}

/// A logical cluster to create for a workspace.
pub struct NewCluster<'a> {
    /// Logical cluster name.
    pub name: &'a str,
    /// Canonical path (`root:org:team`, `user:alice`).
    pub path: &'a str,
    /// Workspace type as `<path>:<name>`.
    pub type_ref: &'a str,
    /// The creator's user info (JSON), who becomes its admin.
    pub owner: Option<&'a str>,
    /// `spec.owner`: the Workspace it belongs to, or null for a parent-less cluster.
    pub spec_owner: Value,
}

/// Creates a LogicalCluster with its type's initializers, its `default` namespace and the
/// owner's admin binding. Without initializers it starts `Ready`: everything a new workspace
/// needs exists before the LogicalCluster does, so no second write is needed to finish it.
pub async fn create_logical_cluster(store: &SharedStorage, root: &RootView, c: NewCluster<'_>) -> Result<(), StorageError> {
    let initializers = tenancy::initializers_of(root, c.type_ref).await;
    bootstrap::ensure_namespace(store, c.name, "default").await?;
    if let Some(crb) = c.admin_binding() {
        let key = Key { group: "rbac.authorization.k8s.io", resource: "clusterrolebindings", cluster: c.name, namespace: "", name: "workspace-admin" };
        bootstrap::ensure(store, key, crb).await?;
    }
    let phase = if initializers.is_empty() { "Ready" } else { "Initializing" };
    bootstrap::ensure(store, Key::logical_cluster(c.name), c.object(&initializers, phase)).await?;
    Ok(())
}

impl NewCluster<'_> {
    /// The LogicalCluster object, in `phase`.
    pub fn object(&self, initializers: &[String], phase: &str) -> Value {
        let mut annotations = json!({PATH_ANNOTATION: self.path, TYPE_ANNOTATION: self.type_ref});
        if let Some(o) = self.owner {
            annotations[OWNER_ANNOTATION] = json!(o);
        }
        let mut lc = bootstrap::new_object("core.kcp.io/v1alpha1", "LogicalCluster", "cluster", "", json!({
            "spec": {"initializers": initializers},
            "status": {"phase": phase, "initializers": initializers},
        }));
        if !self.spec_owner.is_null() {
            lc["spec"]["owner"] = self.spec_owner.clone();
        }
        lc["metadata"]["annotations"] = annotations;
        lc
    }

    /// The owner's `workspace-admin` ClusterRoleBinding to cluster-admin.
    pub fn admin_binding(&self) -> Option<Value> {
        let owner = serde_json::from_str::<Value>(self.owner?).ok()?;
        Some(bootstrap::new_object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "workspace-admin", "", json!({
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": owner["username"]}],
        })))
    }
}

/// Copies a logical cluster's phase onto its scheduled Workspace.
async fn mirror_phase(store: &SharedStorage, ws_key: &str, phase: &Value) -> Result<(), StorageError> {
    update(store, ws_key, |ws| {
        let scheduled = ws.pointer("/spec/cluster").and_then(Value::as_str).is_some_and(|c| !c.is_empty());
        if !scheduled || object::is_deleting(ws) || ws.pointer("/status/phase") == Some(phase) {
            return false;
        }
        ws["status"]["phase"] = phase.clone();
        true
    })
    .await
}

/// For a Workspace whose logical cluster lives on another shard and is not Ready yet
/// (initializers may hold it for long), copies that logical cluster's phase onto it until it
/// is Ready, or the Workspace or the logical cluster is gone.
async fn follow_remote_phase(store: &SharedStorage, placement: &Placement, ws_key: &str) -> Result<(), StorageError> {
    let Some(client) = &placement.others else { return Ok(()) };
    // Where the logical cluster is, found once: the recorded shard and the cluster never change.
    let mut lc_url = None;
    loop {
        let Some((ws, _)) = super::read(store, ws_key).await? else { return Ok(()) };
        let cluster = ws.pointer("/spec/cluster").and_then(Value::as_str).unwrap_or_default().to_string();
        let shard = shards::recorded(&ws).unwrap_or(&placement.shard);
        if object::is_deleting(&ws) || cluster.is_empty() || shard == placement.shard || ws.pointer("/status/phase") == Some(&json!("Ready")) {
            return Ok(());
        }
        if lc_url.is_none() {
            if let Ok(Some(target)) = shards::get(&placement.root, shard).await {
                lc_url = Some(format!("{}/clusters/{cluster}/apis/core.kcp.io/v1alpha1/logicalclusters/cluster", target.base_url));
            }
        }
        if let Some(url) = &lc_url {
            match client.json("GET", url, None).await {
                Ok((200, lc)) => {
                    if let Some(phase) = lc.pointer("/status/phase").filter(|p| p.is_string()) {
                        mirror_phase(store, ws_key, phase).await?;
                    }
                }
                Ok((404, _)) => return Ok(()),
                _ => {}
            }
        }
        tokio::time::sleep(RETRY * 2).await;
    }
}

/// Copies each owned LogicalCluster's phase onto its Workspace.
async fn mirror_phases(store: SharedStorage) {
    run_informer(store.clone(), super::logicalcluster::PREFIX.to_string(), move |change| {
        let store = store.clone();
        async move {
            let Change::Present(s) = change else { return };
            let Ok(lc) = serde_json::from_slice::<Value>(&s.value) else { return };
            let (Some(parent), Some(name)) = (lc.pointer("/spec/owner/cluster").and_then(Value::as_str), lc.pointer("/spec/owner/name").and_then(Value::as_str)) else {
                return;
            };
            let Some(phase) = lc.pointer("/status/phase").cloned() else { return };
            let ws_key = Key { group: "tenancy.kcp.io", resource: "workspaces", cluster: parent, namespace: "", name }.encode();
            if let Err(e) = mirror_phase(&store, &ws_key, &phase).await {
                tracing::warn!(key = %ws_key, error = %e, "mirroring workspace phase failed");
            }
        }
    })
    .await;
}

/// Prefixes of everything stored in a logical cluster but its LogicalCluster: custom objects
/// first, then built-ins.
fn content_prefixes(crds: &CrdIndex, cluster: &str) -> Vec<String> {
    let defined = crds.crds(cluster);
    let custom = defined.iter().flat_map(|c| crd::resources_of(c)).map(|r| (r.group, r.plural));
    let builtins = builtin::builtins()
        .iter()
        .filter(|b| b.backing == Backing::Stored && b.info.plural != "logicalclusters")
        .map(|b| (b.info.group.clone(), b.info.plural.clone()));
    let mut out: Vec<String> = custom.chain(builtins).map(|(g, p)| key::cluster_prefix(&g, &p, cluster)).collect();
    out.dedup();
    out
}

/// Deletes a logical cluster's child workspaces, then every object in it (finalizers
/// respected), and once all are gone, with `with_singleton`, its LogicalCluster.
pub async fn delete_content(store: &SharedStorage, crds: &CrdIndex, cluster: &str, with_singleton: bool) -> Result<(), StorageError> {
    let lc_key = Key::logical_cluster(cluster).encode();
    // Say so on the LogicalCluster while it lasts.
    update(store, &lc_key, |lc| {
        if lc.pointer("/status/phase") == Some(&json!("Deleting")) {
            return false;
        }
        lc["status"]["phase"] = json!("Deleting");
        true
    })
    .await?;
    loop {
        let mut remaining = 0;
        // Children first: their own deletion recurses through this controller.
        let children = key::cluster_prefix("tenancy.kcp.io", "workspaces", cluster);
        let ordered = std::iter::once(children.clone()).chain(content_prefixes(crds, cluster).into_iter().filter(|p| *p != children));
        for prefix in ordered {
            let page = store.list(&prefix, None, 0).await?;
            remaining += page.items.len();
            for item in page.items {
                super::delete(store, &item.key, None).await?;
            }
            // Content waits until the child workspaces are gone.
            if prefix == children && remaining > 0 {
                break;
            }
        }
        if remaining == 0 {
            if !with_singleton {
                return Ok(());
            }
            // The LogicalCluster goes last: while anything is held by a finalizer, the
            // logical cluster (and access to finish that object) must remain. A finalizer on
            // the LogicalCluster itself holds the Workspace too.
            super::delete(store, &lc_key, None).await?;
            if matches!(store.get(&lc_key).await, Err(StorageError::NotFound { .. })) {
                return Ok(());
            }
        }
        tokio::time::sleep(RETRY / 5).await;
    }
}

/// Deletes the Workspace's logical cluster with everything in it (here, or on the shard
/// hosting it), then releases the Workspace.
async fn delete_subtree(store: &SharedStorage, crds: &CrdIndex, placement: &Placement, ws_key: &str, ws: &Value) -> Result<(), StorageError> {
    let cluster = ws.pointer("/spec/cluster").and_then(Value::as_str).unwrap_or_default().to_string();
    let shard = shards::recorded(ws).unwrap_or(&placement.shard);
    if !cluster.is_empty() && shard != placement.shard {
        delete_remote(placement, shard, &cluster).await?;
    } else if !cluster.is_empty() {
        delete_content(store, crds, &cluster, true).await?;
    }
    super::remove_finalizer(store, ws_key, WORKSPACE_FINALIZER).await
}

/// Deletes a logical cluster on another shard and waits until that shard has removed it and
/// its content; retries while the shard is unreachable.
async fn delete_remote(placement: &Placement, shard: &str, cluster: &str) -> Result<(), StorageError> {
    let unavailable = |e: String| StorageError::Unavailable(format!("deleting logical cluster {cluster} on shard {shard}: {e}"));
    let client = placement.others.as_ref().ok_or_else(|| unavailable("no credentials to reach other shards".into()))?;
    loop {
        let attempt = async {
            let target = shards::get(&placement.root, shard).await?.ok_or_else(|| format!("shard {shard:?} is not registered"))?;
            remote::delete_logical_cluster(client, &target.base_url, cluster).await
        };
        match attempt.await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => tracing::warn!(%cluster, %shard, error = %e, "deleting a remote logical cluster; retrying"),
        }
        tokio::time::sleep(RETRY).await;
    }
}
