//! Admission: normalizing, validating and cross-object checks run on every write.
//!
//! `normalize` needs only the object (and its previous version); `admit` may read other objects
//! (the namespace, the caller's RBAC). Both run before anything is stored.

use serde_json::{json, Value};

use super::read::load;
use super::{object, str_of, Api, ApiRequest, Resolved};
use apimachinery::auth::{self, Attributes};
use apimachinery::patch::PatchType;
use apimachinery::registry::{builtin, ResourceInfo};
use apimachinery::status::{ApiError, FieldError, Reason};

/// The finalizer a namespace carries until its content is gone.
pub const NAMESPACE_FINALIZER: &str = "kubernetes";

/// Resources whose `metadata.generation` follows spec changes.
pub fn tracks_generation(info: &ResourceInfo) -> bool {
    info.custom || (info.group == "apiextensions.k8s.io" && info.kind == "CustomResourceDefinition")
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
    let mut errors: Vec<FieldError> = Vec::new();
    if !info.custom && info.group.is_empty() && info.kind == "Secret" {
        errors.extend(apimachinery::validation::normalize_secret(obj));
    }
    let schema = match &info.schema {
        Some(s) => Some(s.clone()),
        None => apimachinery::openapi::builtin_schema(&info.group, &info.version, &info.kind),
    };
    let mut warnings = Vec::new();
    if let Some(schema) = &schema {
        let unknown = apimachinery::schema::prune(schema, obj);
        if !unknown.is_empty() {
            let quoted: Vec<String> = unknown.iter().map(|u| format!("unknown field {:?}", u.trim_start_matches('.'))).collect();
            match req.info.param("fieldValidation") {
                Some("Strict") => return Err(cannot_handle(info, &format!("strict decoding error: {}", quoted.join(", ")))),
                Some("Ignore") => {}
                _ => warnings.extend(quoted),
            }
        }
        if info.custom {
            apimachinery::schema::default(schema, obj);
            errors.extend(apimachinery::schema::validate(schema, obj));
        }
    }
    let rule = apimachinery::validation::name_rule(&info.group, &info.kind);
    errors.extend(apimachinery::validation::validate_object_meta(obj, info.namespaced, rule));
    if !info.custom {
        errors.extend(apimachinery::validation::validate(&info.group, &info.kind, obj, old));
    }
    if info.group == "apiextensions.k8s.io" && info.kind == "CustomResourceDefinition" {
        errors.extend(validate_crd(obj));
    }
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
    let patched = req.info.verb == "patch" && PatchType::from_content_type(req.header("content-type")) != Some(PatchType::Apply);
    if patched {
        ApiError::invalid("", "", "", &[FieldError::invalid("patch", obj.to_string(), detail)])
    } else {
        cannot_handle(info, detail)
    }
}

/// CRD-specific rules: the name is `<plural>.<group>`, one storage version, structural schemas.
fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let group = str_of(crd, "/spec/group");
    let plural = str_of(crd, "/spec/names/plural");
    let name = object::meta_str(crd, "name");
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') {
        errs.push(FieldError::invalid("spec.group", group, "should be a domain with at least one dot"));
    } else if builtin::is_builtin_group(group) {
        errs.push(FieldError::invalid("spec.group", group, "the group is reserved for built-in resources"));
    }
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    }
    if str_of(crd, "/spec/names/kind").is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    }
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"));
    }
    match str_of(crd, "/spec/scope") {
        "Namespaced" | "Cluster" => {}
        other => errs.push(FieldError::not_supported("spec.scope", other, &["Cluster", "Namespaced"])),
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        errs.push(FieldError::invalid("spec.versions", json!([]), "must have exactly one version marked as storage version"));
    }
    let storage = versions.iter().filter(|v| v["storage"] == json!(true)).count();
    if !versions.is_empty() && storage != 1 {
        errs.push(FieldError::invalid("spec.versions", json!(versions.len()), "must have exactly one version marked as storage version"));
    }
    for (i, v) in versions.iter().enumerate() {
        if let Some(schema) = v.pointer("/schema/openAPIV3Schema") {
            errs.extend(apimachinery::schema::validate_structural(schema, &format!("spec.versions[{i}].schema.openAPIV3Schema")));
        } else {
            errs.push(FieldError::required(format!("spec.versions[{i}].schema.openAPIV3Schema"), "schemas are required"));
        }
    }
    errs
}

