//! What a pass of the binding controller found, and how the binding's status says it, in
//! kcp's conditions and reasons.

use serde_json::{json, Value};

use crate::controllers::set_condition;

/// Condition: the referenced export exists and has an identity.
pub const API_EXPORT_VALID: &str = "APIExportValid";
/// Condition: the export's resources were bound once; it stays true afterwards.
pub const INITIAL_BINDING_COMPLETED: &str = "InitialBindingCompleted";
/// Condition: what is served matches the export now.
pub const BINDING_UP_TO_DATE: &str = "BindingUpToDate";
/// Condition: the binding's claims match claims the export makes.
pub const PERMISSION_CLAIMS_VALID: &str = "PermissionClaimsValid";
/// Condition: the accepted claims are recorded as applied.
pub const PERMISSION_CLAIMS_APPLIED: &str = "PermissionClaimsApplied";
/// Condition: the objects of a deleted binding are gone.
pub const BINDING_RESOURCE_DELETE_SUCCESS: &str = "BindingResourceDeleteSuccess";
/// Condition summarising readiness: it mirrors [`INITIAL_BINDING_COMPLETED`].
pub const READY: &str = "Ready";

/// One resource a binding serves, as `status.boundResources` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bound {
    /// API group.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// The APIResourceSchema's name.
    pub schema: String,
    /// The APIResourceSchema's UID (the bound CRD's name).
    pub uid: String,
    /// The export's identity hash.
    pub identity: String,
    /// Versions objects have been stored in.
    pub storage_versions: Vec<String>,
}

/// The result of one pass over a binding that is not being deleted.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No export at the reference (`path:name`).
    ExportNotFound(String),
    /// The export has no identity yet (`path:name`).
    MissingIdentity(String),
    /// A schema the export names does not exist.
    SchemaNotFound(String),
    /// Another binding or a CRD serves a resource of the export (message).
    NamingConflict(String),
    /// Everything is served.
    Bound {
        /// Logical cluster of the export.
        export_cluster: String,
        /// What is served.
        resources: Vec<Bound>,
        /// The export's `spec.permissionClaims`.
        export_claims: Value,
    },
}

