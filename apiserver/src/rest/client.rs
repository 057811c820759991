//! An in-process client for controllers: writes take the same path as API requests
//! (decoding checks, metadata rules, validation, admission and its plugins), made by a system
//! identity instead of a caller, so nothing a controller stores could not have come through
//! the front door.
//!
//! Authorization is not consulted: a controller is part of the server, and what it may do is
//! decided by its code. The identity still matters to admission (for example only
//! `system:masters` may set system fields of a Workspace or grant what it does not hold), so
//! each controller gets the smallest group set it needs.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::Value;

use super::delete::{delete_one, DeleteOptions};
use super::load::load;
use super::write::{commit_update, create_object, keep_unwritable, Fields};
use super::{Api, ApiRequest, Resolved};
use apimachinery::auth::UserInfo;
use apimachinery::registry::builtin;
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use apimachinery::status::{ApiError, Reason};

/// Prefix of the user names controllers write as.
pub const CONTROLLER_USER_PREFIX: &str = "system:kcp:controller:";

/// One object, addressed the way storage keys are: group and plural resource, no version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// API group (empty for the core group).
    pub group: String,
    /// Plural resource name (`configmaps`).
    pub resource: String,
    /// Logical cluster the object lives in.
    pub cluster: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// Object name.
    pub name: String,
}

impl ObjectRef {
    /// A reference to `group`/`resource` object `name` in `cluster` (and `namespace`).
    pub fn new(group: &str, resource: &str, cluster: &str, namespace: &str, name: &str) -> ObjectRef {
        ObjectRef { group: group.into(), resource: resource.into(), cluster: cluster.into(), namespace: namespace.into(), name: name.into() }
    }

    /// The object a storage key names.
    pub fn from_key(key: &str) -> Option<ObjectRef> {
        let k = crate::storage::Key::parse(key)?;
        Some(ObjectRef::new(k.group, k.resource, k.cluster, k.namespace, k.name))
    }

    /// Its storage key.
    pub fn key(&self) -> String {
        crate::storage::Key { group: &self.group, resource: &self.resource, cluster: &self.cluster, namespace: &self.namespace, name: &self.name }.encode()
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.key())
    }
}

/// Which parts of an object a controller's write replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Everything but status (a PUT).
    Main,
    /// Status only (a PUT to `/status`).
    Status,
    /// Everything, status included, in one durable write. The API serves no such request (a
    /// PUT keeps the stored status, a PUT to `/status` the rest); a controller that sets both
    /// at once saves a write with it, and is admitted as for a PUT of the main resource.
    All,
}

impl Part {
    /// The subresource a request for this part names.
    fn subresource(self) -> &'static str {
        match self {
            Part::Main | Part::All => "",
            Part::Status => "status",
        }
    }
}

/// Reads and writes objects through the REST handlers as one system identity.
#[derive(Clone)]
pub struct SystemClient {
    api: Arc<Api>,
    user: UserInfo,
}

impl SystemClient {
    /// A client acting as `system:kcp:controller:<name>` with `groups` (plus
    /// `system:authenticated`).
    pub fn new(api: Arc<Api>, name: &str, groups: &[&str]) -> SystemClient {
        let user = UserInfo { name: format!("{CONTROLLER_USER_PREFIX}{name}"), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() };
        SystemClient { api, user: user.with_authenticated_group() }
    }

    /// The identity writes are made as.
    pub fn user(&self) -> &UserInfo {
        &self.user
    }

    /// The server state the client writes through.
    pub fn api(&self) -> &Arc<Api> {
        &self.api
    }

    /// Finds the resource an object belongs to: built-ins, then every CRD and binding of its
    /// cluster, including CRDs being deleted (whose objects a controller still has to remove).
    /// A bound resource is named as its storage keys spell it (`cowboys:<identity hash>`).
    fn resolve(&self, r: &ObjectRef) -> Result<Resolved, ApiError> {
        if let Some(b) = builtin::builtins().iter().find(|b| b.info.group == r.group && b.info.plural == r.resource) {
            return Ok(Resolved::builtin(b));
        }
        let mut custom = self.api.crds.stored(&r.cluster).into_iter().filter(|i| i.group == r.group && i.storage_resource() == r.resource);
        let info = custom.next().ok_or_else(|| ApiError::not_found(&r.group, &r.resource, &r.name))?;
        Ok(Resolved::custom(info))
    }

