//! Shard-local controllers, one folder each, all run by [`apiserver::controller`]: an informer queues keys,
//! a reconcile brings one key in line and says whether to look again later.
//!
//! Writes go through the REST handlers with a system identity ([`SystemClient`]), so the
//! validation and admission that guard user requests guard controllers too; a write whose
//! object changed meanwhile is read again and retried, so concurrent user writes are never
//! overwritten. Reads of many objects (content to delete) list storage directly.
//!
//! Order of start does not matter: every controller is level-driven and re-lists after a
//! broken watch.

pub mod apibinder;
pub mod apibinding;
pub mod apiexport;
pub mod clusterrole_aggregation;
pub mod crd;
pub mod endpointslice;
pub mod event_ttl;
pub mod gc;
pub mod logicalcluster;
pub mod namespace;
pub mod namespace_defaults;
pub mod permissionclaims;
pub mod replicate_rbac;
pub mod resourcequota;
#[cfg(test)]
pub(crate) mod testing;
pub mod token_secrets;
pub mod workspace;
pub mod workspacetype;

use std::time::Duration;

use apimachinery::status::{ApiError, Reason};
use apiserver::controller::{Controller, Informers, Reconcile};
pub use apiserver::rest::client::Part;
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use apiserver::server::probes::Readiness;
use apiserver::storage::StorageError;
use serde_json::{json, Value};

/// How long a controller waits before looking again at work that others must finish first
/// (objects held by finalizers, a remote shard deleting).
pub const RETRY: Duration = Duration::from_millis(500);

/// How long a controller waits between passes over content it is deleting.
pub const DELETE_PASS: Duration = Duration::from_millis(100);

/// Why a reconcile failed; the runtime retries it with back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A write or read through the REST handlers was refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Listing storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Another shard (or the root view of shards) could not be reached or refused.
    #[error("{doing} on shard {shard}")]
    Remote {
        /// What was being done (`deleting a logical cluster`).
        doing: &'static str,
        /// Name of the shard.
        shard: String,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The system's random number generator failed.
    #[error("the system's random number generator failed")]
    Random,
}

impl Error {
    /// Failed `doing` something on (or about) `shard`.
    pub fn remote(doing: &'static str, shard: &str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Remote { doing, shard: shard.to_string(), source: source.into() }
    }
}

/// The key of the object a change is about, for controllers keyed by the watched object.
pub fn own_key(change: &apiserver::controller::Change) -> Option<ObjectRef> {
    match change {
        apiserver::controller::Change::Present(s) => ObjectRef::from_key(&s.key),
        apiserver::controller::Change::Gone(_) => None,
    }
}

/// Reads, changes and writes back one object, again on conflicts. `change` returns false when
/// nothing needs writing. A missing object is not an error; one being deleted whose last
/// finalizer `change` removes is deleted by the write.
pub async fn update(client: &SystemClient, r: &ObjectRef, part: Part, change: impl FnMut(&mut Value) -> bool) -> Result<(), ApiError> {
    update_from(client, r, part, None, change).await.map(drop)
}

/// [`update`], starting from `known` (the object as the caller last read it) instead of
/// reading it first; a stale `known` costs one conflict and a fresh read. Returns the object as
/// it now stands (written or left alone), None when it is gone.
pub async fn update_from(
    client: &SystemClient,
    r: &ObjectRef,
    part: Part,
    mut known: Option<Value>,
    mut change: impl FnMut(&mut Value) -> bool,
) -> Result<Option<Value>, ApiError> {
    loop {
        match client.modify(r, part, known.take(), &mut change).await {
            // A stale `known` lands here too; the next round reads the object afresh.
            Err(e) if e.reason == Reason::Conflict => continue,
            Err(e) if e.reason == Reason::NotFound => return Ok(None),
            other => return other,
        }
    }
}

/// Keys a controller wants to look at again when something outside its watches changes.
pub type Keys = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<ObjectRef>>>;

/// Queues every key in `keys` again whenever an object of `group` changes in the cache (on any
/// shard, this one's included), or when changes were missed.
pub async fn wake_on_cache(
    mut changes: tokio::sync::broadcast::Receiver<cache_server::client::Update>,
    group: &'static str,
    queue: std::sync::Arc<apiserver::controller::queue::WorkQueue<ObjectRef>>,
    keys: Keys,
) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match changes.recv().await {
            Ok(cache_server::client::Update::Changed(c)) if c.key.group != group => continue,
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
        let now: Vec<ObjectRef> = keys.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        for r in now {
            queue.add(r);
        }
    }
}