/// Brings a binding's status in line with `outcome`; false when nothing changes.
pub fn apply(binding: &mut Value, outcome: &Outcome) -> bool {
    let before = binding["status"].clone();
    if !binding["status"].is_object() {
        binding["status"] = json!({});
    }
    let spec_claims = binding.pointer("/spec/permissionClaims").and_then(Value::as_array).cloned().unwrap_or_default();
    let status = &mut binding["status"];
    let mut conditions = status["conditions"].as_array().cloned().unwrap_or_default();
    let initially_done = conditions.iter().any(|c| c["type"] == INITIAL_BINDING_COMPLETED && c["status"] == "True");
    // Once bound, a binding keeps serving; later trouble shows in BindingUpToDate only.
    let not_bound = |conditions: &mut Vec<Value>, reason: &str, message: &str| {
        set_condition(conditions, BINDING_UP_TO_DATE, "False", reason, message);
        if !initially_done {
            set_condition(conditions, INITIAL_BINDING_COMPLETED, "False", reason, message);
        }
    };
    if status["phase"].as_str().unwrap_or_default().is_empty() {
        status["phase"] = json!("Binding");
    }
    match outcome {
        Outcome::ExportNotFound(export) => {
            set_condition(&mut conditions, API_EXPORT_VALID, "False", "APIExportNotFound", &format!("APIExport {export} not found"));
            not_bound(&mut conditions, "APIExportNotFound", &format!("APIExport {export} not found"));
        }
        Outcome::MissingIdentity(export) => {
            let message = format!("APIExport {export} is missing status.identityHash");
            set_condition(&mut conditions, API_EXPORT_VALID, "False", "MissingIdentityHash", &message);
            not_bound(&mut conditions, "MissingIdentityHash", &message);
        }
        Outcome::SchemaNotFound(schema) => {
            let message = format!("Invalid APIExport. Please contact the APIExport owner to resolve: APIResourceSchema {schema:?} not found");
            set_condition(&mut conditions, API_EXPORT_VALID, "False", "InternalError", &message);
            not_bound(&mut conditions, "InternalError", &message);
        }
        Outcome::NamingConflict(message) => {
            set_condition(&mut conditions, API_EXPORT_VALID, "True", "", "");
            not_bound(&mut conditions, "NamingConflicts", &format!("Unable to bind APIs: {message}"));
        }
        Outcome::Bound { export_cluster, resources, export_claims } => {
            set_condition(&mut conditions, API_EXPORT_VALID, "True", "", "");
            set_condition(&mut conditions, INITIAL_BINDING_COMPLETED, "True", "", "");
            set_condition(&mut conditions, BINDING_UP_TO_DATE, "True", "", "");
            status["phase"] = json!("Bound");
            status["apiExportClusterName"] = json!(export_cluster);
            status["boundResources"] = Value::Array(resources.iter().map(bound_resource).collect());
            if export_claims.as_array().is_some_and(|a| !a.is_empty()) {
                status["exportPermissionClaims"] = export_claims.clone();
            } else if let Some(s) = status.as_object_mut() {
                s.remove("exportPermissionClaims");
            }
            let (applied, invalid) = judge_claims(&spec_claims, export_claims);
            match invalid.is_empty() {
                true => set_condition(&mut conditions, PERMISSION_CLAIMS_VALID, "True", "", ""),
                false => set_condition(
                    &mut conditions,
                    PERMISSION_CLAIMS_VALID,
                    "False",
                    "InvalidPermissionClaims",
                    &format!("Invalid permission claims: {} not claimed by the APIExport", invalid.join(", ")),
                ),
            }
            if applied.is_empty() {
                if let Some(s) = status.as_object_mut() {
                    s.remove("appliedPermissionClaims");
                }
            } else {
                status["appliedPermissionClaims"] = Value::Array(applied);
            }
            set_condition(&mut conditions, PERMISSION_CLAIMS_APPLIED, "True", "", "");
        }
    }
    let done = conditions.iter().any(|c| c["type"] == INITIAL_BINDING_COMPLETED && c["status"] == "True");
    match conditions.iter().find(|c| c["type"] == INITIAL_BINDING_COMPLETED).cloned() {
        Some(c) if !done => set_condition(&mut conditions, READY, "False", c["reason"].as_str().unwrap_or_default(), c["message"].as_str().unwrap_or_default()),
        _ => set_condition(&mut conditions, READY, if done { "True" } else { "False" }, "", ""),
    }
    status["conditions"] = Value::Array(conditions);
    binding["status"] != before
}

fn bound_resource(b: &Bound) -> Value {
    json!({
        "group": b.group,
        "resource": b.resource,
        "schema": {"name": b.schema, "UID": b.uid, "identityHash": b.identity},
        "storageVersions": b.storage_versions,
    })
}

/// Splits the binding's claims: the accepted ones the export makes (applied), and the
/// `resource.group` of each answered one it does not make (invalid).
fn judge_claims(claims: &[Value], export_claims: &Value) -> (Vec<Value>, Vec<String>) {
    let offered = export_claims.as_array().cloned().unwrap_or_default();
    let same =
        |a: &Value, b: &Value| ["group", "resource", "identityHash"].iter().all(|f| a[f].as_str().unwrap_or_default() == b[f].as_str().unwrap_or_default());
    let (mut applied, mut invalid) = (Vec::new(), Vec::new());
    for claim in claims {
        if !offered.iter().any(|o| same(o, claim)) {
            invalid.push(crate::resource_locks::group_resource(claim["group"].as_str().unwrap_or_default(), claim["resource"].as_str().unwrap_or_default()));
        } else if claim["state"] == "Accepted" {
            applied.push(claim.clone());
        }
    }
    (applied, invalid)
}
