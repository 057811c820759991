//! The generic REST handlers: one path for every stored resource, built-in or CRD.
//!
//! `Api::handle` receives a request that is already authenticated and authorized, resolves the
//! resource in the addressed logical cluster, and runs the verb. Per-kind differences come from
//! the kind's [`Strategy`] and the ordered admission plugins in [`admission`]; metadata rules
//! live once in [`object`].

pub mod admission;
pub mod body;
pub mod client;
pub mod decode;
pub mod delete;
pub mod encoded;
pub mod load;
pub mod object;
pub mod read;
pub mod render;
pub mod review;
pub mod served;
pub mod token;
pub mod watch;
pub mod write;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

use crate::auth::authz::Authorizer;
use crate::storage::{key, SharedStorage};
use apimachinery::auth::UserInfo;
use apimachinery::registry::builtin::{self, Backing};
use apimachinery::registry::crd::CrdIndex;
use apimachinery::registry::{ResourceInfo, StrategyRef};
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use apimachinery::status::ApiError;

pub use body::{Body, Response};

/// An authenticated, authorized API request.
pub struct ApiRequest {
    /// Where it goes: cluster, resource, verb, query.
    pub info: RequestInfo,
    /// Who is asking, after impersonation and scoping.
    pub user: UserInfo,
    /// The HTTP method.
    pub method: Method,
    /// The request headers (content type, accept, field manager, ...).
    pub headers: HeaderMap,
    /// The whole body, read within the size limit.
    pub body: Bytes,
    /// For a list or watch computed by a view, which objects it may see (asked per object as
    /// served, so the answer can change while a watch runs: an object that stops being visible
    /// is delivered as DELETED); None sees everything addressed.
    pub visible: Option<Visible>,
    /// A view's own rule for updates it passes on, run on the object about to be stored
    /// (after the patch and the status rules applied) against the stored one.
    pub guard: Option<Guard>,
}

/// Decides per object, as served (with its `kcp.io/cluster` annotation), whether a reader sees it.
pub type Visible = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// Refuses an update a view does not allow: `(stored, new)`.
pub type Guard = Arc<dyn Fn(&Value, &Value) -> Result<(), ApiError> + Send + Sync>;

impl ApiRequest {
    /// A header as text, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

/// Annotation naming the logical cluster an object lives in (set when it is served, not stored).
pub const CLUSTER_ANNOTATION: &str = "kcp.io/cluster";

/// A resource resolved in one logical cluster (or across all, for wildcard requests).
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Names, scope, versions and columns of the resource.
    pub info: ResourceInfo,
    /// Whether it is stored or answered from the request (reviews).
    pub backing: Backing,
    /// How the kind behaves: validation, printing, field labels, list merging.
    pub strategy: StrategyRef,
    /// The stored version, when a built-in serves this one by converting from it.
    pub converted_from: Option<String>,
    /// The group objects are stored under, when a built-in is served from another's objects.
    pub stored_group: Option<&'static str>,
}

impl Resolved {
    /// A built-in resource.
    pub fn builtin(b: &builtin::Builtin) -> Self {
        Resolved {
            info: b.info.clone(),
            backing: b.backing,
            strategy: StrategyRef::Builtin(b.strategy),
            converted_from: b.converted_from.clone(),
            stored_group: b.stored_group,
        }
    }

    /// A resource served from a CRD.
    pub fn custom(info: ResourceInfo) -> Self {
        Resolved { backing: info.backing, strategy: StrategyRef::custom(info.clone()), info, converted_from: None, stored_group: None }
    }

    /// Storage key prefix for a list or watch in `cluster` (None = every cluster).
    pub fn prefix(&self, cluster: Option<&str>, namespace: &str) -> String {
        let (g, r) = (self.stored_group.unwrap_or(&self.info.group), &self.info.storage_resource());
        match (cluster, namespace) {
            (None, _) => key::resource_prefix(g, r),
            (Some(c), "") => key::cluster_prefix(g, r, c),
            (Some(c), ns) => key::namespace_prefix(g, r, c, ns),
        }
    }