/// Sets condition `type_`, keeping its lastTransitionTime unless its status flips.
pub fn set_condition(conditions: &mut Vec<Value>, type_: &str, status: &str, reason: &str, message: &str) {
    let mut c = json!({"type": type_, "status": status, "lastTransitionTime": object::now_rfc3339()});
    if !reason.is_empty() {
        c["reason"] = json!(reason);
    }
    if !message.is_empty() {
        c["message"] = json!(message);
    }
    match conditions.iter_mut().find(|c| c["type"] == type_) {
        Some(old) => {
            if old["status"] == status {
                c["lastTransitionTime"] = old["lastTransitionTime"].clone();
            }
            *old = c;
        }
        None => conditions.push(c),
    }
}

/// Adds one finalizer to an object, starting from `known` (as last read) when given; returns
/// the object as it now stands, None when it is gone.
pub async fn add_finalizer(client: &SystemClient, r: &ObjectRef, known: Option<Value>, finalizer: &str) -> Result<Option<Value>, ApiError> {
    update_from(client, r, Part::Main, known, |obj| {
        let mut fins = object::finalizers(obj);
        if fins.iter().any(|f| f == finalizer) {
            return false;
        }
        fins.push(finalizer.to_string());
        object::set_finalizers(obj, fins);
        true
    })
    .await
}

/// Removes one finalizer from an object (which then disappears if it was the last one).
pub async fn remove_finalizer(client: &SystemClient, r: &ObjectRef, finalizer: &str) -> Result<(), ApiError> {
    update(client, r, Part::Main, |obj| {
        let fins = object::finalizers(obj);
        if !fins.iter().any(|f| f == finalizer) {
            return false;
        }
        object::set_finalizers(obj, fins.into_iter().filter(|f| f != finalizer).collect());
        true
    })
    .await
}

/// Creates an object unless one of that name exists.
pub async fn ensure(client: &SystemClient, r: &ObjectRef, obj: Value) -> Result<(), ApiError> {
    match client.create(r, obj).await {
        Err(e) if e.reason == Reason::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}

/// Deletes every object under each storage prefix (finalizers respected); returns how many
/// are still there, held by finalizers. What a delete removed at once is not waited for: the
/// caller can take its next step in the same pass.
pub async fn delete_all(client: &SystemClient, prefixes: impl IntoIterator<Item = String>) -> Result<usize, Error> {
    let store = &client.api().store;
    let mut remaining = 0;
    for prefix in prefixes {
        let page = store.list(&prefix, None, 0, None).await?;
        for item in page.items {
            let Some(r) = ObjectRef::from_key(&item.key) else { continue };
            // Deleting it again would change nothing (no propagation is asked for): it waits
            // for its finalizers either way.
            if marked_deleted(&item.value) || !client.delete(&r, None).await? {
                remaining += 1;
            }
        }
    }
    Ok(remaining)
}

/// Whether stored bytes are an object already marked for deletion; reads only that field.
fn marked_deleted(value: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(default)]
        metadata: Meta,
    }
    #[derive(serde::Deserialize, Default)]
    struct Meta {
        #[serde(rename = "deletionTimestamp")]
        deletion: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Head>(value).is_ok_and(|h| h.metadata.deletion.is_some())
}

/// The client controller `name` writes with. Four controllers are `system:masters`: the
/// workspace controller (admission reserves recording placement on a Workspace, and granting a
/// new workspace's owner cluster-admin, to it), the RBAC labeller and the ClusterRole
/// aggregator (writing a role is refused by RBAC to anyone not holding every permission the
/// role grants) and the default binder (the type's author proved `bind`; the binding is made
/// for them). The rest write as themselves.
pub fn client(api: std::sync::Arc<apiserver::rest::Api>, name: &str) -> SystemClient {
    let masters = [workspace::NAME, replicate_rbac::NAME, clusterrole_aggregation::NAME, apibinder::NAME];
    let groups: &[&str] = if masters.contains(&name) { &[apimachinery::auth::MASTERS_GROUP] } else { &[] };
    SystemClient::new(api, name, groups)
}

/// The series the shard's controllers report.
#[derive(Default)]
pub struct ShardMetrics {
    /// Work queues and reconciles of every controller.
    pub controllers: apiserver::controller::ControllerMetrics,
    /// Workspaces by phase and their scheduling latency.
    pub workspaces: workspace::census::WorkspaceCensus,
}

