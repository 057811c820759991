//! Workspaces: names, annotations and admission of `tenancy.kcp.io` Workspaces.
//!
//! A Workspace in logical cluster P names a child logical cluster with an opaque, random name;
//! its path (`root:org:team`) is recorded on the child's LogicalCluster so requests addressed
//! by path can be resolved. Admission defaults and checks the workspace type against the
//! WorkspaceTypes of any workspace, on any shard; the workspace controller does the scheduling.

use std::sync::Arc;

use apimachinery::registry::kcpcore::logicalcluster::Hook;
use apimachinery::status::{ApiError, FieldError, Reason};
use apiserver::rest::{object, AdmissionPlugin, Write};
use apiserver::storage::{Key, SharedStorage};
use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::global::{Global, Unavailable};
use crate::shards;

/// Annotation on a Workspace: the creator's user info (JSON), who becomes its admin.
pub use apimachinery::registry::kcpcore::logicalcluster::OWNER_ANNOTATION;
/// Annotation on a LogicalCluster: its canonical workspace path.
pub const PATH_ANNOTATION: &str = "kcp.io/path";
/// Annotation on a LogicalCluster: its workspace type as `<path>:<name>`.
pub const TYPE_ANNOTATION: &str = "internal.tenancy.kcp.io/type";
/// Finalizer holding a Workspace until its logical cluster and content are gone.
pub const WORKSPACE_FINALIZER: &str = "core.kcp.io/logicalcluster";
/// The logical cluster holding the built-in workspace types.
pub const TYPES_CLUSTER: &str = "root";

async fn get(store: &SharedStorage, key: Key<'_>) -> Option<Value> {
    let stored = store.get(&key.encode()).await.ok()?;
    serde_json::from_slice(&stored.value).ok()
}

/// A logical cluster's LogicalCluster object.
pub async fn logical_cluster(store: &SharedStorage, cluster: &str) -> Option<Value> {
    get(store, Key::logical_cluster(cluster)).await
}

/// The canonical path of a logical cluster (its own name when it has no path annotation).
pub async fn path_of(store: &SharedStorage, cluster: &str) -> String {
    logical_cluster(store, cluster)
        .await
        .and_then(|lc| lc.pointer("/metadata/annotations/kcp.io~1path").and_then(Value::as_str).map(String::from))
        .unwrap_or_else(|| cluster.to_string())
}

/// The `root:<name>` type of a logical cluster (`root:root` for root itself).
pub async fn type_of(store: &SharedStorage, cluster: &str) -> String {
    let annotated = logical_cluster(store, cluster)
        .await
        .and_then(|lc| lc.pointer("/metadata/annotations/internal.tenancy.kcp.io~1type").and_then(Value::as_str).map(String::from));
    annotated.unwrap_or_else(|| format!("{TYPES_CLUSTER}:root"))
}

/// A workspace type and every type it extends (`extend.with`), transitively, as
/// `(<type path>:<name>, definition)`. A type "implements" each of them for parent and child
/// limits, and inherits their initializers. Types that do not exist are left out.
async fn type_closure(global: &Global, of_type: &str) -> Result<Vec<(String, Value)>, Unavailable> {
    let mut out = Vec::new();
    let mut todo = vec![of_type.to_string()];
    let mut seen = std::collections::HashSet::new();
    while let Some(t) = todo.pop() {
        if !seen.insert(t.clone()) {
            continue;
        }
        let (path, name) = t.rsplit_once(':').unwrap_or((TYPES_CLUSTER, t.as_str()));
        let Some(def) = global.workspace_type(path, name).await? else { continue };
        if let Some(with) = def.object.pointer("/spec/extend/with").and_then(Value::as_array) {
            todo.extend(with.iter().filter_map(type_ref));
        }
        out.push((t, def.object));
    }
    Ok(out)
}

/// Names of a type and every type it extends.
async fn implemented(global: &Global, of_type: &str) -> Result<Vec<String>, Unavailable> {
    let mut names: Vec<String> = type_closure(global, of_type).await?.into_iter().map(|(t, _)| t).collect();
    if names.is_empty() {
        names.push(of_type.to_string());
    }
    Ok(names)
}

/// The initializer that binds a new workspace's default APIBindings (kcp's name).
pub const API_BINDINGS_INITIALIZER: &str = "system:apibindings";