    /// Parses the object stored at `key` as this endpoint serves it. CRD versions share
    /// storage with `None` conversion, so only `apiVersion` changes to the version asked for;
    /// a built-in served in several versions converts through its strategy.
    /// Every object names its logical cluster in annotation `kcp.io/cluster`, as in kcp, so
    /// that wildcard readers (the front-proxy's index) know where each one lives.
    pub fn present(&self, key: &str, bytes: &bytes::Bytes, revision: u64) -> Result<Value, ApiError> {
        let mut obj = object::decode_stored(bytes, revision)?;
        if self.info.custom {
            obj["apiVersion"] = serde_json::json!(self.info.api_version());
        }
        if self.converted_from.is_some() {
            obj = self.strategy.convert(obj, &self.info.version).map_err(ApiError::internal)?;
        }
        if let Some((cluster, _, _)) = key::decode(key) {
            object::meta_mut(&mut obj).entry("annotations").or_insert_with(|| serde_json::json!({}))[CLUSTER_ANNOTATION] = serde_json::json!(cluster);
        }
        Ok(obj)
    }

    /// [`Resolved::present`], printed, for a stored value and appended to `out`: its bytes
    /// copied with only the served fields changed where that is possible, else through the
    /// JSON tree.
    pub fn present_encoded(&self, cache: &served::ServedCache, stored: &crate::storage::Stored, out: &mut Vec<u8>) -> Result<(), ApiError> {
        if self.converted_from.is_none() {
            let api_version = self.info.custom.then(|| self.info.api_version());
            if cache.append(stored, api_version.as_deref(), out) {
                return Ok(());
            }
            let served =
                encoded::Served { revision: stored.revision, cluster: key::decode(&stored.key).map(|(c, _, _)| c), api_version: api_version.as_deref() };
            let start = out.len();
            if encoded::write_served(&stored.value, &served, out).is_ok() {
                cache.insert(stored, api_version.as_deref(), &out[start..]);
                return Ok(());
            }
        }
        serde_json::to_writer(out, &self.present(&stored.key, &stored.value, stored.revision)?).map_err(ApiError::internal)
    }

    /// Serializes an object for storage in the stored version; a request whose object cannot
    /// be converted to it is a 400.
    pub fn to_stored(&self, obj: &Value) -> Result<Bytes, ApiError> {
        match &self.converted_from {
            None => Ok(object::to_stored(obj)),
            Some(version) => {
                let stored = self.strategy.convert(obj.clone(), version).map_err(|e| ApiError::bad_request(e.to_string()))?;
                Ok(object::to_stored(&stored))
            }
        }
    }

    /// Storage key of one object.
    pub fn key(&self, cluster: &str, namespace: &str, name: &str) -> String {
        key::Key { group: self.stored_group.unwrap_or(&self.info.group), resource: &self.info.storage_resource(), cluster, namespace, name }.encode()
    }
}

/// Limits that protect the server from oversized requests and responses.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: 3 * 1024 * 1024 }
    }
}

/// Logical clusters closed to requests, as the binary keeps them current (kcp: inactive
/// ones); watches into a cluster end when it joins the set.
pub type ClosedClusters = tokio::sync::watch::Receiver<Arc<std::collections::HashSet<String>>>;

/// What an admission step sees of a write: who writes what where, and the stored object on
/// updates.
#[derive(Clone, Copy)]
pub struct Write<'a> {
    /// The server state, for checks that read other objects.
    pub api: &'a Api,
    /// The request being admitted.
    pub req: &'a ApiRequest,
    /// The resource written.
    pub resource: &'a Resolved,
    /// The logical cluster written to.
    pub cluster: &'a str,
    /// The stored object, on updates.
    pub old: Option<&'a Value>,
}

impl Write<'_> {
    /// Whether the resource written is `group`/`kind`.
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.resource.info.group == group && self.resource.info.kind == kind
    }

    /// Whether the writer is `system:masters`.
    pub fn by_masters(&self) -> bool {
        self.req.user.is_masters()
    }
}

/// A validating/mutating admission plugin: a built-in one or one a binary adds (workspace
/// admission in the shard). Plugins run in [`Api::plugins`] order, after validation, before storage.
pub trait AdmissionPlugin: Send + Sync + 'static {
    /// Admits (and may mutate) `obj`.
    fn admit<'a>(&'a self, write: Write<'a>, obj: &'a mut Value) -> futures::future::BoxFuture<'a, Result<(), ApiError>>;

    /// Admits the deletion of `obj` (as stored); most plugins guard writes only.
    fn admit_delete<'a>(&'a self, _write: Write<'a>, _obj: &'a Value) -> futures::future::BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async { Ok(()) })
    }
}