impl ShardMetrics {
    /// Adds the series to the shard's `/metrics`.
    pub fn register(&self, metrics: &mut apiserver::server::metrics::Metrics) {
        self.controllers.register(metrics.registry_mut());
        self.workspaces.register(metrics);
    }
}

/// Starts every controller of the shard where `launch` says, each with its own client.
pub fn start(
    api: &std::sync::Arc<apiserver::rest::Api>,
    launch: &Launcher<'_>,
    placement: workspace::Placement,
    root_ca: Option<std::sync::Arc<str>>,
    urls: &crate::shards::Urls,
    indexes: &crate::Indexes,
) {
    let crds = api.crds.clone();
    let bindings = apibinding::ApiBindings::new(client(api.clone(), apibinding::NAME), placement.global.clone(), crds.clone());
    let binder = apibinder::ApiBinder { client: client(api.clone(), apibinder::NAME), global: placement.global.clone() };
    let slices = endpointslice::EndpointSliceUrls::new(
        client(api.clone(), endpointslice::NAME),
        placement.global.clone(),
        placement.others.clone(),
        urls.virtual_workspaces.clone(),
        urls.external.clone(),
    );
    let types = workspacetype::WorkspaceTypeUrls::new(client(api.clone(), workspacetype::NAME), placement.global.clone());
    let informers = launch.informers;
    launch.run(crd::controller(crd::Crds { client: client(api.clone(), crd::NAME), index: crds.clone() }, informers));
    launch.run(namespace::controller(namespace::NamespaceDeletion { client: client(api.clone(), namespace::NAME), crds: crds.clone() }, informers));
    launch.run(gc::controller(gc::GarbageCollector::new(client(api.clone(), gc::NAME), indexes.objects.clone()), informers));
    let objects = indexes.objects.clone();
    informers.follow(&apiserver::storage::key::resource_prefix("core.kcp.io", "logicalclusters"), Box::new(move |c| objects.saw_logical_cluster(c)));
    let clusters = logicalcluster::LogicalClusters { client: client(api.clone(), logicalcluster::NAME), crds: crds.clone() };
    launch.run(logicalcluster::controller(clusters, informers));
    let census = launch.metrics.workspaces.clone();
    launch.run(workspace::controller(workspace::Workspaces { client: client(api.clone(), workspace::NAME), crds, placement, census }, informers));
    launch.run(replicate_rbac::controller(replicate_rbac::ReplicateRbac { client: client(api.clone(), replicate_rbac::NAME) }, informers));
    let defaults = namespace_defaults::NamespaceDefaults { client: client(api.clone(), namespace_defaults::NAME), ca_pem: root_ca.clone() };
    launch.run(namespace_defaults::controller(defaults, informers));
    launch.run(apiexport::controller(apiexport::ApiExports { client: client(api.clone(), apiexport::NAME) }, informers));
    launch.run(apibinding::controller(bindings, informers));
    launch.run(apibinder::controller(binder, informers));
    launch.run(endpointslice::controller(slices, informers));
    launch.run(workspacetype::controller(types, informers));
    let labeller = permissionclaims::ClaimLabeller::new(client(api.clone(), permissionclaims::NAME), indexes.claims.clone());
    launch.run(permissionclaims::controller(labeller, informers));
    launch.run(resourcequota::controller(
        resourcequota::QuotaStatus { client: client(api.clone(), resourcequota::NAME), index: indexes.quotas.clone() },
        informers,
    ));
    let tokens = token_secrets::TokenSecrets { client: client(api.clone(), token_secrets::NAME), ca_pem: root_ca };
    launch.run(token_secrets::controller(tokens, informers));
    launch.run(clusterrole_aggregation::controller(clusterrole_aggregation::Aggregation::new(client(api.clone(), clusterrole_aggregation::NAME)), informers));
    launch.run(event_ttl::controller(event_ttl::EventTtl::new(client(api.clone(), event_ttl::NAME), launch.event_ttl), informers));
}

/// Where the shard's controllers run: the feed they follow, the metrics they report into, and
/// a `/readyz` gate each.
pub struct Launcher<'a> {
    /// The shared informer, run by the caller once every controller has subscribed.
    pub informers: &'a Informers,
    /// The shard's controller metrics.
    pub metrics: &'a ShardMetrics,
    /// The shard's readiness, where each controller opens its gate once synced.
    pub readiness: &'a Readiness,
    /// How long an Event lives after its last write.
    pub event_ttl: std::time::Duration,
}