/// Who holds a new workspace of a type at each stage of its life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    /// `<type path>:<name>` of each type (itself or extended) marked `initializer: true`, and
    /// [`API_BINDINGS_INITIALIZER`] when any of them names default APIBindings. They hold the
    /// workspace in `Initializing`.
    pub initializers: Vec<String>,
    /// `<type path>:<name>` of each type marked `terminator: true`. They hold a deleted
    /// workspace in `Terminating`, before its content goes.
    pub terminators: Vec<String>,
}

/// The initializers and terminators of a workspace type and the types it extends.
pub async fn holders_of(global: &Global, of_type: &str) -> Result<Holders, Unavailable> {
    let closure = type_closure(global, of_type).await?;
    let marked = |hook: Hook| -> Vec<String> { closure.iter().filter(|(_, def)| hook.marks(def)).map(|(t, _)| t.clone()).collect() };
    let mut initializers = marked(Hook::Initializer);
    if closure.iter().any(|(_, def)| !default_bindings_of(def).is_empty()) {
        initializers.push(API_BINDINGS_INITIALIZER.to_string());
    }
    let mut terminators = marked(Hook::Terminator);
    initializers.sort();
    terminators.sort();
    Ok(Holders { initializers, terminators })
}

/// The exports, as `(path, name)`, that every new workspace of a type (and of the types it
/// extends) binds.
pub async fn default_api_bindings(global: &Global, of_type: &str) -> Result<Vec<(String, String)>, Unavailable> {
    let mut out: Vec<(String, String)> = type_closure(global, of_type).await?.iter().flat_map(|(_, def)| default_bindings_of(def)).collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// `spec.defaultAPIBindings` of one type, as `(path, export name)`.
pub fn default_bindings_of(def: &Value) -> Vec<(String, String)> {
    let list = def.pointer("/spec/defaultAPIBindings").and_then(Value::as_array).cloned().unwrap_or_default();
    list.iter()
        .filter_map(|b| Some((b["path"].as_str().unwrap_or_default().to_string(), b["export"].as_str().filter(|e| !e.is_empty())?.to_string())))
        .collect()
}

/// `{name, path}` of a type reference, as `path:name`.
fn type_ref(v: &Value) -> Option<String> {
    let name = v["name"].as_str().filter(|n| !n.is_empty())?;
    let path = v["path"].as_str().filter(|p| !p.is_empty()).unwrap_or(TYPES_CLUSTER);
    Some(format!("{path}:{name}"))
}

/// Whether a limit (`limitAllowedParents` / `limitAllowedChildren`) admits a type that
/// implements `candidate` (the type and the types it extends).
fn allowed(limit: &Value, candidate: &[String]) -> bool {
    if limit["none"] == json!(true) {
        return false;
    }
    match limit["types"].as_array() {
        Some(types) if !types.is_empty() => types.iter().filter_map(type_ref).any(|t| candidate.contains(&t)),
        _ => true,
    }
}

/// Admission of Workspaces: system fields, owner, type defaulting and checks, shard choice.
pub struct WorkspaceAdmission {
    /// Where WorkspaceTypes, their RBAC and the Shards are read from.
    pub global: Arc<Global>,
}

impl AdmissionPlugin for WorkspaceAdmission {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let (api, req, cluster, old) = (w.api, w.req, w.cluster, w.old);
            if !w.is("tenancy.kcp.io", "Workspace") || req.info.subresource == "status" {
                return Ok(());
            }
            let name = object::meta_str(obj, "name").to_string();
            let invalid = |errs: Vec<FieldError>| ApiError::invalid("tenancy.kcp.io", "Workspace", &name, &errs);
            let masters = w.by_masters();
            if let Some(old) = old {
                let mut errs = Vec::new();
                for (field, ptr) in [("spec.type", "/spec/type"), ("spec.cluster", "/spec/cluster"), ("spec.URL", "/spec/URL")] {
                    if obj.pointer(ptr) != old.pointer(ptr) && !(masters && field != "spec.type") {
                        errs.push(FieldError::invalid(field, obj.pointer(ptr).cloned().unwrap_or(Value::Null), "field is immutable"));
                    }
                }
                // Where the workspace lives and who created it are the system's record.
                if !masters {
                    errs.extend(changed_annotations(obj, old, &[shards::SHARD_ANNOTATION, OWNER_ANNOTATION]));
                }
                return if errs.is_empty() { Ok(()) } else { Err(invalid(errs)) };
            }
            if !masters {
                let mut errs = Vec::new();
                for (field, ptr) in [("spec.cluster", "/spec/cluster"), ("spec.URL", "/spec/URL")] {
                    if obj.pointer(ptr).is_some_and(|v| !v.is_null() && v != "") {
                        errs.push(FieldError::forbidden(field, "field is set by the system"));
                    }
                }
                if !errs.is_empty() {
                    return Err(invalid(errs));
                }
                let owner = json!({"username": req.user.name, "uid": req.user.uid, "groups": req.user.groups});
                object::meta_mut(obj)
                    .entry("annotations")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .map(|a| a.insert(OWNER_ANNOTATION.into(), json!(owner.to_string())));
            }
            let parent_type = type_of(&api.store, cluster).await;
            let (parent_path, parent_name) = parent_type.rsplit_once(':').unwrap_or((TYPES_CLUSTER, parent_type.as_str()));
            let parent_def = self.global.workspace_type(parent_path, parent_name).await?.map(|d| d.object).unwrap_or(Value::Null);
            let wanted = match type_ref(&obj["spec"]["type"]) {
                Some(t) => t,
                None => type_ref(&parent_def["spec"]["defaultChildWorkspaceType"]).unwrap_or_else(|| format!("{TYPES_CLUSTER}:universal")),
            };
            let (type_path, type_name) = wanted.rsplit_once(':').unwrap_or((TYPES_CLUSTER, wanted.as_str()));
            let Some(def) = self.global.workspace_type(type_path, type_name).await? else {
                return Err(invalid(vec![FieldError::invalid("spec.type", wanted.as_str(), format!("workspace type {wanted} does not exist"))]));
            };
            if !allowed(&def.object["spec"]["limitAllowedParents"], &implemented(&self.global, &parent_type).await?) {
                return Err(invalid(vec![FieldError::invalid(
                    "spec.type",
                    wanted.as_str(),
                    format!("workspace type {wanted} is not allowed in a workspace of type {parent_type}"),
                )]));
            }
            if !allowed(&parent_def["spec"]["limitAllowedChildren"], &implemented(&self.global, &wanted).await?) {
                return Err(invalid(vec![FieldError::invalid(
                    "spec.type",
                    wanted.as_str(),
                    format!("workspace type {parent_type} does not allow children of type {wanted}"),
                )]));
            }
            if !self.global.may(api, &req.user, "use", "tenancy.kcp.io", "workspacetypes", &def).await? {
                return Err(ApiError::new(
                    Reason::Forbidden,
                    format!("workspaces.tenancy.kcp.io \"{name}\" is forbidden: User \"{}\" may not use workspace type {wanted}", req.user.name),
                ));
            }
            obj["spec"]["type"] = json!({"name": type_name, "path": type_path});
            obj["status"] = json!({"phase": "Scheduling"});
            // First phase of scheduling: the shard is chosen now and recorded with the
            // Workspace itself; the workspace controller creates the logical cluster there.
            if let Some(e) = shards::selector_error(obj) {
                return Err(invalid(vec![e]));
            }
            let annotations = object::meta_mut(obj).entry("annotations").or_insert_with(|| json!({}));
            if let Some(a) = annotations.as_object_mut() {
                a.remove(shards::SHARD_ANNOTATION);
            }
            let selector = obj.pointer("/spec/location/selector").filter(|s| !s.is_null()).cloned();
            if let Some(shard) = shards::choose(&self.global, selector.as_ref()).await? {
                object::meta_mut(obj)["annotations"][shards::SHARD_ANNOTATION] = json!(shard.name);
            }
            let mut fins = object::finalizers(obj);
            if !fins.iter().any(|f| f == WORKSPACE_FINALIZER) {
                fins.push(WORKSPACE_FINALIZER.into());
            }
            object::set_finalizers(obj, fins);
            Ok(())
        })
    }
}