    /// A request as the REST handlers see it, with a JSON field manager named after the client.
    fn request(&self, verb: Verb, method: Method, r: &ObjectRef, res: &Resolved, subresource: &str) -> ApiRequest {
        let info = RequestInfo {
            cluster: ClusterTarget::Name(r.cluster.clone()),
            cluster_as_written: r.cluster.clone(),
            path: String::new(),
            is_resource_request: true,
            verb,
            api_prefix: if res.info.group.is_empty() { "api" } else { "apis" }.into(),
            api_group: res.info.group.clone(),
            api_version: res.info.version.clone(),
            namespace: r.namespace.clone(),
            resource: res.info.plural.clone(),
            subresource: subresource.into(),
            name: r.name.clone(),
            query: [("fieldManager".to_string(), self.field_manager())].into(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ApiRequest { info, user: self.user.clone(), method, headers, body: Bytes::new(), visible: None, guard: None }
    }

    fn field_manager(&self) -> String {
        self.user.name.trim_start_matches("system:kcp:").replace(':', "-")
    }

    /// Reads an object as a GET would return it; None when it does not exist.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ApiError> {
        let res = match self.resolve(r) {
            Ok(res) => res,
            Err(e) if e.reason == Reason::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match load(&self.api, &res, &r.cluster, &r.namespace, &r.name).await {
            Ok((obj, _)) => Ok(Some(obj)),
            Err(e) if e.reason == Reason::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates an object (a POST); returns it as stored.
    pub async fn create(&self, r: &ObjectRef, obj: Value) -> Result<Value, ApiError> {
        let res = self.resolve(r)?;
        let req = self.request(Verb::Create, Method::POST, r, &res, "");
        Ok(create_object(&self.api, &req, &res, obj, Fields::System).await?.object)
    }

    /// Replaces an object (a PUT): `obj`'s resourceVersion, if set, must be current. Status is
    /// kept as stored where the resource has a status subresource. An object being deleted
    /// whose last finalizer this removes is deleted.
    pub async fn update(&self, r: &ObjectRef, obj: Value) -> Result<Value, ApiError> {
        self.put(r, obj, Part::Main).await
    }

    /// Replaces an object's status (a PUT to `/status`); the rest stays as stored.
    pub async fn update_status(&self, r: &ObjectRef, obj: Value) -> Result<Value, ApiError> {
        self.put(r, obj, Part::Status).await
    }

    async fn put(&self, r: &ObjectRef, obj: Value, part: Part) -> Result<Value, ApiError> {
        let res = self.resolve(r)?;
        let (old, old_rv) = load(&self.api, &res, &r.cluster, &r.namespace, &r.name).await?;
        self.commit(r, &res, part, (old, old_rv), obj).await
    }

    /// Lets `change` edit a copy of an object and replaces `part` of the object with it, as [`SystemClient::update`] after a [`SystemClient::get`]
    /// would, but with at most one read: `known` (the object as last read or written, with its
    /// resourceVersion) stands in for the stored one, and without it the object is read. The
    /// write expects the version `change` saw, so a stale `known` or a concurrent write is a
    /// conflict. None when the object does not exist; with `change` returning false nothing is
    /// written and the object is returned as it was.
    pub async fn modify(&self, r: &ObjectRef, part: Part, known: Option<Value>, change: impl FnOnce(&mut Value) -> bool) -> Result<Option<Value>, ApiError> {
        let res = match self.resolve(r) {
            Ok(res) => res,
            Err(e) if e.reason == Reason::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let current = match known {
            Some(obj) => super::object::resource_version(&obj)?.map(|rv| (obj, rv)),
            None => None,
        };
        let (old, old_rv) = match current {
            Some(found) => found,
            None => match load(&self.api, &res, &r.cluster, &r.namespace, &r.name).await {
                Ok(found) => found,
                Err(e) if e.reason == Reason::NotFound => return Ok(None),
                Err(e) => return Err(e),
            },
        };
        let mut obj = old.clone();
        if !change(&mut obj) {
            return Ok(Some(obj));
        }
        self.commit(r, &res, part, (old, old_rv), obj).await.map(Some)
    }

    /// Writes `obj` over `old` (as read, with its revision) through the update path.
    async fn commit(&self, r: &ObjectRef, res: &Resolved, part: Part, (old, old_rv): (Value, u64), mut obj: Value) -> Result<Value, ApiError> {
        let req = self.request(Verb::Update, Method::PUT, r, res, part.subresource());
        super::decode::check_object(&obj, res, &r.namespace, &r.name)?;
        if part != Part::All {
            keep_unwritable(part.subresource(), res, &old, &mut obj);
        }
        let expect = super::object::resource_version(&obj)?;
        Ok(commit_update(&self.api, &req, res, old, old_rv, obj, expect, Fields::System).await?.0)
    }

    /// Deletes an object (a DELETE), with `propagation` (`Foreground`, `Orphan`, `Background`);
    /// a missing object is not an error. True when the object is gone, false when finalizers
    /// (or, for a namespace, its content) hold it.
    pub async fn delete(&self, r: &ObjectRef, propagation: Option<&str>) -> Result<bool, ApiError> {
        let res = match self.resolve(r) {
            Ok(res) => res,
            Err(e) if e.reason == Reason::NotFound => return Ok(true),
            Err(e) => return Err(e),
        };
        let req = self.request(Verb::Delete, Method::DELETE, r, &res, "");
        let opts = DeleteOptions { propagation: propagation.map(String::from), ..Default::default() };
        match delete_one(&self.api, &req, &res, &r.namespace, &r.name, &opts).await {
            Ok(obj) => Ok(super::object::removed_by_delete(&obj)),
            Err(e) if e.reason == Reason::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_round_trip_through_storage_keys() {
        for key in ["core/namespaces/c1//default", "tenancy.kcp.io/workspaces/root//team", "core/configmaps/c1/default/x"] {
            assert_eq!(ObjectRef::from_key(key).unwrap().key(), key);
        }
        assert_eq!(ObjectRef::from_key("core/configmaps/c1/default/x").unwrap().group, "");
        assert_eq!(ObjectRef::from_key("core/configmaps"), None);
    }
}
