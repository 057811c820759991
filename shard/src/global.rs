//! What a shard needs to know beyond its own logical clusters to admit and schedule
//! workspaces: workspace types of any workspace, the shards, and the RBAC that says who may
//! `use` a type. Local storage answers first; everything else comes from the replicated cache,
//! as its last known state, so a shard keeps working while every cache replica is down.

use std::sync::Arc;

use apimachinery::auth::{Attributes, RbacObjects, UserInfo};
use apimachinery::status::ApiError;
use apiserver::rest::Api;
use apiserver::storage::{key, Key, SharedStorage};
use serde_json::Value;

use crate::bootstrap::ROOT_CLUSTER;
use crate::cluster_gate::walk_path;
use crate::tenancy::PATH_ANNOTATION;

/// Annotation on each cached copy: the logical cluster it came from.
pub const CLUSTER_ANNOTATION: &str = "kcp.io/cluster";
/// Annotation on each cached copy: the shard that published it.
pub const SHARD_ANNOTATION: &str = "kcp.io/shard";

/// The objects other shards publish, as a reader of the cache last saw them.
pub trait Replicated: Send + Sync {
    /// Copies of `group`/`resource` in `cluster` (or in every cluster), named `name` (or any
    /// name), each annotated with [`CLUSTER_ANNOTATION`] and, where it has one, the workspace
    /// path of its cluster.
    fn list(&self, group: &str, resource: &str, cluster: Option<&str>, name: Option<&str>) -> Vec<Value>;
    /// Whether the reader follows a replica right now; when not, what it lists may be stale and
    /// may miss objects published since.
    fn is_current(&self) -> bool;
    /// Fires on every change the reader takes in (a shard's whole set counts as one), so
    /// work waiting for another shard's objects can look again at once.
    fn changed(&self) -> tokio::sync::broadcast::Receiver<cache_server::client::Update>;
}

/// The cache client's view: each copy as its shard published it, annotated with where it came
/// from.
impl Replicated for cache_server::client::Subscriber {
    fn list(&self, group: &str, resource: &str, cluster: Option<&str>, name: Option<&str>) -> Vec<Value> {
        cache_server::client::Subscriber::list(self, group, resource, cluster)
            .into_iter()
            // Admission looks up one name among every cached object of a kind: compare names
            // before paying for a parse.
            .filter(|o| name.is_none_or(|n| o.key.name == n))
            .filter_map(|o| {
                let mut obj: Value = serde_json::from_slice(&o.json).ok()?;
                let annotations = obj.get_mut("metadata")?.as_object_mut()?.entry("annotations").or_insert_with(|| serde_json::json!({}));
                let annotations = annotations.as_object_mut()?;
                annotations.insert(CLUSTER_ANNOTATION.into(), o.key.cluster.into());
                annotations.insert(SHARD_ANNOTATION.into(), o.shard.into());
                Some(obj)
            })
            .collect()
    }

    fn is_current(&self) -> bool {
        self.is_connected()
    }

    fn changed(&self) -> tokio::sync::broadcast::Receiver<cache_server::client::Update> {
        self.updates()
    }
}

/// An object found by workspace path and name, and the logical cluster that holds it.
#[derive(Debug, Clone)]
pub struct Found {
    /// The logical cluster of the object.
    pub cluster: String,
    /// Whether that cluster is on this shard (its RBAC is then read locally).
    pub local: bool,
    /// The object.
    pub object: Value,
}

/// The cache could not tell: nothing is known about the object, and no replica answers now.
#[derive(Debug, thiserror::Error)]
#[error("the cache server is unreachable and {what} has not been seen yet; try again")]
pub struct Unavailable {
    /// What was looked up.
    pub what: String,
}

impl From<Unavailable> for ApiError {
    fn from(e: Unavailable) -> ApiError {
        ApiError::unavailable(e.to_string())
    }
}

/// Local storage first, then the replicated cache.
pub struct Global {
    /// This shard's storage.
    pub store: SharedStorage,
    /// The cache reader; None when the shard runs alone (everything is local).
    pub cache: Option<Arc<dyn Replicated>>,
}

impl Global {
    /// A view answering from `store` only.
    pub fn local(store: SharedStorage) -> Global {
        Global { store, cache: None }
    }

