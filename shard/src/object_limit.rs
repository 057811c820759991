//! A ceiling on the objects one logical cluster holds, as kcp's object count limit: a shard-wide
//! default (`--logical-cluster-total-object-limit`, not applied to `root` and `system:*`, where
//! the shard writes its own content) and annotation [`ANNOTATION`] on a workspace's
//! LogicalCluster, which wins (≤ 0 turns the limit off there). Only creates are refused, only
//! once the logical cluster is Ready, and Events neither count nor are refused, so that an
//! exhausted workspace can still be debugged.
//!
//! Counts are exact: the garbage collector's index, which sees every key of the shard, reports
//! each key it learns of and each it forgets. Creates racing within the informer's lag may
//! overshoot by as many as run at once, as kcp allows.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use apimachinery::field;
use apimachinery::status::ApiError;
use apiserver::controller::Change;
use apiserver::rest::{object, AdmissionPlugin, Write};
use apiserver::storage::Key;
use futures::future::BoxFuture;
use serde_json::Value;

/// The LogicalCluster annotation setting one logical cluster's limit.
pub const ANNOTATION: &str = "core.kcp.io/max-total-objects";

/// What is known of one logical cluster.
#[derive(Default)]
struct Cluster {
    /// Objects stored, Events aside.
    objects: u64,
    /// The annotation's limit, when set and a number.
    annotated: Option<i64>,
    /// Whether the logical cluster is Ready.
    ready: bool,
}

/// Object counts and limits of every logical cluster of the shard.
#[derive(Default)]
pub struct ObjectCounts {
    /// Limit of logical clusters without the annotation; ≤ 0: none.
    default_limit: i64,
    clusters: RwLock<HashMap<String, Cluster>>,
}

/// Events are short-lived and needed to debug a full workspace.
fn is_event(group: &str, resource: &str) -> bool {
    resource == "events" && (group.is_empty() || group == "events.k8s.io")
}

impl ObjectCounts {
    /// Counts with a shard-wide default limit (≤ 0: none).
    pub fn new(default_limit: i64) -> Self {
        ObjectCounts { default_limit, clusters: RwLock::default() }
    }

