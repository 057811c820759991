//! `apis.kcp.io`: the kinds through which a workspace publishes APIs (APIResourceSchema,
//! APIExport, APIExportEndpointSlice) and another binds them (APIBinding).
//!
//! APIExport and APIBinding are served at v1alpha1 and v1alpha2 and stored at v1alpha2; what
//! only one version can say survives the other in annotations, as kcp's conversion keeps it
//! ([`claims`] for the permission claims both kinds carry). The rules below are the ones several
//! of these kinds share.

pub mod apibinding;
pub mod apiexport;
pub mod apiexportendpointslice;
pub mod apiresourceschema;
mod claims;
#[cfg(test)]
mod tests;

pub use apibinding::APIBinding;
pub use apiexport::APIExport;
pub use apiexportendpointslice::APIExportEndpointSlice;
pub use apiresourceschema::APIResourceSchema;

use serde_json::{json, Value};

use crate::patch::{KindLists, ListRule, ListType};
use crate::registry::strategy::{ConversionError, Strategy};
use crate::status::FieldError;
use crate::table::cell::crd_column;
use crate::table::Column;

/// The group of kcp's API publishing kinds.
pub const GROUP: &str = "apis.kcp.io";

/// The version APIExports and APIBindings are stored at.
pub const STORED: &str = "v1alpha2";

/// The older version both are still served at.
pub const V1ALPHA1: &str = "v1alpha1";

/// The category `kubectl get kcp` lists.
const CATEGORIES: &[&str] = &["kcp"];

/// The `Age` printer column every kind of the group has.
fn age_column() -> Column {
    crd_column("Age", "date", "", ".metadata.creationTimestamp")
}

/// A `<group>/<version>` string for this group.
fn api_version(version: &str) -> String {
    format!("{GROUP}/{version}")
}

/// The version an object's `apiVersion` names.
fn version_of(obj: &Value) -> &str {
    obj["apiVersion"].as_str().and_then(|v| v.strip_prefix(GROUP)).and_then(|v| v.strip_prefix('/')).unwrap_or(STORED)
}

/// Converts between the two served versions with `down` (v1alpha2 → v1alpha1) and `up`.
fn convert_with(
    mut obj: Value,
    to: &str,
    down: fn(&mut Value) -> Result<(), ConversionError>,
    up: fn(&mut Value) -> Result<(), ConversionError>,
) -> Result<Value, ConversionError> {
    let from = version_of(&obj).to_string();
    match (from.as_str(), to) {
        (f, t) if f == t => {}
        (STORED, V1ALPHA1) => down(&mut obj)?,
        (V1ALPHA1, STORED) => up(&mut obj)?,
        _ => return Err(ConversionError { version: to.into(), field: "apiVersion".into(), reason: format!("unknown version {from:?}") }),
    }
    obj["apiVersion"] = json!(api_version(to));
    Ok(obj)
}

/// Errors for what one of the served versions could not convert: stored, such an object (a
/// malformed conversion annotation, a schema name without three segments) would fail every
/// later read at that version.
fn convertible(strategy: &dyn Strategy, obj: &Value) -> Vec<FieldError> {
    [STORED, V1ALPHA1].iter().filter_map(|v| strategy.convert(obj.clone(), v).err()).map(|e| FieldError::invalid(e.field, "", e.reason)).collect()
}

/// kcp's pattern for workspace paths in export references.
fn is_workspace_path(path: &str) -> bool {
    path.split(':').all(|seg| {
        let b = seg.as_bytes();
        !b.is_empty() && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-') && b[0] != b'-' && b[b.len() - 1] != b'-'
    })
}

/// `reference` must name an export (`name`, and a well-formed `path` when given).
fn export_reference(reference: Option<&Value>, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(reference) = reference.filter(|r| r.is_object()) else {
        errs.push(FieldError::required(field, ""));
        return errs;
    };
    if reference["name"].as_str().unwrap_or_default().is_empty() {
        errs.push(FieldError::required(format!("{field}.name"), ""));
    }
    match reference.get("path") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if p.is_empty() || is_workspace_path(p) => {}
        Some(other) => errs.push(FieldError::invalid(format!("{field}.path"), other.clone(), "must be a workspace path like root:org:ws")),
    }
    errs
}

/// The CEL rule `self == oldSelf` of kcp's CRDs on the field at `pointer`.
fn unchanged(obj: &Value, old: Option<&Value>, pointer: &str, message: &str) -> Option<FieldError> {
    let old = old?;
    (obj.pointer(pointer) != old.pointer(pointer)).then(|| FieldError::invalid(pointer.trim_start_matches('/').replace('/', "."), "object", message))
}

/// kcp's pattern for an API group: empty (core) or a DNS subdomain.
fn check_group(group: &str, field: String) -> Option<FieldError> {
    (!group.is_empty() && !crate::validation::is_dns1123_subdomain(group).is_empty())
        .then(|| FieldError::invalid(field, group, "must be empty or a DNS subdomain"))
}

/// kcp's pattern for a resource name, which is required.
fn check_resource(resource: &str, field: String) -> Option<FieldError> {
    if resource.is_empty() {
        Some(FieldError::required(field, ""))
    } else {
        (!is_resource_name(resource)).then(|| FieldError::invalid(field, resource, "must match ^[a-z][-a-z0-9]*[a-z0-9]$"))
    }
}

/// The group and resource of a permission claim.
fn claim_group_resource(claim: &Value, field: &str) -> Vec<FieldError> {
    let group = check_group(claim["group"].as_str().unwrap_or_default(), format!("{field}.group"));
    group.into_iter().chain(check_resource(claim["resource"].as_str().unwrap_or_default(), format!("{field}.resource"))).collect()
}

/// Status is the controllers' to write: a new object starts without one, as kcp's CRDs do.
/// Returns no errors, so it can be a strategy's whole `prepare`.
fn drop_status_on_create(obj: &mut Value, old: Option<&Value>) -> Vec<FieldError> {
    if let (None, Some(m)) = (old, obj.as_object_mut()) {
        m.remove("status");
    }
    Vec::new()
}

/// kcp lists conditions as a map keyed by `type`.
const CONDITION_LISTS: KindLists<'static> = &[("status.conditions", ListRule { smp: ListType::Map("type"), ssa: ListType::Map("type") })];

/// `^[a-z][-a-z0-9]*[a-z0-9]$`, kcp's pattern for resource names.
fn is_resource_name(r: &str) -> bool {
    let b = r.as_bytes();
    b.len() >= 2 && b[0].is_ascii_lowercase() && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-') && b[b.len() - 1] != b'-'
}

/// The entries of the array at `pointer`, or none.
fn items<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}
