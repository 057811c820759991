//! APIExport identity and default endpoint slice, as kcp's apiexport controller: every export
//! gets a secret whose key identifies it (its sha256 is `status.identityHash`, the key under
//! which bound resources are stored), and an APIExportEndpointSlice of its name unless
//! annotated not to.

use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use base64::Engine;
use serde_json::{json, Value};

use super::{ensure, set_condition, update_from, Error, Part};
use crate::bootstrap;

#[cfg(test)]
mod tests;

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "apiexport";

/// Namespace of generated identity secrets.
pub const IDENTITY_NAMESPACE: &str = "kcp-system";

/// Key of the identity secret's data holding the identity.
pub const IDENTITY_KEY: &str = "key";

/// Annotation on an export that wants no default endpoint slice.
pub const SKIP_ENDPOINT_SLICE_ANNOTATION: &str = "apiexports.apis.kcp.io/skip-endpointslice";

/// Condition saying whether the identity secret exists and matches the identity hash.
pub const IDENTITY_VALID: &str = "IdentityValid";

/// Condition saying whether the virtual workspace URLs are known.
pub const VIRTUAL_WORKSPACE_URLS_READY: &str = "VirtualWorkspaceURLsReady";

/// kcp's reason for an identity that could not be verified.
pub const IDENTITY_VERIFICATION_FAILED: &str = "IdentityVerificationFailed";

/// kcp's reason for an identity secret that could not be created.
pub const IDENTITY_GENERATION_FAILED: &str = "IdentityGenerationFailed";

/// Why an export has no valid identity: a condition reason and message.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    reason: &'static str,
    message: String,
}

impl Failure {
    /// A secret that is missing, incomplete or no longer matches.
    fn verification(message: String) -> Failure {
        Failure { reason: IDENTITY_VERIFICATION_FAILED, message }
    }
}

/// How long an export whose secret is missing waits before looking again; secrets of another
/// name than the export's are not watched.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

const GROUP: &str = "apis.kcp.io";

/// Generates identities, verifies them and creates default endpoint slices.
pub struct ApiExports {
    /// Writes secrets, exports and slices as the controller.
    pub client: SystemClient,
}

/// The controller, fed by every APIExport of the shard and by secrets named like one.
pub fn controller(reconciler: ApiExports, informers: &Informers) -> Controller<ApiExports> {
    let exports = apiserver::storage::key::resource_prefix(GROUP, "apiexports");
    let secrets = apiserver::storage::key::resource_prefix("", "secrets");
    Controller::new(NAME, reconciler).workers(2).watches(informers, exports, super::own_key).watches(informers, secrets, secret_export)
}

/// The export a generated identity secret belongs to: one of its name in its cluster. Exports
/// sharing another secret find it again after [`RECHECK`].
fn secret_export(change: &Change) -> Option<ObjectRef> {
    let r = ObjectRef::from_key(change.key())?;
    (r.namespace == IDENTITY_NAMESPACE).then(|| export_ref(&r.cluster, &r.name))
}

fn export_ref(cluster: &str, name: &str) -> ObjectRef {
    ObjectRef::new(GROUP, "apiexports", cluster, "", name)
}

impl Reconcile for ApiExports {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        // System clusters hold kcp's own exports, whose identities are set up with them.
        if r.cluster.starts_with("system:") {
            return Ok(Action::Done);
        }
        let Some(export) = self.client.get(r).await? else { return Ok(Action::Done) };
        if object::is_deleting(&export) {
            return Ok(Action::Done);
        }
        if export.pointer("/metadata/annotations").and_then(|a| a.get(SKIP_ENDPOINT_SLICE_ANNOTATION)).is_none() {
            self.ensure_endpoint_slice(r).await?;
        }
        let Some(secret) = export.pointer("/spec/identity/secretRef").filter(|s| s.is_object()) else {
            return match self.generate_identity(r).await {
                // The export's update queues it again, now with its reference.
                Ok(()) => Ok(Action::Done),
                Err(e) => {
                    let failed = Err(Failure { reason: IDENTITY_GENERATION_FAILED, message: e.to_string() });
                    update_from(&self.client, r, Part::Status, Some(export), |obj| set_status(obj, &failed)).await?;
                    Err(e)
                }
            };
        };
        let (ns, name) = (str_at(secret, "/namespace"), str_at(secret, "/name"));
        let identity = self.identity_hash(&r.cluster, ns, name).await?;
        let valid = identity.is_ok();
        update_from(&self.client, r, Part::Status, Some(export), |obj| set_status(obj, &identity)).await?;
        Ok(if valid { Action::Done } else { Action::RequeueAfter(RECHECK) })
    }
}

