//! Claimed resources in an export's view: resources of consumers that the export claims and a
//! consumer's binding accepted, built-in ones (ConfigMaps, Secrets, ...) and those another
//! export serves (named by its identity hash). Only objects the claim covers are seen (they
//! carry the export's claim label, which admission and the labeller keep in step with the
//! claim's selector), and only with the verbs both the export and the binding grant; a
//! resource of another export also needs what that export's maximal permission policy allows
//! the caller. A consumer that rejects the claim drops out: its objects lose the label and
//! leave a watch as DELETED.

use std::sync::Arc;

use apimachinery::auth::{Attributes, UserInfo};
use apimachinery::registry::crd::{CrdIndex, ExportRef};
use apimachinery::registry::ResourceInfo;
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use apimachinery::status::ApiError;
use apiserver::rest::{Api, Visible};
use apiserver::server::access::attributes;
use apiserver::server::phase::Req;
use futures::future::BoxFuture;
use serde_json::Value;

/// One resource an export claims: a built-in (empty identity) or another export's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// API group.
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Identity hash of the export serving it; empty for built-ins.
    pub identity: String,
}

/// What consumers granted an export through accepted permission claims; the shard implements
/// it from the export and its claim index.
pub trait Claims: Send + Sync {
    /// The resources `export` claims.
    fn claimed<'a>(&'a self, export: &'a ExportRef) -> BoxFuture<'a, Result<Vec<Claimed>, ApiError>>;
    /// Whether `consumer` accepted `export`'s claim on `claimed` for `verb` (the binding and
    /// the export both granting it).
    fn grants(&self, consumer: &str, export: &ExportRef, claimed: &Claimed, verb: &str) -> bool;
    /// Whether an object (as served) is covered by `export`'s claim on `claimed`.
    fn covers(&self, export: &ExportRef, claimed: &Claimed, obj: &Value) -> bool;
    /// Whether the maximal permission policy of the export serving `claimed` (none for
    /// built-ins) allows the caller's request `attrs`.
    fn permitted<'a>(&'a self, claimed: &'a Claimed, attrs: &'a Attributes) -> BoxFuture<'a, Result<bool, ApiError>>;
}

/// Each claimed resource this shard can describe, with its resource info (one per version):
/// built-ins always, another export's resources where a binding on this shard serves them.
pub fn infos(crds: &CrdIndex, claimed: &[Claimed]) -> Vec<(Claimed, ResourceInfo)> {
    claimed
        .iter()
        .flat_map(|c| {
            let infos: Vec<ResourceInfo> = match c.identity.as_str() {
                "" => apimachinery::registry::builtin::builtins()
                    .iter()
                    .filter(|b| b.info.group == c.group && b.info.plural == c.resource)
                    .map(|b| b.info.clone())
                    .collect(),
                identity => crds.with_identity(&c.group, &c.resource, identity).map(|(_, infos)| infos).unwrap_or_default(),
            };
            infos.into_iter().map(move |info| (c.clone(), info))
        })
        .collect()
}

/// Serves a request on `claimed` (described by `resource`) in `export`'s view.
pub async fn serve(
    api: &Api,
    claims: Arc<dyn Claims>,
    req: &mut Req,
    user: UserInfo,
    export: ExportRef,
    mut info: RequestInfo,
    (claimed, resource): (Claimed, &ResourceInfo),
) -> Result<apiserver::rest::body::Response, ApiError> {
    let verb = info.verb.to_string();
    let refused = |info: &RequestInfo, why: &str| apiserver::server::access::forbidden(&user, info, why);
    let no_claim = format!("no accepted permission claim of APIExport {}:{} grants it", export.cluster, export.name);
    if !claims.permitted(&claimed, &attributes(&user, &info)).await? {
        return Err(refused(&info, "the maximal permission policy of the APIExport serving it does not allow it"));
    }
    let covered = {
        let (claims, export, claimed, verb) = (claims.clone(), export.clone(), claimed.clone(), verb.clone());
        move |obj: &Value| claims.covers(&export, &claimed, obj) && claims.grants(apiserver::rest::object::cluster_of(obj), &export, &claimed, &verb)
    };
    match info.cluster.clone() {
        ClusterTarget::Name(consumer) => {
            if !claims.grants(&consumer, &export, &claimed, &verb) {
                return Err(refused(&info, &no_claim));
            }
            if !super::serves_as(api, &info, resource) {
                return Err(refused(&info, &no_claim));
            }
            // An object the claim does not cover is not there, as far as the view goes.
            if !info.name.is_empty() && info.verb != Verb::Create {
                let obj = crate::read_object(api, &user, &info).await;
                if !obj.is_some_and(|o| claims.covers(&export, &claimed, &o)) {
                    return Err(ApiError::not_found(&claimed.group, &claimed.resource, &info.name));
                }
            }
            let visible: Option<Visible> = matches!(info.verb, Verb::List | Verb::Watch | Verb::DeleteCollection).then(|| Arc::new(covered) as Visible);
            crate::handle(api, req, user, info, visible, None).await
        }
        _ => {
            // Across clusters the handlers name another export's resource by its storage.
            info.resource = resource.storage_resource();
            crate::handle(api, req, user, info, Some(Arc::new(covered)), None).await
        }
    }
}
