//! create, update and patch: the one write path every stored resource goes through.

use serde_json::{json, Value};

use super::body::Response;
use super::load::load;
use super::render::respond_object;
use super::{admission, body, cluster_of, decode, dry_run, encoded, object, Api, ApiRequest, Resolved};
use apimachinery::field;
use apimachinery::patch::{self, PatchType};
use apimachinery::status::{ApiError, Reason};

/// How many times a patch without a resourceVersion precondition is retried on a conflict.
const PATCH_RETRIES: usize = 5;

/// POST: creates an object.
pub async fn create(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let mut obj = decode::body_value(req)?;
    decode::default_type(&mut obj, &r.info);
    Ok(respond_created(req, r, create_object(api, req, r, obj, Fields::Track).await?))
}

/// The 201 answer to a create. As JSON, it is the bytes just stored with the resourceVersion
/// added, which spares printing the object a second time.
fn respond_created(req: &ApiRequest, r: &Resolved, created: Created) -> Response {
    let Created { object, warnings, stored } = created;
    if let (Some((stored, revision)), None, false) = (&stored, &r.converted_from, body::wants_table(req.header("accept"))) {
        let mut out = Vec::with_capacity(stored.len() + 32);
        if encoded::write_served(stored, &encoded::Served { revision: *revision, cluster: None, api_version: None }, &mut out).is_ok() {
            return with_warnings(body::json_bytes(201, out, "application/json"), &warnings);
        }
    }
    with_warnings(respond_object(req, r, 201, object), &warnings)
}

/// A new object as created: what is served, and what was stored.
pub(crate) struct Created {
    /// The object with its resourceVersion.
    pub object: Value,
    /// Warnings for the client (unknown fields dropped).
    pub warnings: Vec<String>,
    /// The bytes stored (the object's JSON without resourceVersion) and their revision; none
    /// on a dry run.
    stored: Option<(bytes::Bytes, u64)>,
}

/// Who maintains `metadata.managedFields` on a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fields {
    /// A non-apply write: record an `Update` entry for the field manager.
    Track,
    /// A controller's write: an `Update` entry only on an object that already records
    /// ownership. Objects that only the system has written (a workspace's LogicalCluster, its
    /// `default` namespace) carry none, which keeps every workspace's stored objects compact.
    System,
    /// Server-side apply already computed them.
    Applied,
}

impl Fields {
    /// Whether this write records an `Update` entry over `old` (None for a create).
    fn tracks(self, old: Option<&Value>) -> bool {
        match self {
            Fields::Track => true,
            Fields::System => old.and_then(patch::managed_fields).and_then(Value::as_array).is_some_and(|m| !m.is_empty()),
            Fields::Applied => false,
        }
    }
}

