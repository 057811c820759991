//! Claimed resources in an export's view: built-in resources of consumers (ConfigMaps,
//! Secrets, ...) that the export claims and a consumer's binding accepted. Only objects the
//! claim covers are seen (they carry the export's claim label, which admission and the
//! labeller keep in step with the claim's selector), and only with the verbs both the export
//! and the binding grant. A consumer that rejects the claim drops out: its objects lose the
//! label and leave a watch as DELETED.

use std::sync::Arc;

use apimachinery::auth::UserInfo;
use apimachinery::registry::crd::ExportRef;
use apimachinery::registry::ResourceInfo;
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use apimachinery::status::ApiError;
use apiserver::rest::{Api, Visible};
use apiserver::server::phase::Req;
use futures::future::BoxFuture;
use serde_json::Value;

/// What consumers granted an export through accepted permission claims; the shard implements
/// it from the export and its claim index.
pub trait Claims: Send + Sync {
    /// The built-in resources `export` claims, as (group, plural).
    fn claimed<'a>(&'a self, export: &'a ExportRef) -> BoxFuture<'a, Result<Vec<(String, String)>, ApiError>>;
    /// Whether `consumer` accepted `export`'s claim on `group`/`resource` for `verb` (the
    /// binding and the export both granting it).
    fn grants(&self, consumer: &str, export: &ExportRef, group: &str, resource: &str, verb: &str) -> bool;
    /// Whether an object (as served) is covered by `export`'s claim on `group`/`resource`.
    fn covers(&self, export: &ExportRef, group: &str, resource: &str, obj: &Value) -> bool;
}

/// The resource infos of the built-ins an export claims.
pub fn infos(claimed: &[(String, String)]) -> Vec<ResourceInfo> {
    apimachinery::registry::builtin::builtins()
        .iter()
        .filter(|b| claimed.iter().any(|(g, r)| *g == b.info.group && *r == b.info.plural))
        .map(|b| b.info.clone())
        .collect()
}

/// Serves a request on a claimed resource `info` of `export`'s view.
pub async fn serve(
    api: &Api,
    claims: Arc<dyn Claims>,
    req: &mut Req,
    user: UserInfo,
    export: ExportRef,
    info: RequestInfo,
    resource: &ResourceInfo,
) -> Result<apiserver::rest::body::Response, ApiError> {
    let (group, plural) = (resource.group.clone(), resource.plural.clone());
    let verb = info.verb.to_string();
    let refused = || {
        apiserver::server::access::forbidden(&user, &info, &format!("no accepted permission claim of APIExport {}:{} grants it", export.cluster, export.name))
    };
    let covered = {
        let (claims, export, group, plural, verb) = (claims.clone(), export.clone(), group.clone(), plural.clone(), verb.clone());
        move |obj: &Value| {
            claims.covers(&export, &group, &plural, obj) && claims.grants(apiserver::rest::object::cluster_of(obj), &export, &group, &plural, &verb)
        }
    };
    match &info.cluster {
        ClusterTarget::Name(consumer) => {
            if !claims.grants(consumer, &export, &group, &plural, &verb) {
                return Err(refused());
            }
            // An object the claim does not cover is not there, as far as the view goes.
            if !info.name.is_empty() && info.verb != Verb::Create {
                let obj = crate::read_object(api, &user, &info).await;
                if !obj.is_some_and(|o| claims.covers(&export, &group, &plural, &o)) {
                    return Err(ApiError::not_found(&group, &plural, &info.name));
                }
            }
            let visible: Option<Visible> = matches!(info.verb, Verb::List | Verb::Watch | Verb::DeleteCollection).then(|| Arc::new(covered) as Visible);
            crate::handle(api, req, user, info, visible, None).await
        }
        _ => crate::handle(api, req, user, info, Some(Arc::new(covered)), None).await,
    }
}