    fn clusters(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Cluster>> {
        self.clusters.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a key newly stored (`by` 1) or removed (`by` -1).
    pub fn count(&self, key: &str, by: i8) {
        let Some(k) = Key::parse(key).filter(|k| !is_event(k.group, k.resource)) else { return };
        let mut clusters = self.clusters();
        // Keys of known clusters, nearly all of them, cost no allocation.
        if !clusters.contains_key(k.cluster) {
            clusters.insert(k.cluster.to_string(), Cluster::default());
        }
        let Some(c) = clusters.get_mut(k.cluster) else { return };
        c.objects = c.objects.saturating_add_signed(by.into());
        if c.objects == 0 && !c.ready && c.annotated.is_none() {
            clusters.remove(k.cluster);
        }
    }

    /// Notes a change of a LogicalCluster: its annotation and phase.
    pub fn saw_logical_cluster(&self, change: &Change) {
        let Some(k) = Key::parse(change.key()) else { return };
        let lc: Option<Value> = match change {
            Change::Present(s) => serde_json::from_slice(&s.value).ok(),
            Change::Gone(_) => None,
        };
        let mut clusters = self.clusters();
        let c = clusters.entry(k.cluster.to_string()).or_default();
        c.annotated = lc.as_ref().and_then(|lc| field::str_at(lc, &["metadata", "annotations", ANNOTATION]).trim().parse().ok());
        c.ready = lc.as_ref().is_some_and(|lc| field::str_at(lc, &["status", "phase"]) == "Ready");
    }

    /// The objects a logical cluster holds.
    #[cfg(test)]
    pub(crate) fn objects(&self, cluster: &str) -> u64 {
        self.clusters.read().unwrap().get(cluster).map_or(0, |c| c.objects)
    }

    /// The count and limit of a logical cluster that has reached its limit.
    fn reached(&self, cluster: &str) -> Option<(u64, i64)> {
        let clusters = self.clusters.read().unwrap_or_else(|e| e.into_inner());
        let c = clusters.get(cluster).filter(|c| c.ready)?;
        let system = cluster == "root" || cluster.starts_with("system:");
        let limit = c.annotated.unwrap_or(if system { 0 } else { self.default_limit });
        (limit > 0 && c.objects >= limit.unsigned_abs()).then_some((c.objects, limit))
    }
}

/// Refuses creates in a logical cluster at its object limit.
pub struct ObjectLimitAdmission {
    /// Counts and limits, fed by the informer.
    pub counts: Arc<ObjectCounts>,
}

impl AdmissionPlugin for ObjectLimitAdmission {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let info = &w.resource.info;
            let exempt = is_event(&info.group, &info.plural)
                || w.is("core.kcp.io", "LogicalCluster")
                || w.is("rbac.authorization.k8s.io", "ClusterRoleBinding") && object::meta_str(obj, "name") == "workspace-admin";
            if w.old.is_some() || !w.req.info.subresource.is_empty() || exempt {
                return Ok(());
            }
            match self.counts.reached(w.cluster) {
                Some((count, limit)) => Err(ApiError::forbidden_because(
                    &info.group,
                    &info.plural,
                    object::meta_str(obj, "name"),
                    &format!(
                        "logical cluster {:?} has reached its total object count limit ({count}/{limit} objects); delete objects to free up capacity",
                        w.cluster
                    ),
                )),
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiserver::storage::Stored;
    use serde_json::json;

    fn lc(cluster: &str, annotation: Option<&str>, phase: &str) -> Change {
        let mut obj = json!({"metadata": {"name": "cluster"}, "status": {"phase": phase}});
        if let Some(a) = annotation {
            obj["metadata"]["annotations"] = json!({ANNOTATION: a});
        }
        let key = Key { group: "core.kcp.io", resource: "logicalclusters", cluster, namespace: "", name: "cluster" }.encode();
        Change::Present(Stored { key, value: serde_json::to_vec(&obj).unwrap().into(), revision: 1 })
    }

    fn fill(counts: &ObjectCounts, cluster: &str, n: usize) {
        for i in 0..n {
            counts.count(&Key { group: "", resource: "configmaps", cluster, namespace: "default", name: &format!("c{i}") }.encode(), 1);
        }
    }

    #[test]
    fn the_annotation_wins_and_the_default_spares_root_and_system_clusters() {
        let counts = ObjectCounts::new(3);
        for cluster in ["team", "root", "system:admin"] {
            counts.saw_logical_cluster(&lc(cluster, None, "Ready"));
            fill(&counts, cluster, 3);
        }
        assert_eq!(counts.reached("team"), Some((3, 3)));
        assert_eq!(counts.reached("root"), None);
        assert_eq!(counts.reached("system:admin"), None);
        counts.saw_logical_cluster(&lc("root", Some("2"), "Ready"));
        assert_eq!(counts.reached("root"), Some((3, 2)), "the annotation bounds root too");
        counts.saw_logical_cluster(&lc("team", Some("0"), "Ready"));
        assert_eq!(counts.reached("team"), None, "0 turns it off");
        counts.saw_logical_cluster(&lc("team", Some("5"), "Ready"));
        assert_eq!(counts.reached("team"), None);
    }

    #[test]
    fn only_ready_clusters_are_held_and_events_do_not_count() {
        let counts = ObjectCounts::new(0);
        counts.saw_logical_cluster(&lc("team", Some("2"), "Initializing"));
        fill(&counts, "team", 2);
        assert_eq!(counts.reached("team"), None, "still being set up");
        counts.saw_logical_cluster(&lc("team", Some("2"), "Ready"));
        assert_eq!(counts.reached("team"), Some((2, 2)));
        counts.count(&Key { group: "", resource: "configmaps", cluster: "team", namespace: "default", name: "c0" }.encode(), -1);
        assert_eq!(counts.reached("team"), None, "a delete frees a slot");
        counts.count(&Key { group: "", resource: "events", cluster: "team", namespace: "default", name: "e" }.encode(), 1);
        counts.count(&Key { group: "events.k8s.io", resource: "events", cluster: "team", namespace: "default", name: "e" }.encode(), 1);
        assert_eq!(counts.reached("team"), None);
    }
}