impl Launcher<'_> {
    fn run<R: Reconcile>(&self, controller: Controller<R>) {
        let gate = self.readiness.gate(format!("controller/{}", controller.name()));
        tokio::spawn(controller.metrics(&self.metrics.controllers).ready_gate(gate).run());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::testing::Fixture;

    #[tokio::test]
    async fn update_reads_once_writes_what_changed_and_leaves_the_rest() {
        let f = Fixture::new().await;
        let ns = f.namespace("c1", "team").await;
        let client = f.client("test");
        let before = f.get(&ns.key()).await.unwrap();
        update(&client, &ns, Part::Main, |_| false).await.unwrap();
        assert_eq!(f.get(&ns.key()).await.unwrap(), before, "nothing to change, nothing written");
        update(&client, &ns, Part::Main, |ns| {
            ns["metadata"]["labels"] = json!({"a": "b"});
            ns["status"]["phase"] = json!("Odd");
            true
        })
        .await
        .unwrap();
        let after = f.get(&ns.key()).await.unwrap();
        assert_eq!(after["metadata"]["labels"]["a"], "b");
        assert_eq!(after["status"], before["status"], "a main write keeps the status");
        let gone = ObjectRef::new("", "namespaces", "c1", "", "nope");
        assert_eq!(update_from(&client, &gone, Part::Status, None, |_| true).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_write_of_all_parts_sets_main_and_status_at_once_from_the_object_known() {
        let f = Fixture::new().await;
        let ns = f.namespace("c1", "team").await;
        let client = f.client("test");
        let known = client.get(&ns).await.unwrap();
        let written = update_from(&client, &ns, Part::All, known.clone(), |ns| {
            ns["metadata"]["labels"] = json!({"a": "b"});
            ns["status"]["phase"] = json!("Odd");
            true
        })
        .await
        .unwrap()
        .unwrap();
        let after = f.get(&ns.key()).await.unwrap();
        assert_eq!((&after["metadata"]["labels"]["a"], &after["status"]["phase"]), (&json!("b"), &json!("Odd")));
        let revision = f.store.get(&ns.key()).await.unwrap().revision;
        assert_eq!(written["metadata"]["resourceVersion"], json!(revision.to_string()));
        // A stale object is a conflict, retried from a fresh read: nothing written is lost.
        update_from(&client, &ns, Part::Main, known, |ns| {
            ns["metadata"]["labels"]["c"] = json!("d");
            true
        })
        .await
        .unwrap();
        let last = f.get(&ns.key()).await.unwrap();
        assert_eq!((&last["metadata"]["labels"], &last["status"]["phase"]), (&json!({"a": "b", "c": "d"}), &json!("Odd")));
    }

    #[tokio::test]
    async fn a_controller_records_field_ownership_only_where_someone_already_does() {
        let f = Fixture::new().await;
        let ns = f.namespace("c1", "team").await;
        let client = f.client("test");
        let relabel = |value: &'static str| {
            move |ns: &mut Value| {
                ns["metadata"]["labels"] = json!({"a": value});
                true
            }
        };
        update(&client, &ns, Part::Main, relabel("b")).await.unwrap();
        assert_eq!(f.get(&ns.key()).await.unwrap()["metadata"].get("managedFields"), None, "only the system wrote it");

        // A user's write recorded ownership: the controller's own entry joins theirs.
        let mut owned = f.get(&ns.key()).await.unwrap();
        let theirs = json!({"manager": "kubectl-edit", "operation": "Update", "apiVersion": "v1", "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}}});
        owned["metadata"]["managedFields"] = json!([theirs]);
        f.store.update(&ns.key(), f.store.get(&ns.key()).await.unwrap().revision, serde_json::to_vec(&owned).unwrap().into()).await.unwrap();
        update(&client, &ns, Part::Main, relabel("c")).await.unwrap();
        let managers: Vec<Value> =
            f.get(&ns.key()).await.unwrap()["metadata"]["managedFields"].as_array().unwrap().iter().map(|e| e["manager"].clone()).collect();
        assert_eq!(managers, [json!("kubectl-edit"), json!("controller-test")]);
    }

    #[test]
    fn only_a_deletion_timestamp_marks_an_object_deleted() {
        assert!(marked_deleted(br#"{"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}}"#));
        assert!(!marked_deleted(br#"{"metadata": {"name": "a", "deletionTimestamp": null}}"#));
        assert!(!marked_deleted(br#"{"metadata": {"name": "a"}, "spec": {}}"#));
        assert!(!marked_deleted(br#"{"kind": "x"}"#));
    }
}
