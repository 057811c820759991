//! The apiresourceschema virtual workspace: the APIResourceSchemas behind a consumer's bound
//! APIs, read-only, for whoever may read the consumer's APIBindings. The schemas live in the
//! providers' workspaces, which the consumer's users cannot read; this view shows them exactly
//! what their bindings serve:
//! `/services/apiresourceschema/<consumer logical cluster>/clusters/*/apis/apis.kcp.io/v1alpha1/apiresourceschemas[/<name>]`.

use std::sync::Arc;

use apimachinery::auth::{Attributes, UserInfo};
use apimachinery::request::{valid_cluster_name, ClusterTarget, Verb};
use apimachinery::status::ApiError;
use apiserver::rest::body::{self, Response};
use apiserver::rest::Api;
use apiserver::server::access::forbidden;
use apiserver::server::phase::{Outcome, Phase, Req};
use futures::future::BoxFuture;
use serde_json::{json, Value};

/// Where the view is served.
pub const PREFIX: &str = "/services/apiresourceschema/";

const GROUP: &str = "apis.kcp.io";
const RESOURCE: &str = "apiresourceschemas";

/// The schemas a consumer's bindings serve; the shard implements it from its bindings and,
/// for providers on other shards, the cache.
pub trait BoundSchemas: Send + Sync {
    /// The APIResourceSchemas behind the Bound APIBindings of `consumer`, each once.
    fn of<'a>(&'a self, consumer: &'a str) -> BoxFuture<'a, Result<Vec<Value>, ApiError>>;
}

/// The request phase answering `/services/apiresourceschema/...`.
pub struct ApiResourceSchemaView {
    /// The shard's authorizer and logical clusters.
    pub api: Arc<Api>,
    /// Where the schemas come from.
    pub schemas: Arc<dyn BoundSchemas>,
}

impl Phase for ApiResourceSchemaView {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            let Some(rest) = req.uri().path().strip_prefix(PREFIX) else { return Ok(Outcome::Next) };
            let user = req.extensions().get::<UserInfo>().cloned().ok_or_else(ApiError::unauthorized)?;
            let (consumer, below) = rest.split_once('/').filter(|(c, _)| valid_cluster_name(c) && !c.contains(':')).ok_or_else(ApiError::path_not_found)?;
            let info = crate::parse_below(req.method(), below, req.uri().query())?;
            let may = Attributes {
                user: user.clone(),
                verb: "get".into(),
                resource_request: true,
                api_group: GROUP.into(),
                api_version: "*".into(),
                resource: "apibindings".into(),
                ..Default::default()
            };
            if !self.api.authz.allows(consumer, &may).await? {
                return Err(forbidden(&user, &info, "reading the consumer's APIBindings is not granted"));
            }
            let schema_info = self.api.resolve(&ClusterTarget::Wildcard, GROUP, "v1alpha1", RESOURCE).map(|r| r.info).ok_or_else(ApiError::path_not_found)?;
            if !matches!(info.cluster, ClusterTarget::Wildcard) {
                return Err(ApiError::path_not_found());
            }
            if !info.is_resource_request {
                let root = crate::root_url(&format!("{PREFIX}{consumer}"), &info);
                return crate::discovery(&[schema_info], &info, &root, req.headers()).map(Outcome::Respond);
            }
            if info.api_group != GROUP || info.api_version != "v1alpha1" || info.resource != RESOURCE || !info.subresource.is_empty() {
                return Err(ApiError::path_not_found());
            }
            let schemas = self.schemas.of(consumer).await?;
            let answer: Response = match info.verb {
                Verb::List => {
                    body::json(200, &json!({"kind": "APIResourceSchemaList", "apiVersion": "apis.kcp.io/v1alpha1", "metadata": {}, "items": schemas}))
                }
                Verb::Get => {
                    let found = schemas.into_iter().find(|s| s.pointer("/metadata/name").and_then(Value::as_str) == Some(info.name.as_str()));
                    body::json(200, &found.ok_or_else(|| ApiError::not_found(GROUP, RESOURCE, &info.name))?)
                }
                _ => {
                    return Err(ApiError::method_not_allowed(format!(
                        "the server does not allow this method on the requested resource: {} on a read-only view",
                        info.verb
                    )))
                }
            };
            Ok(Outcome::Respond(answer))
        })
    }
}
