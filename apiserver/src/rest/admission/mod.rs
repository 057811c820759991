//! Admission: normalizing and validating every write, then the ordered admission plugins.
//!
//! `normalize` needs only the object (and its previous version) and asks the kind's strategy;
//! `admit` runs [`Api::plugins`], which may read other objects (the namespace, the caller's
//! RBAC). The list is one ordered list: the built-in plugins of [`plugins`] first, then the
//! binary's (the shard's tenancy plugins). Both run before anything is stored.

mod logical_cluster_name;
mod namespace_lifecycle;
mod rbac_escalation;
mod schema_in_use;

use std::sync::Arc;

use serde_json::Value;

use super::{object, AdmissionPlugin, Api, ApiRequest, Resolved};
use apimachinery::patch::PatchType;
use apimachinery::registry::ResourceInfo;
use apimachinery::request::Verb;
use apimachinery::status::{ApiError, FieldError};

pub use apimachinery::registry::core::namespace::FINALIZER as NAMESPACE_FINALIZER;

/// The admission plugins in the order they run: the built-in ones, then `extra`.
pub fn plugins(extra: Vec<Arc<dyn AdmissionPlugin>>) -> Vec<Arc<dyn AdmissionPlugin>> {
    let builtin: [Arc<dyn AdmissionPlugin>; 4] = [
        // First, so nothing is admitted into a namespace that is going away.
        Arc::new(namespace_lifecycle::NamespaceLifecycle),
        Arc::new(logical_cluster_name::LogicalClusterName),
        Arc::new(rbac_escalation::RbacEscalation),
        Arc::new(schema_in_use::SchemaInUse),
    ];
    builtin.into_iter().chain(extra).collect()
}

/// Normalizes and validates an object; returns warnings for the `Warning` header.
pub fn normalize(req: &ApiRequest, r: &Resolved, obj: &mut Value, old: Option<&Value>) -> Result<Vec<String>, ApiError> {
    let info = &r.info;
    let name = object::meta_str(obj, "name").to_string();
    if !info.custom {
        if let Some(mismatch) = apimachinery::gotypes::first_mismatch(&info.group, &info.version, &info.kind, obj) {
            return Err(undecodable(req, info, obj, &mismatch.to_string()));
        }
    }
    let builtin;
    let schema = match &info.schema {
        Some(s) => Some(s),
        None => {
            builtin = apimachinery::openapi::builtin_schema(&info.group, &info.version, &info.kind);
            builtin.as_deref()
        }
    };
    let mut warnings = Vec::new();
    if let Some(schema) = schema {
        let unknown = apimachinery::schema::prune(schema, obj);
        if !unknown.is_empty() {
            let quoted: Vec<String> = unknown.iter().map(|u| format!("unknown field {:?}", u.trim_start_matches('.'))).collect();
            match req.info.param("fieldValidation") {
                Some("Strict") => return Err(cannot_handle(info, &format!("strict decoding error: {}", quoted.join(", ")))),
                Some("Ignore") => {}
                _ => warnings.extend(quoted),
            }
        }
    }
    let mut errors: Vec<FieldError> = r.strategy.prepare(obj, old);
    errors.extend(apimachinery::validation::validate_object_meta(obj, info.namespaced, r.strategy.name_rule()));
    errors.extend(r.strategy.validate(obj, old));
    if errors.is_empty() {
        Ok(warnings)
    } else {
        Err(ApiError::invalid(&info.group, &info.kind, &name, &errors))
    }
}

/// kube-apiserver's answer to a body it cannot decode into the kind's Go type.
fn cannot_handle(info: &ResourceInfo, detail: &str) -> ApiError {
    ApiError::bad_request(format!("{kind} in version {v:?} cannot be handled as a {kind}: {detail}", kind = info.kind, v = info.version))
}

/// A built-in object Go could not decode: a 400 for a body sent whole, but a 422 on the
/// `patch` field for the result of a JSON, merge or strategic merge patch, as kube-apiserver
/// decodes the patched object only after patching.
fn undecodable(req: &ApiRequest, info: &ResourceInfo, obj: &Value, detail: &str) -> ApiError {
    let patched = req.info.verb == Verb::Patch && PatchType::from_content_type(req.header("content-type")) != Some(PatchType::Apply);
    if patched {
        ApiError::invalid("", "", "", &[FieldError::invalid("patch", obj.to_string(), detail)])
    } else {
        cannot_handle(info, detail)
    }
}

/// Runs the admission plugins' deletion checks in order on `obj` (as stored); the first
/// refusal wins.
pub async fn admit_delete(api: &Api, req: &ApiRequest, r: &Resolved, cluster: &str, obj: &Value) -> Result<(), ApiError> {
    for plugin in &api.plugins {
        plugin.admit_delete(super::Write { api, req, resource: r, cluster, old: Some(obj) }, obj).await?;
    }
    Ok(())
}

/// Runs the admission plugins in order; the first refusal wins.
pub async fn admit(api: &Api, req: &ApiRequest, r: &Resolved, cluster: &str, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    for plugin in &api.plugins {
        plugin.admit(super::Write { api, req, resource: r, cluster, old }, obj).await?;
    }
    Ok(())
}