/// Cross-object admission: namespace lifecycle, RBAC escalation, system defaults.
pub async fn admit(api: &Api, req: &ApiRequest, r: &Resolved, cluster: &str, obj: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    let info = &r.info;
    let creating = old.is_none();
    if creating && info.namespaced {
        check_namespace(api, cluster, &req.info.namespace).await?;
    }
    match (info.group.as_str(), info.kind.as_str()) {
        ("", "Namespace") if creating => {
            obj["spec"]["finalizers"] = json!([NAMESPACE_FINALIZER]);
            obj["status"] = json!({"phase": "Active"});
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") if creating => {
            let mut fins = object::finalizers(obj);
            if !fins.iter().any(|f| f == apimachinery::registry::crd::CLEANUP_FINALIZER) {
                fins.push(apimachinery::registry::crd::CLEANUP_FINALIZER.into());
            }
            object::set_finalizers(obj, fins);
            obj["status"] = json!({"conditions": [], "acceptedNames": {"kind": "", "plural": ""}, "storedVersions": []});
        }
        ("core.kcp.io", "LogicalCluster") if object::meta_str(obj, "name") != "cluster" => {
            let name = object::meta_str(obj, "name").to_string();
            return Err(ApiError::invalid(&info.group, &info.kind, &name, &[FieldError::invalid(
                "metadata.name",
                name.as_str(),
                "the LogicalCluster of a logical cluster must be named \"cluster\"",
            )]));
        }
        ("rbac.authorization.k8s.io", kind) if !req.user.is_masters() => {
            check_escalation(api, req, cluster, kind, obj).await?;
        }
        _ => {}
    }
    for plugin in &api.plugins {
        plugin.admit(super::Write { api, req, resource: r, cluster, old }, obj).await?;
    }
    Ok(())
}

async fn check_namespace(api: &Api, cluster: &str, namespace: &str) -> Result<(), ApiError> {
    let ns = builtin::find("", "v1", "namespaces").map(|b| super::Resolved { info: b.info.clone(), backing: b.backing });
    let Some(ns) = ns else { return Ok(()) };
    let (obj, _) = load(api, &ns, cluster, "", namespace).await?;
    if object::is_deleting(&obj) {
        return Err(ApiError::new(
            Reason::Forbidden,
            format!("unable to create new content in namespace {namespace} because it is being terminated"),
        ));
    }
    Ok(())
}

/// RBAC's escalation prevention: you may only grant what you hold, unless you may `escalate`
/// (roles) or `bind` (bindings).
async fn check_escalation(api: &Api, req: &ApiRequest, cluster: &str, kind: &str, obj: &Value) -> Result<(), ApiError> {
    let ns = req.info.namespace.as_str();
    let allowed = |verb: &str, resource: &str, name: &str| Attributes {
        user: req.user.clone(),
        verb: verb.into(),
        resource_request: true,
        api_group: "rbac.authorization.k8s.io".into(),
        api_version: "v1".into(),
        resource: resource.into(),
        subresource: String::new(),
        namespace: ns.into(),
        name: name.into(),
        path: String::new(),
    };
    let requested: Vec<Value> = match kind {
        "Role" | "ClusterRole" => {
            let plural = if kind == "Role" { "roles" } else { "clusterroles" };
            if api.authz.allows(cluster, &allowed("escalate", plural, object::meta_str(obj, "name"))).await? {
                return Ok(());
            }
            obj.get("rules").and_then(Value::as_array).cloned().unwrap_or_default()
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let ref_kind = str_of(obj, "/roleRef/kind");
            let ref_name = str_of(obj, "/roleRef/name");
            let plural = if ref_kind == "Role" { "roles" } else { "clusterroles" };
            if api.authz.allows(cluster, &allowed("bind", plural, ref_name)).await? {
                return Ok(());
            }
            api.authz.role_rules(cluster, ns, &obj["roleRef"]).await?
        }
        _ => return Ok(()),
    };
    let held = api.authz.rules_for(cluster, &req.user, ns).await?;
    match auth::covers(&held, &requested) {
        Ok(()) => Ok(()),
        Err(missing) => {
            let name = object::meta_str(obj, "name");
            let plural = format!("{}s", kind.to_ascii_lowercase());
            Err(ApiError::new(
                Reason::Forbidden,
                format!(
                    "{plural}.rbac.authorization.k8s.io \"{name}\" is forbidden: {}",
                    auth::escalation_message(&req.user, &missing)
                ),
            ))
        }
    }
}
