//! Virtual workspaces: Kubernetes-shaped endpoints under `/services/` that are computed from
//! many logical clusters instead of being one. Each is a request phase the shard runs after
//! authentication, answering its own URL space with its own authorization, and writing through
//! the shard's REST handlers so validation, defaulting and admission apply as usual. It is not
//! a proxy: a shard serves the view of its own logical clusters only.

pub mod apiexport;
pub mod apiresourceschema;
pub mod lifecycle;

use apimachinery::auth::UserInfo;
use apimachinery::registry::ResourceInfo;
use apimachinery::request::{ClusterTarget, RequestInfo, Verb};
use apimachinery::status::ApiError;
use apiserver::rest::body::Response;
use apiserver::rest::{Api, ApiRequest, Guard, Visible};
use apiserver::server::endpoint::{describe, read_body};
use apiserver::server::phase::{empty_body, Req};
use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;

/// Parses what follows a view's own segments: `clusters/<logical cluster | *>/<API path>`, an
/// ordinary Kubernetes path. Views know the logical clusters of their shard, not workspace
/// paths, so a path in place of a cluster name is not found.
fn parse_below(method: &Method, below: &str, query: Option<&str>) -> Result<RequestInfo, ApiError> {
    if !below.starts_with("clusters/") {
        return Err(ApiError::path_not_found());
    }
    let info = RequestInfo::parse(method, &format!("/{below}"), query)?;
    if info.cluster_is_path() {
        return Err(ApiError::path_not_found());
    }
    Ok(info)
}

/// Runs a view's request through the shard's REST handlers as `user`, so validation,
/// defaulting and admission apply, with the view's own limits on what is seen and changed.
async fn handle(api: &Api, req: &mut Req, user: UserInfo, info: RequestInfo, visible: Option<Visible>, guard: Option<Guard>) -> Result<Response, ApiError> {
    let body = std::mem::replace(req.body_mut(), empty_body());
    let body = read_body(req.headers(), body, api.limits.max_body_bytes).await?;
    api.handle(ApiRequest { info, user, method: req.method().clone(), headers: req.headers().clone(), body, visible, guard }).await
}

/// Discovery and OpenAPI of `served` below a view's `root` URL.
fn discovery(served: &[ResourceInfo], info: &RequestInfo, root: &str, headers: &http::HeaderMap) -> Result<Response, ApiError> {
    let segs: Vec<&str> = info.path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    describe(served, &segs, root, headers).unwrap_or_else(|| Err(ApiError::path_not_found()))
}

/// A view's root URL for a request: its `prefix` and own segments, then the cluster as the
/// caller wrote it (`*` for a wildcard).
fn root_url(prefix: &str, info: &RequestInfo) -> String {
    let cluster = match &info.cluster {
        ClusterTarget::Name(c) => c.as_str(),
        _ => "*",
    };
    format!("{prefix}/clusters/{cluster}")
}

/// The object a request names, read through the handlers as `user`; None when it cannot be
/// read. Views check what they may show before they answer or pass a request on.
async fn read_object(api: &Api, user: &UserInfo, info: &RequestInfo) -> Option<serde_json::Value> {
    let mut get = info.clone();
    get.verb = Verb::Get;
    get.subresource.clear();
    let probe =
        ApiRequest { info: get, user: user.clone(), method: Method::GET, headers: http::HeaderMap::new(), body: Bytes::new(), visible: None, guard: None };
    let bytes = api.handle(probe).await.ok()?.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&bytes).ok()
}