/// Prepares, admits and stores a new object; returns it with its resourceVersion.
pub(crate) async fn create_object(api: &Api, req: &ApiRequest, r: &Resolved, mut obj: Value, fields: Fields) -> Result<Created, ApiError> {
    let cluster = cluster_of(req)?;
    let ns = req.info.namespace.as_str();
    decode::check_object(&obj, r, ns, "")?;
    let dry = dry_run(req)?;
    let mut generated = None;
    {
        let meta = object::meta_mut(&mut obj);
        if r.info.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        let name = meta.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let generate = meta.get("generateName").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() && !generate.is_empty() {
            meta.insert("name".into(), json!(object::generate_name(&generate)));
            generated = Some(generate);
        }
        meta.insert("uid".into(), json!(apimachinery::uid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
        if fields != Fields::Applied {
            meta.remove("managedFields");
        }
        for k in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            meta.remove(k);
        }
        if r.strategy.tracks_generation() {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
    }
    if r.info.subresources.iter().any(|s| s == "status") && r.info.custom {
        if let Some(m) = obj.as_object_mut() {
            m.remove("status");
        }
    }
    let name = object::meta_str(&obj, "name").to_string();
    if name.is_empty() {
        return Err(ApiError::invalid(
            &r.info.group,
            &r.info.kind,
            "",
            &[apimachinery::status::FieldError::required("metadata.name", "name or generateName is required")],
        ));
    }
    let warnings = admission::normalize(req, r, &mut obj, None)?;
    r.strategy.initialize(&mut obj);
    admission::admit(api, req, r, cluster, &mut obj, None).await?;
    if fields.tracks(None) {
        apimachinery::patch::track_update(None, &mut obj, field_manager(req), &object::now_rfc3339(), r.strategy.lists());
    }
    if dry {
        return Ok(Created { object: obj, warnings, stored: None });
    }
    let mut attempts = 1;
    let (stored, rev) = loop {
        let key = r.key(cluster, ns, object::meta_str(&obj, "name"));
        let stored = r.to_stored(&obj)?;
        match api.store.create(&key, stored.clone()).await.map_err(ApiError::from) {
            Ok(rev) => break (stored, rev),
            Err(refused) => match another_name(&refused, generated.as_deref(), attempts) {
                Some(name) => {
                    attempts += 1;
                    object::meta_mut(&mut obj).insert("name".into(), json!(name));
                }
                None => return Err(refused),
            },
        }
    };
    object::meta_mut(&mut obj).insert("resourceVersion".into(), json!(rev.to_string()));
    Ok(Created { object: obj, warnings, stored: Some((stored, rev)) })
}

/// How many generated names a create tries, as kube-apiserver does.
const GENERATED_NAME_ATTEMPTS: u32 = 8;

/// The name a create refused with `refused` after `attempts` tries goes on with, if any. A name
/// generated from `generated` that is taken is the server's doing, not the caller's, so like
/// kube-apiserver it picks another, up to [`GENERATED_NAME_ATTEMPTS`] names in all, before
/// answering 409.
fn another_name(refused: &ApiError, generated: Option<&str>, attempts: u32) -> Option<String> {
    let prefix = generated.filter(|_| refused.reason == Reason::AlreadyExists && attempts < GENERATED_NAME_ATTEMPTS)?;
    Some(object::generate_name(prefix))
}

/// The field manager of a write: the `fieldManager` parameter or one derived from the user agent.
fn field_manager(req: &ApiRequest) -> &str {
    match req.info.param("fieldManager") {
        Some(m) if !m.is_empty() => m,
        _ => {
            let ua = req.header("user-agent");
            let prefix = ua.split('/').next().unwrap_or_default();
            if prefix.is_empty() {
                "unknown"
            } else {
                prefix
            }
        }
    }
}

/// PUT: replaces an object (or its status).
pub async fn update(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let cluster = cluster_of(req)?;
    let mut new = decode::body_value(req)?;
    decode::default_type(&mut new, &r.info);
    decode::check_object(&new, r, &req.info.namespace, &req.info.name)?;
    let expect = object::resource_version(&new)?;
    let (old, old_rv) = load(api, r, cluster, &req.info.namespace, &req.info.name).await?;
    keep_unwritable(&req.info.subresource, r, &old, &mut new);
    let (obj, warnings) = commit_update(api, req, r, old, old_rv, new, expect, Fields::Track).await?;
    Ok(with_warnings(respond_object(req, r, 200, obj), &warnings))
}

/// Keeps what a write to `subresource` may not change as `old` has it: the status subresource
/// changes status only, the main resource everything but status (where the kind has a status
/// subresource).
pub(crate) fn keep_unwritable(subresource: &str, r: &Resolved, old: &Value, new: &mut Value) {
    if subresource == "status" {
        let status = new.get("status").cloned();
        *new = old.clone();
        match (new.as_object_mut(), status) {
            (Some(m), Some(s)) => {
                m.insert("status".into(), s);
            }
            (Some(m), None) => {
                m.remove("status");
            }
            _ => {}
        }
    } else if r.info.subresources.iter().any(|s| s == "status") {
        let status = old.get("status").cloned();
        if let Some(m) = new.as_object_mut() {
            match status {
                Some(s) => m.insert("status".into(), s),
                None => m.remove("status"),
            };
        }
    }
}

/// Applies the update rules to `new` against `old` and stores it; the caller has already kept
/// what the request may not change ([`keep_unwritable`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn commit_update(
    api: &Api,
    req: &ApiRequest,
    r: &Resolved,
    old: Value,
    old_rv: u64,
    mut new: Value,
    expect: Option<u64>,
    fields: Fields,
) -> Result<(Value, Vec<String>), ApiError> {
    let cluster = cluster_of(req)?;
    let name = req.info.name.clone();
    if let Some(e) = expect {
        if e != old_rv {
            return Err(ApiError::conflict(&r.info.group, &r.info.plural, &name));
        }
    }
    object::preserve_system_meta(&mut new, &old);
    {
        let meta = object::meta_mut(&mut new);
        meta.insert("name".into(), json!(name));
        if r.info.namespaced {
            meta.insert("namespace".into(), json!(req.info.namespace));
        }
        if fields != Fields::Applied {
            meta.remove("managedFields");
            if let Some(mf) = patch::managed_fields(&old) {
                meta.insert("managedFields".into(), mf.clone());
            }
        }
    }
    if object::is_deleting(&old) {
        let before = object::finalizers(&old);
        if object::finalizers(&new).iter().any(|f| !before.contains(f)) {
            return Err(ApiError::invalid(
                &r.info.group,
                &r.info.kind,
                &name,
                &[apimachinery::status::FieldError::forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted")],
            ));
        }
    }
    if r.strategy.tracks_generation() && object::spec_part(&new) != object::spec_part(&old) {
        let g = field::at(&old, &["metadata", "generation"]).and_then(Value::as_i64).unwrap_or(0);
        object::meta_mut(&mut new).insert("generation".into(), json!(g + 1));
    }
    let warnings = admission::normalize(req, r, &mut new, Some(&old))?;
    if let Some(guard) = &req.guard {
        guard(&old, &new)?;
    }
    admission::admit(api, req, r, cluster, &mut new, Some(&old)).await?;
    if fields.tracks(Some(&old)) {
        apimachinery::patch::track_update(Some(&old), &mut new, field_manager(req), &object::now_rfc3339(), r.strategy.lists());
    }
    let mut old_cmp = old.clone();
    object::meta_mut(&mut old_cmp).insert("resourceVersion".into(), json!(old_rv.to_string()));
    object::meta_mut(&mut new).insert("resourceVersion".into(), json!(old_rv.to_string()));
    if new == old_cmp || dry_run(req)? {
        return Ok((new, warnings));
    }
    let key = r.key(cluster, &req.info.namespace, &name);
    if object::finalized(&new) {
        let gone = api.store.delete(&key, Some(old_rv)).await?;
        object::meta_mut(&mut new).insert("resourceVersion".into(), json!(gone.revision.to_string()));
        return Ok((new, warnings));
    }
    let rev = api.store.update(&key, old_rv, r.to_stored(&new)?).await?;
    object::meta_mut(&mut new).insert("resourceVersion".into(), json!(rev.to_string()));
    Ok((new, warnings))
}

/// PATCH: JSON patch, merge patch, strategic merge patch (built-ins) or server-side apply.
pub async fn patch(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let cluster = cluster_of(req)?;
    let ct = req.header("content-type");
    let media = ct.split(';').next().unwrap_or_default().trim();
    let kind = PatchType::from_content_type(media).ok_or_else(|| unsupported_patch(media))?;
    if kind == PatchType::Strategic && !r.strategy.strategic_merge() {
        return Err(unsupported_patch(media));
    }
    let body = match kind {
        PatchType::Apply => decode::yaml(&req.body)?,
        _ => decode::json(&req.body)?,
    };
    let force = req.info.flag("force");
    if kind != PatchType::Apply && req.info.param("force").is_some() {
        return Err(ApiError::bad_request("force is only allowed for apply patches"));
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let loaded = load(api, r, cluster, &req.info.namespace, &req.info.name).await;
        let (old, old_rv) = match loaded {
            Ok(found) => found,
            Err(e) if e.reason == Reason::NotFound && kind == PatchType::Apply && req.info.subresource.is_empty() => {
                decode::check_object(&body, r, &req.info.namespace, &req.info.name)?;
                let manager = req.info.param("fieldManager").unwrap_or_default();
                if manager.is_empty() {
                    return Err(ApiError::bad_request("PATCH with apply requires a fieldManager"));
                }
                let applied = patch::apply(None, &body, manager, force, &object::now_rfc3339(), r.strategy.lists()).map_err(ApiError::from)?;
                return Ok(respond_created(req, r, create_object(api, req, r, applied, Fields::Applied).await?));
            }
            Err(e) => return Err(e),
        };
        let mut new = match kind {
            PatchType::Json => patch::json_patch(&old, &body)?,
            PatchType::Merge => patch::merge_patch(&old, &body),
            PatchType::Strategic => patch::strategic_merge_patch(&old, &body, r.strategy.lists())?,
            PatchType::Apply => {
                decode::check_object(&body, r, &req.info.namespace, &req.info.name)?;
                let manager = req.info.param("fieldManager").unwrap_or_default();
                if manager.is_empty() {
                    return Err(ApiError::bad_request("PATCH with apply requires a fieldManager"));
                }
                patch::apply(Some(&old), &body, manager, force, &object::now_rfc3339(), r.strategy.lists()).map_err(ApiError::from)?
            }
        };
        // A resourceVersion inside a merge-style patch is a precondition, as in kube.
        let expect = match kind {
            PatchType::Apply | PatchType::Json => None,
            _ => field::at(&body, &["metadata", "resourceVersion"]).and_then(Value::as_str).and_then(|s| s.parse().ok()),
        };
        let fields = if kind == PatchType::Apply { Fields::Applied } else { Fields::Track };
        keep_unwritable(&req.info.subresource, r, &old, &mut new);
        match commit_update(api, req, r, old, old_rv, new, expect, fields).await {
            Err(e) if e.reason == Reason::Conflict && expect.is_none() && attempt < PATCH_RETRIES => continue,
            Err(e) => return Err(e),
            Ok((obj, warnings)) => return Ok(with_warnings(respond_object(req, r, 200, obj), &warnings)),
        }
    }
}

fn unsupported_patch(media: &str) -> ApiError {
    ApiError::new(
        Reason::UnsupportedMediaType,
        format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {media:?})"),
    )
}

/// Adds `Warning: 299` headers, as kube-apiserver does for non-fatal problems.
pub fn with_warnings(mut resp: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - {:?}", w);
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            resp.headers_mut().append("warning", v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageError;

    fn already_exists() -> ApiError {
        StorageError::AlreadyExists { key: "core/configmaps/c/ns/web-aaaaa".into() }.into()
    }

    #[test]
    fn a_taken_generated_name_is_replaced_by_another_seven_times() {
        let names: Vec<String> =
            (1..GENERATED_NAME_ATTEMPTS).map(|attempts| another_name(&already_exists(), Some("web-"), attempts).expect("another name")).collect();
        for name in &names {
            assert!(name.starts_with("web-") && name.len() == "web-".len() + 5, "{name}");
        }
        assert!(names.windows(2).any(|w| w[0] != w[1]), "new names each time: {names:?}");
        assert_eq!(another_name(&already_exists(), Some("web-"), GENERATED_NAME_ATTEMPTS), None, "then the 409 stands");
    }

    #[test]
    fn a_chosen_name_or_another_refusal_is_final() {
        assert_eq!(another_name(&already_exists(), None, 1), None, "a name the caller chose is the caller's conflict");
        let down = ApiError::new(Reason::ServiceUnavailable, "storage is down");
        assert_eq!(another_name(&down, Some("web-"), 1), None);
    }
}
