//! delete and deletecollection: immediate deletion, or marking for finalizers to finish.

use serde_json::{json, Value};

use super::body::{self, Response};
use super::load::{collect, load, Filter};
use super::object::Deletion;
use super::render::respond_object;
use super::{admission, cluster_of, decode, dry_run, object, Api, ApiRequest, Resolved};
use apimachinery::registry::ResourceInfo;
use apimachinery::status::{ApiError, Reason};

/// Finalizer the garbage collector honours for `propagationPolicy: Foreground`.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
/// Finalizer the garbage collector honours for `propagationPolicy: Orphan`.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Namespaces that may never be deleted.
const UNDELETABLE_NAMESPACES: &[&str] = &["default"];

/// The parts of DeleteOptions the server acts on.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    /// `propagationPolicy`: `Orphan`, `Background` or `Foreground`; `orphanDependents: true` reads as `Orphan`.
    pub propagation: Option<String>,
    /// `preconditions.uid`: the object is deleted only if its uid matches.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`: the object is deleted only if its resourceVersion matches.
    pub resource_version: Option<String>,
}

impl DeleteOptions {
    /// Reads DeleteOptions from the body (JSON) and query parameters.
    pub fn from_request(req: &ApiRequest) -> Result<DeleteOptions, ApiError> {
        let body = if req.body.iter().all(u8::is_ascii_whitespace) { json!({}) } else { decode::json(&req.body)? };
        let s = |v: &Value| v.as_str().map(String::from);
        let mut opts = DeleteOptions {
            propagation: s(&body["propagationPolicy"]).or_else(|| req.info.param("propagationPolicy").map(String::from)),
            uid: s(&body["preconditions"]["uid"]),
            resource_version: s(&body["preconditions"]["resourceVersion"]),
        };
        if body["orphanDependents"] == json!(true) && opts.propagation.is_none() {
            opts.propagation = Some("Orphan".into());
        }
        match opts.propagation.as_deref() {
            None | Some("Background" | "Foreground" | "Orphan") => Ok(opts),
            Some(other) => Err(ApiError::invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                &[apimachinery::status::FieldError::not_supported("propagationPolicy", other, &["Foreground", "Background", "Orphan"])],
            )),
        }
    }
}

/// DELETE of one object.
pub async fn delete(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let opts = DeleteOptions::from_request(req)?;
    let obj = delete_one(api, req, r, &req.info.namespace, &req.info.name, &opts).await?;
    // An object that is gone (not waiting for finalizers) is reported as a Status, except by
    // the kinds kube-apiserver returns the deleted object for: clients type the answer by it
    // (the Python client's delete_namespaced_config_map returns a V1Status).
    if !object::is_deleting(&obj) && !returns_deleted_object(&r.info) {
        let status = apimachinery::status::success_status(&r.info.group, &r.info.plural, &req.info.name, object::meta_str(&obj, "uid"));
        return Ok(body::json(200, &status));
    }
    Ok(respond_object(req, r, 200, obj))
}

/// kube-apiserver's `ReturnDeletedObject`: custom resources (kcp's own kinds are CRDs in kcp)
/// and service accounts answer a DELETE with the object itself.
fn returns_deleted_object(info: &ResourceInfo) -> bool {
    info.custom || info.group.ends_with(".kcp.io") || (info.group.is_empty() && info.kind == "ServiceAccount")
}

/// Deletes (or marks for deletion) one object and returns what the client should see.
pub async fn delete_one(api: &Api, req: &ApiRequest, r: &Resolved, ns: &str, name: &str, opts: &DeleteOptions) -> Result<Value, ApiError> {
    let cluster = cluster_of(req)?;
    let (mut obj, rev) = load(api, r, cluster, ns, name).await?;
    if let Some(uid) = &opts.uid {
        let have = object::meta_str(&obj, "uid");
        if uid != have {
            return Err(ApiError::conflict_msg(
                &r.info.group,
                &r.info.plural,
                name,
                &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
            ));
        }
    }
    if let Some(want) = &opts.resource_version {
        if *want != rev.to_string() {
            return Err(ApiError::conflict_msg(
                &r.info.group,
                &r.info.plural,
                name,
                &format!("Precondition failed: ResourceVersion in precondition: {want}, ResourceVersion in object meta: {rev}"),
            ));
        }
    }
    let is_namespace = r.info.group.is_empty() && r.info.plural == "namespaces";
    // Only the shard itself empties a logical cluster that is going away; a tenant who could
    // mark their own cluster Deleting must still not delete `default` that way.
    let by_the_system = req.user.is_masters() || req.user.name.starts_with(super::client::CONTROLLER_USER_PREFIX);
    if is_namespace && UNDELETABLE_NAMESPACES.contains(&name) && !(by_the_system && cluster_deleting(api, cluster).await) {
        return Err(ApiError::new(Reason::Forbidden, format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted")));
    }
    // A logical cluster going away takes everything with it, whatever still refers to what.
    if let Err(e) = admission::admit_delete(api, req, r, cluster, &obj).await {
        if !(by_the_system && cluster_deleting(api, cluster).await) {
            return Err(e);
        }
    }
    let extra = match opts.propagation.as_deref() {
        Some("Foreground") => Some(FOREGROUND_FINALIZER),
        Some("Orphan") => Some(ORPHAN_FINALIZER),
        _ => None,
    };
    let key = r.key(cluster, ns, name);
    let dry = dry_run(req)?;
    match object::plan_deletion(&mut obj, extra) {
        Deletion::Unchanged => return Ok(obj),
        _ if dry => return Ok(obj),
        Deletion::Now => {
            let gone = api.store.delete(&key, Some(rev)).await?;
            object::meta_mut(&mut obj).insert("resourceVersion".into(), json!(gone.revision.to_string()));
            return Ok(obj);
        }
        Deletion::Marked => {}
    }
    let new_rev = api.store.update(&key, rev, r.to_stored(&obj)?).await?;
    object::meta_mut(&mut obj).insert("resourceVersion".into(), json!(new_rev.to_string()));
    Ok(obj)
}

/// Whether a logical cluster's content is going away: then even its undeletable namespaces
/// go. A deleted one whose terminators are still at work (`Terminating`) keeps them.
async fn cluster_deleting(api: &Api, cluster: &str) -> bool {
    let Ok(stored) = api.store.get(&crate::storage::Key::logical_cluster(cluster).encode()).await else { return false };
    serde_json::from_slice::<Value>(&stored.value).is_ok_and(|lc| lc.pointer("/status/phase") == Some(&json!("Deleting")))
}

/// DELETE of a collection: every object matching the selectors.
pub async fn delete_collection(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    cluster_of(req)?;
    let opts = DeleteOptions::from_request(req)?;
    let filter = Filter::from_request(req, r)?;
    let listed = collect(api, req, r, &filter).await?;
    let mut items = Vec::with_capacity(listed.items.len());
    for obj in listed.items {
        let ns = object::meta_str(&obj, "namespace").to_string();
        let name = object::meta_str(&obj, "name").to_string();
        match delete_one(api, req, r, &ns, &name, &opts).await {
            Ok(o) => items.push(o),
            Err(e) if e.reason == Reason::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": r.info.list_kind,
        "apiVersion": r.info.api_version(),
        "metadata": {"resourceVersion": api.store.current_revision().to_string()},
        "items": items,
    });
    Ok(body::json(200, &list))
}
