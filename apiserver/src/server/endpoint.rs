//! The innermost service: reads the body within its limit (413) and routes to discovery,
//! OpenAPI, `/version`, `/metrics`, or the REST handlers.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Limited};
use serde_json::json;

use super::access::forbidden;
use super::discovery;
use super::metrics::Metrics;
use super::openapi;
use super::phase::{Req, ReqBody};
use super::top;
use crate::audit::Trail;
use crate::rest::body::{self, Response};
use crate::rest::{Api, ApiRequest};
use apimachinery::auth::UserInfo;
use apimachinery::openapi::cache::documents;
use apimachinery::registry::{builtin, ResourceInfo};
use apimachinery::request::{ClusterTarget, RequestInfo};
use apimachinery::status::ApiError;

/// The Kubernetes version reported at `/version`; kubectl's dispatcher picks its client by it.
pub const KUBE_MINOR: &str = "32";

/// The endpoint service.
#[derive(Clone)]
pub struct Endpoint {
    /// The API that serves resource requests.
    pub api: Arc<Api>,
    /// Rendered at `/metrics`, with storage size and revision refreshed first.
    pub metrics: Arc<Metrics>,
}

impl tower::Service<Req> for Endpoint {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.serve(req).await.unwrap_or_else(|e| body::error(&e))) })
    }
}

impl Endpoint {
    async fn serve(&self, req: Req) -> Result<Response, ApiError> {
        Trail::observe(&req);
        let (mut parts, body) = req.into_parts();
        let info = parts.extensions.remove::<RequestInfo>().ok_or_else(|| ApiError::internal("request was not parsed"))?;
        let user = parts.extensions.remove::<UserInfo>().ok_or_else(|| ApiError::internal("request was not authenticated"))?;
        if let Some(cluster) = info.cluster_name() {
            self.metrics.clusters.record(cluster);
        }
        if !info.is_resource_request {
            if info.cluster == ClusterTarget::None && info.path == WORKSPACES_TOP {
                return workspaces_top(&self.api, &self.metrics, &info, &user).await;
            }
            return non_resource(&self.api, &self.metrics, &info, &parts.headers);
        }
        let body = read_body(&parts.headers, body, self.api.limits.max_body_bytes).await?;
        Trail::request_body(&parts, &body);
        self.api.handle(ApiRequest { info, user, method: parts.method, headers: parts.headers, body, visible: None, guard: None }).await
    }
}

/// Reads a request body of at most `limit` bytes (413 beyond, refused early when the declared
/// length says so).
pub async fn read_body(headers: &http::HeaderMap, body: ReqBody, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    Ok(Limited::new(body, limit).collect().await.map_err(|_| ApiError::too_large(limit))?.to_bytes())
}

/// Where the shard lists its busiest and biggest logical clusters.
pub const WORKSPACES_TOP: &str = "/debug/workspaces/top";

/// `/debug/workspaces/top` (see [`top`]): `system:masters` only; anyone else gets the 403 of
/// any path they may not read.
async fn workspaces_top(api: &Api, metrics: &Metrics, info: &RequestInfo, user: &UserInfo) -> Result<Response, ApiError> {
    if !user.is_masters() {
        return Err(forbidden(user, info, ""));
    }
    let doc = top::report(&metrics.clusters, &*api.store, top::requested_n(info.param("n"))).await?;
    Ok(body::json(200, &doc))
}

fn non_resource(api: &Api, metrics: &Metrics, info: &RequestInfo, headers: &http::HeaderMap) -> Result<Response, ApiError> {
    let cluster = info.cluster_name().unwrap_or_default();
    let served = if cluster.is_empty() { builtin::builtins().iter().map(|b| b.info.clone()).collect() } else { api.served(cluster) };
    let segs: Vec<&str> = info.path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let prefix = if cluster.is_empty() { String::new() } else { format!("/clusters/{cluster}") };
    let doc = match segs.as_slice() {
        ["version"] => json!({"major": "1", "minor": KUBE_MINOR, "gitVersion": format!("v1.{KUBE_MINOR}.0+kcp-rs-{}", env!("CARGO_PKG_VERSION")),
            "gitCommit": env!("KCP_GIT_COMMIT"), "gitTreeState": env!("KCP_GIT_TREE_STATE"), "buildDate": env!("KCP_BUILD_DATE"), "goVersion": "", "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, if cfg!(target_arch = "x86_64") { "amd64" } else { std::env::consts::ARCH })}),
        ["metrics"] if cluster.is_empty() => {
            metrics.storage_bytes.set(api.store.size_on_disk() as i64);
            metrics.storage_revision.set(api.store.current_revision() as i64);
            metrics.storage_syncs.set(api.store.durable_syncs() as i64);
            return Ok(metrics.answer(headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok())));
        }
        _ => return describe(&served, &segs, &prefix, headers).unwrap_or_else(|| Err(ApiError::path_not_found())),
    };
    Ok(body::json(200, &doc))
}

/// Discovery and OpenAPI of the resources `served`, at path segments `segs` below `prefix`
/// (`/clusters/<c>` or a virtual workspace's root); None for any other path.
pub fn describe(served: &[ResourceInfo], segs: &[&str], prefix: &str, headers: &http::HeaderMap) -> Option<Result<Response, ApiError>> {
    let accept = headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let doc = match segs {
        ["api"] if discovery::wants_aggregated(accept) => {
            return Some(Ok(body::json_typed(200, &discovery::aggregated(served, true), discovery::AGGREGATED_CONTENT_TYPE)))
        }
        ["apis"] if discovery::wants_aggregated(accept) => {
            return Some(Ok(body::json_typed(200, &discovery::aggregated(served, false), discovery::AGGREGATED_CONTENT_TYPE)))
        }
        ["api"] => Some(discovery::api_versions()),
        ["apis"] => Some(discovery::api_group_list(served)),
        ["api", v] => discovery::resource_list(served, "", v),
        ["apis", g] => discovery::api_group(served, g),
        ["apis", g, v] => discovery::resource_list(served, g, v),
        ["openapi", "v2"] => return Some(openapi::v2(&documents(served), headers)),
        ["openapi", "v3"] => Some(documents(served).index(prefix)),
        ["openapi", "v3", "api", v] => return Some(openapi::v3_group_version(&documents(served), "", v, headers)),
        ["openapi", "v3", "apis", g, v] => return Some(openapi::v3_group_version(&documents(served), g, v, headers)),
        _ => return None,
    };
    Some(doc.map(|d| body::json(200, &d)).ok_or_else(ApiError::path_not_found))
}