    /// The cluster-scoped `group`/`resource` object `name` in the workspace at `path` (a path or
    /// a logical cluster name).
    pub async fn find(&self, group: &str, resource: &str, path: &str, name: &str) -> Result<Option<Found>, Unavailable> {
        let unavailable = || Unavailable { what: format!("{resource}.{group} {path}:{name}") };
        if let Some(cluster) = walk_path(self.store.as_ref(), path).await.map_err(|_| unavailable())? {
            let key = Key { group, resource, cluster: &cluster, namespace: "", name }.encode();
            if let Ok(stored) = self.store.get(&key).await {
                let object = serde_json::from_slice(&stored.value).unwrap_or(Value::Null);
                return Ok(Some(Found { cluster, local: true, object }));
            }
            // The workspace is on this shard: what it holds is the whole truth.
            if self.store.get(&Key::logical_cluster(&cluster).encode()).await.is_ok() {
                return Ok(None);
            }
        }
        let Some(cache) = &self.cache else { return Ok(None) };
        let found = cache
            .list(group, resource, None, Some(name))
            .into_iter()
            .find(|t| annotation(t, PATH_ANNOTATION) == Some(path) || annotation(t, CLUSTER_ANNOTATION) == Some(path));
        match found {
            Some(object) => Ok(Some(Found { cluster: annotation(&object, CLUSTER_ANNOTATION).unwrap_or_default().to_string(), local: false, object })),
            None if cache.is_current() => Ok(None),
            None => Err(unavailable()),
        }
    }

    /// The WorkspaceType `name` in the workspace at `path`.
    pub async fn workspace_type(&self, path: &str, name: &str) -> Result<Option<Found>, Unavailable> {
        self.find("tenancy.kcp.io", "workspacetypes", path, name).await
    }

    /// Every Shard object (they live in `root`).
    pub async fn shards(&self) -> Result<Vec<Value>, ApiError> {
        let local = self.store.list(&key::cluster_prefix("core.kcp.io", "shards", ROOT_CLUSTER), None, 0, None).await?;
        let cache = match &self.cache {
            Some(cache) if local.items.is_empty() => cache,
            _ => return Ok(local.items.iter().filter_map(|s| serde_json::from_slice(&s.value).ok()).collect()),
        };
        let shards = cache.list("core.kcp.io", "shards", Some(ROOT_CLUSTER), None);
        if shards.is_empty() && !cache.is_current() {
            return Err(Unavailable { what: "the list of shards".into() }.into());
        }
        Ok(shards)
    }

    /// Whether `user` may `verb` the object `found` (of `group`/`resource`, or
    /// `resource/subresource` such as `apiexports/content`): the RBAC of its
    /// workspace decides, read from the cache when that workspace is on another shard. A service
    /// account from elsewhere counts there as a member of its workspace's group only.
    pub async fn may(&self, api: &Api, user: &UserInfo, verb: &str, group: &str, resource: &str, found: &Found) -> Result<bool, ApiError> {
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let attrs = Attributes {
            user: apimachinery::auth::as_seen_in(user.clone(), &found.cluster),
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            api_version: found.object["apiVersion"].as_str().and_then(|v| v.rsplit('/').next()).unwrap_or_default().into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: apiserver::rest::object::meta_str(&found.object, "name").to_string(),
            ..Default::default()
        };
        if found.local {
            return api.authz.allows(&found.cluster, &attrs).await;
        }
        let Some(rbac) = self.cached_rbac(&found.cluster) else { return Ok(false) };
        api.authz.allows_elsewhere(rbac, &attrs).await
    }

    /// The RBAC of a workspace on another shard, as the cache last saw it: the ClusterRoles and
    /// ClusterRoleBindings marked for replication (nothing else travels). None without a cache.
    pub fn cached_rbac(&self, cluster: &str) -> Option<RbacObjects> {
        let cache = self.cache.as_ref()?;
        Some(RbacObjects {
            cluster_roles: cache.list("rbac.authorization.k8s.io", "clusterroles", Some(cluster), None),
            cluster_role_bindings: cache.list("rbac.authorization.k8s.io", "clusterrolebindings", Some(cluster), None),
            ..Default::default()
        })
    }
}

/// The value of annotation `key` on `obj`.
fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)
}