/// Shared state of the REST handlers of one shard.
pub struct Api {
    /// Where objects live.
    pub store: SharedStorage,
    /// The established CRDs of every logical cluster.
    pub crds: Arc<CrdIndex>,
    /// The authorizer chain, for access reviews and escalation checks.
    pub authz: Arc<Authorizer>,
    /// The authenticators, for TokenReview.
    pub authn: Arc<crate::auth::authn::Authenticator>,
    /// Request size limits.
    pub limits: Limits,
    /// Admission plugins in the order they run: [`admission::plugins`] puts the built-in ones first.
    pub plugins: Vec<Arc<dyn AdmissionPlugin>>,
    /// Fires when the server shuts down, so watches end cleanly.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Inactive logical clusters, whose open watches end.
    pub inactive: ClosedClusters,
    /// Objects as LISTs last served them.
    pub served: served::ServedCache,
}

impl Api {
    /// Finds `group/version/resource` in a cluster: built-ins first, then its established CRDs
    /// and bindings. Across clusters, a bound resource is named with its export's identity
    /// (`cowboys:<identity hash>`), since exports of one group and resource store apart.
    pub fn resolve(&self, target: &ClusterTarget, group: &str, version: &str, resource: &str) -> Option<Resolved> {
        if let Some(b) = builtin::find(group, version, resource) {
            return Some(Resolved::builtin(b));
        }
        let info = match target {
            ClusterTarget::Name(c) => self.crds.find(c, group, version, resource),
            _ => self.crds.find_anywhere(group, version, resource),
        }?;
        Some(Resolved::custom(info))
    }

    /// Every resource served in a cluster: built-ins then CRDs.
    pub fn served(&self, cluster: &str) -> Vec<ResourceInfo> {
        builtin::builtins().iter().map(|b| b.info.clone()).chain(self.crds.served(cluster)).collect()
    }

    /// Runs one resource request.
    pub async fn handle(&self, req: ApiRequest) -> Result<Response, ApiError> {
        let i = &req.info;
        let resolved = self.resolve(&i.cluster, &i.api_group, &i.api_version, &i.resource).ok_or_else(ApiError::path_not_found)?;
        let collection_verb = matches!(i.verb, Verb::List | Verb::Watch | Verb::DeleteCollection);
        if i.namespace.is_empty() && resolved.info.namespaced && !collection_verb {
            return Err(ApiError::path_not_found());
        }
        if !i.namespace.is_empty() && !resolved.info.namespaced {
            return Err(ApiError::path_not_found());
        }
        if !i.subresource.is_empty() && !resolved.info.subresources.contains(&i.subresource) {
            return Err(ApiError::path_not_found());
        }
        if matches!(i.cluster, ClusterTarget::Wildcard) && !matches!(i.verb, Verb::List | Verb::Watch) {
            return Err(ApiError::method_not_allowed(format!(
                "the server does not allow this method on the requested resource: {} is only allowed for list and watch across all logical clusters",
                i.verb
            )));
        }
        if resolved.backing == Backing::Review {
            return match i.verb {
                Verb::Create => review::create(self, &req, &resolved).await,
                _ => Err(ApiError::method_not_allowed("the server does not allow this method on the requested resource")),
            };
        }
        if i.subresource == "token" {
            return token::request(self, &req, &resolved).await;
        }
        match i.verb {
            Verb::Get => read::get(self, &req, &resolved).await,
            Verb::List => read::list(self, &req, &resolved).await,
            Verb::Watch => watch::watch(self, &req, &resolved).await,
            Verb::Create => write::create(self, &req, &resolved).await,
            Verb::Update => write::update(self, &req, &resolved).await,
            Verb::Patch => write::patch(self, &req, &resolved).await,
            Verb::Delete => delete::delete(self, &req, &resolved).await,
            Verb::DeleteCollection => delete::delete_collection(self, &req, &resolved).await,
            Verb::Other(_) => Err(ApiError::method_not_allowed("the server does not allow this method on the requested resource")),
        }
    }
}

/// The cluster a single-cluster verb addresses (wildcards were refused before).
pub(crate) fn cluster_of(req: &ApiRequest) -> Result<&str, ApiError> {
    req.info.cluster_name().ok_or_else(ApiError::path_not_found)
}

/// `dryRun=All` was requested; anything else is rejected like kube does.
pub fn dry_run(req: &ApiRequest) -> Result<bool, ApiError> {
    match req.info.param("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!("Invalid dry run value: {other:?}: supported values: \"All\""))),
    }
}