impl ApiExports {
    /// Creates the export's identity secret (and its namespace) and points the export at it.
    async fn generate_identity(&self, r: &ObjectRef) -> Result<(), Error> {
        let ns = bootstrap::new_object("v1", "Namespace", IDENTITY_NAMESPACE, "", json!({}));
        ensure(&self.client, &ObjectRef::new("", "namespaces", &r.cluster, "", IDENTITY_NAMESPACE), ns).await?;
        let key = base64::engine::general_purpose::STANDARD.encode(random_key()?);
        let secret = bootstrap::new_object("v1", "Secret", &r.name, IDENTITY_NAMESPACE, json!({"type": "Opaque", "data": {IDENTITY_KEY: key}}));
        // A secret already there (an earlier pass that failed later) is the identity.
        ensure(&self.client, &ObjectRef::new("", "secrets", &r.cluster, IDENTITY_NAMESPACE, &r.name), secret).await?;
        update_from(&self.client, r, Part::Main, None, |obj| {
            if obj.pointer("/spec/identity/secretRef").is_some_and(Value::is_object) {
                return false;
            }
            obj["spec"]["identity"] = json!({"secretRef": {"namespace": IDENTITY_NAMESPACE, "name": r.name}});
            true
        })
        .await?;
        Ok(())
    }

    /// The identity hash of secret `ns/name`, or why there is none.
    async fn identity_hash(&self, cluster: &str, ns: &str, name: &str) -> Result<Result<String, Failure>, Error> {
        let Some(secret) = self.client.get(&ObjectRef::new("", "secrets", cluster, ns, name)).await? else {
            return Ok(Err(Failure::verification(format!("identity secret {ns}/{name} not found"))));
        };
        let Some(key) = secret.pointer("/data/key").and_then(Value::as_str) else {
            return Ok(Err(Failure::verification(format!("identity secret {ns}/{name} has no {IDENTITY_KEY:?} in its data"))));
        };
        Ok(match base64::engine::general_purpose::STANDARD.decode(key) {
            Ok(bytes) => Ok(sha256_hex(&bytes)),
            Err(e) => Err(Failure::verification(format!("identity secret {ns}/{name} has an undecodable {IDENTITY_KEY:?}: {e}"))),
        })
    }

    /// Creates the export's endpoint slice unless one of its name exists (a user's stays as is).
    async fn ensure_endpoint_slice(&self, r: &ObjectRef) -> Result<(), Error> {
        let path = crate::tenancy::path_of(&self.client.api().store, &r.cluster).await;
        let slice = json!({
            "apiVersion": "apis.kcp.io/v1alpha1",
            "kind": "APIExportEndpointSlice",
            "metadata": {"name": r.name},
            "spec": {"export": {"path": path, "name": r.name}},
        });
        ensure(&self.client, &ObjectRef::new(GROUP, "apiexportendpointslices", &r.cluster, "", &r.name), slice).await?;
        Ok(())
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// 256 random bits from the system's generator.
fn random_key() -> Result<[u8; 32], Error> {
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).map_err(|_| Error::Random)?;
    Ok(key)
}

/// Lowercase hex sha256, kcp's identity hash.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Brings status in line with the identity (its hash, or why there is none); false when
/// nothing changes. A hash once recorded is kept, as kcp does: a secret whose key changed is
/// a failed verification, not a new identity.
fn set_status(obj: &mut Value, identity: &Result<String, Failure>) -> bool {
    let before = obj["status"].clone();
    let recorded = str_at(obj, "/status/identityHash").to_string();
    let verified = match identity {
        Ok(hash) if recorded.is_empty() || recorded == *hash => {
            obj["status"]["identityHash"] = json!(hash);
            Ok(())
        }
        Ok(hash) => Err(Failure::verification(format!("hash mismatch: identity secret hash {hash:?} must match status.identityHash {recorded:?}"))),
        Err(failure) => Err(failure.clone()),
    };
    let mut conditions = obj.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    match verified {
        Ok(()) => set_condition(&mut conditions, IDENTITY_VALID, "True", "", ""),
        Err(f) => set_condition(&mut conditions, IDENTITY_VALID, "False", f.reason, &f.message),
    }
    // Virtual workspaces are reached through endpoint slices, so there are no URLs to wait for.
    set_condition(&mut conditions, VIRTUAL_WORKSPACE_URLS_READY, "True", "", "");
    obj["status"]["conditions"] = Value::Array(conditions);
    obj["status"] != before
}
