//! The apiexport virtual workspace: one export's resources across every consumer workspace of
//! this shard that binds it, for the provider's controllers.
//!
//! Discovery lists the export's bound resources. A wildcard list or watch reads the export's
//! storage prefix (`<plural>:<identity hash>`) once and keeps the objects of bound consumers,
//! asking the binding index per object, so its cost does not grow with the number of
//! consumers and a consumer binding or unbinding mid-watch is seen at its next event. Requests
//! into one consumer run through the REST handlers as the caller, so validation, defaulting
//! and admission apply as they would in the consumer's workspace.

pub mod authz;
pub mod bindings;
pub mod claims;
pub mod path;

use std::sync::Arc;

use apimachinery::auth::UserInfo;
use apimachinery::registry::crd::ExportRef;
use apimachinery::registry::ResourceInfo;
use apimachinery::request::{ClusterTarget, RequestInfo};
use apimachinery::status::{ApiError, Reason};
use apiserver::rest::body::Response;
use apiserver::rest::Api;
use apiserver::server::phase::{Outcome, Phase, Req};
use futures::future::BoxFuture;

use self::authz::ContentAccess;

/// Whether the consumer a request names serves its resource as `resource` does, from the same
/// export identity: a consumer may serve the group/resource from another export.
fn serves_as(api: &Api, info: &RequestInfo, resource: &ResourceInfo) -> bool {
    api.resolve(&info.cluster, &info.api_group, &info.api_version, &info.resource).and_then(|r| r.info.identity) == resource.identity
}

/// The request phase answering `/services/apiexport/...`.
pub struct ApiExportView {
    /// The shard's REST handlers and binding index.
    pub api: Arc<Api>,
    /// Who may read and write an export's content.
    pub access: Arc<dyn ContentAccess>,
    /// What consumers granted exports through permission claims.
    pub claims: Arc<dyn claims::Claims>,
}

impl Phase for ApiExportView {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let Some(target) = path::parse(req.method(), req.uri().path(), req.uri().query()) else { return Ok(Outcome::Next) };
            let user = req.extensions().get::<UserInfo>().cloned().ok_or_else(ApiError::unauthorized)?;
            let path::Target { export, info } = target?;
            let crds = &self.api.crds;
            authz::authorize(self.access.as_ref(), |consumer| crds.bound_to(consumer, &export), &user, &export, &info).await?;
            let served = crds.exported(&export);
            let claimed = claims::infos(crds, &self.claims.claimed(&export).await?);
            let bindings = bindings::infos();
            if !info.is_resource_request {
                let root = crate::root_url(&format!("{}{}/{}", path::PREFIX, export.cluster, export.name), &info);
                let all: Vec<_> = served.iter().chain(claimed.iter().map(|(_, r)| r)).chain(&bindings).cloned().collect();
                return crate::discovery(&all, &info, &root, req.headers()).map(Outcome::Respond);
            }
            let is = |r: &ResourceInfo| r.group == info.api_group && r.version == info.api_version && r.plural == info.resource;
            if let Some((c, resource)) = claimed.iter().find(|(_, r)| is(r)).cloned() {
                return claims::serve(&self.api, self.claims.clone(), req, user, export, info, (c, &resource)).await.map(Outcome::Respond);
            }
            if bindings.iter().any(is) {
                return bindings::serve(&self.api, req, user, export, info).await.map(Outcome::Respond);
            }
            self.serve(req, user, export, info, &served).await.map(Outcome::Respond)
        })
    }
}

impl ApiExportView {
    /// Runs a resource request of the export's view through the REST handlers.
    async fn serve(&self, req: &mut Req, user: UserInfo, export: ExportRef, mut info: RequestInfo, served: &[ResourceInfo]) -> Result<Response, ApiError> {
        // Only the export's own resources: the handlers would also serve built-ins and the
        // consumer's other APIs, which the view must never reach.
        let resource = served
            .iter()
            .find(|r| r.group == info.api_group && r.version == info.api_version && r.plural == info.resource)
            .ok_or_else(ApiError::path_not_found)?;
        let visible: Option<apiserver::rest::Visible> = match &info.cluster {
            ClusterTarget::Wildcard => {
                // Across clusters the handlers name a bound resource by its storage, which
                // holds every export sharing the identity: keep the bound consumers only.
                info.resource = resource.storage_resource();
                let crds = self.api.crds.clone();
                Some(Arc::new(move |obj: &serde_json::Value| crds.bound_to(apiserver::rest::object::cluster_of(obj), &export)))
            }
            ClusterTarget::Name(consumer) if !user.is_masters() && self.api.inactive.borrow().contains(consumer.as_str()) => {
                // An inactive workspace is closed through the view as through its own URL; the
                // caller passed the content check, so it may learn why.
                return Err(apiserver::server::access::forbidden(&user, &info, "the logical cluster is inactive"));
            }
            _ => {
                // The consumer may serve this resource from another export with its own
                // identity (its binding to this one lost a naming conflict): never reach that.
                if !serves_as(&self.api, &info, resource) {
                    return Err(ApiError::new(Reason::Forbidden, authz::NO_BINDING));
                }
                None
            }
        };
        crate::handle(&self.api, req, user, info, visible, None).await
    }
}