/// "field is immutable" for each of `keys` whose annotation differs between `obj` and `old`.
fn changed_annotations(obj: &Value, old: &Value, keys: &[&str]) -> Vec<FieldError> {
    let get = |o: &Value, key: &str| o.pointer("/metadata/annotations").and_then(|a| a.get(key)).cloned();
    keys.iter()
        .filter(|key| get(obj, key) != get(old, key))
        .map(|key| FieldError::invalid(format!("metadata.annotations[{key}]"), get(obj, key).unwrap_or(Value::Null), "field is immutable"))
        .collect()
}

/// Admission of LogicalClusters: what the system recorded on them (path, type, owner, spec)
/// is changed by `system:masters` only; initializers remove themselves through `status`. The
/// object limit is set by kcp administrators only: a workspace's own admin may not raise it.
pub struct LogicalClusterAdmission;

/// LogicalCluster annotations only kcp administrators (and `system:masters`) may change.
const ADMIN_RESERVED: &[&str] = &[crate::object_limit::ANNOTATION];

impl AdmissionPlugin for LogicalClusterAdmission {
    fn admit<'a>(&'a self, w: Write<'a>, obj: &'a mut Value) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let Some(old) = w.old else { return Ok(()) };
            if !w.is("core.kcp.io", "LogicalCluster") {
                return Ok(());
            }
            let admin = w.by_masters() || w.req.user.groups.iter().any(|g| g == crate::bootstrap::KCP_ADMIN_GROUP);
            if let Some(key) = ADMIN_RESERVED.iter().find(|key| !admin && !changed_annotations(obj, old, &[key]).is_empty()) {
                let why = format!("modification of admin-reserved annotation: {key:?}");
                return Err(ApiError::forbidden_because("core.kcp.io", "logicalclusters", object::meta_str(obj, "name"), &why));
            }
            if w.req.info.subresource == "status" || w.by_masters() {
                return Ok(());
            }
            let mut errs = Vec::new();
            if obj.get("spec") != old.get("spec") {
                errs.push(FieldError::invalid("spec", obj.get("spec").cloned().unwrap_or(Value::Null), "field is immutable"));
            }
            errs.extend(changed_annotations(obj, old, &[PATH_ANNOTATION, TYPE_ANNOTATION, OWNER_ANNOTATION]));
            if errs.is_empty() {
                Ok(())
            } else {
                Err(ApiError::invalid("core.kcp.io", "LogicalCluster", object::meta_str(obj, "name"), &errs))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_administrators_move_a_workspaces_object_limit() {
        use apiserver::rest::client::{ObjectRef, Part};
        let f = crate::controllers::testing::Fixture::new().await;
        f.namespace("c1", "default").await;
        let lc = ObjectRef::new("core.kcp.io", "logicalclusters", "c1", "", "cluster");
        let limit = |value: &'static str| {
            move |lc: &mut Value| {
                lc["metadata"]["annotations"][crate::object_limit::ANNOTATION] = json!(value);
                true
            }
        };
        let refused = f.client("test").modify(&lc, Part::Main, None, limit("5")).await.unwrap_err();
        assert_eq!(
            refused.message,
            r#"logicalclusters.core.kcp.io "cluster" is forbidden: modification of admin-reserved annotation: "core.kcp.io/max-total-objects""#
        );
        let kcp_admin = apiserver::rest::client::SystemClient::new(f.api.clone(), "admin", &[crate::bootstrap::KCP_ADMIN_GROUP]);
        kcp_admin.modify(&lc, Part::Main, None, limit("5")).await.expect("a kcp administrator sets it");
        f.admin().modify(&lc, Part::Main, None, limit("7")).await.expect("system:masters changes it");
        let user = f.client("test");
        let labelled = user.modify(&lc, Part::Main, None, |lc| {
            lc["metadata"]["labels"] = json!({"team": "a"});
            true
        });
        labelled.await.expect("other metadata stays open");
    }

    #[test]
    fn type_limits() {
        let team = ["root:team".to_string()];
        assert!(allowed(&Value::Null, &team));
        assert!(!allowed(&json!({"none": true}), &team));
        let limit = json!({"types": [{"name": "organization", "path": "root"}, {"name": "team"}]});
        assert!(allowed(&limit, &team));
        assert!(!allowed(&limit, &["root:root".to_string()]));
        // A type extending an allowed one is allowed too.
        assert!(allowed(&json!({"types": [{"name": "universal"}]}), &["root:custom".to_string(), "root:universal".to_string()]));
    }
}
