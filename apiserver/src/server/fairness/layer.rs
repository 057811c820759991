//! The fairness step of the request path: it runs once the caller and the logical cluster are
//! known, and holds a seat around everything after it (authorization and the endpoint).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tower::{Layer, Service, ServiceExt};

use super::dispatch::Rejection;
use super::queue::{FairQueue, PriorityLevel};
use crate::audit::Trail;
use crate::rest::body::{self, Response};
use crate::server::metrics::long_running;
use crate::server::phase::Req;
use apimachinery::auth::UserInfo;
use apimachinery::request::{RequestInfo, SERVICES_PREFIX};
use apimachinery::status::ApiError;

/// How long clients are told to wait after a 429.
const RETRY_AFTER_SECS: u32 = 1;

/// Users of the system itself beyond `system:masters`: kcp's controllers
/// (`system:kcp:controller:*`) and shards (`system:kcp:shard`). Only
/// `system:masters` may impersonate them, so a tenant cannot borrow their seats.
const SYSTEM_USER_PREFIX: &str = "system:kcp:";

/// The priority level of a caller's requests.
pub fn level_of(user: &UserInfo) -> PriorityLevel {
    if user.is_masters() || user.name.starts_with(SYSTEM_USER_PREFIX) {
        PriorityLevel::System
    } else {
        PriorityLevel::Workspaces
    }
}

/// Puts the fair queue in front of the inner service.
#[derive(Clone)]
pub struct FairnessLayer(pub Arc<FairQueue>);

impl<S> Layer<S> for FairnessLayer {
    type Service = FairnessService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        FairnessService { inner, queue: self.0.clone() }
    }
}

/// The service a [`FairnessLayer`] produces.
#[derive(Clone)]
pub struct FairnessService<S> {
    inner: S,
    queue: Arc<FairQueue>,
}

impl<S> Service<Req> for FairnessService<S>
where
    S: Service<Req, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness of the inner service is awaited per call (oneshot) on a clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let (inner, queue) = (self.inner.clone(), self.queue.clone());
        Box::pin(async move {
            let (flow, long_running) = flow_of(&req);
            // Watches would hold a seat for their lifetime; they are exempt, as from the in-flight
            // limit of kube-apiserver.
            if long_running {
                return inner.oneshot(req).await;
            }
            let Some(level) = req.extensions().get::<UserInfo>().map(level_of) else {
                return Ok(body::error(&ApiError::internal("fair queuing ran before authentication")));
            };
            match queue.acquire(level, &flow).await {
                Ok(seat) => {
                    let response = inner.oneshot(req).await;
                    drop(seat);
                    response
                }
                Err(reason) => {
                    tracing::debug!(level = level.as_str(), reason = reason.as_str(), "request rejected by fair queuing");
                    Trail::observe(&req);
                    Ok(body::error(&too_many_requests(reason)))
                }
            }
        })
    }
}

/// The flow a request queues in, and whether it is long-running (then it holds no seat).
///
/// A view's request belongs to the view it names (the segments before `/clusters/`, such as
/// one APIExport's view), so a provider flooding its view queues behind itself. Any other
/// request to a cluster is that cluster's; the rest (discovery of the shard, `/version`) share
/// one flow.
fn flow_of(req: &Req) -> (String, bool) {
    let Some(info) = req.extensions().get::<RequestInfo>() else { return (String::new(), false) };
    let path = req.uri().path();
    let flow =
        if path.starts_with(SERVICES_PREFIX) { path.split_once("/clusters/").map_or(path, |(view, _)| view) } else { info.cluster_name().unwrap_or_default() };
    (flow.to_string(), long_running(req.method(), req.uri(), info))
}

/// The 429 of a rejection, as kube-apiserver's APF words it.
fn too_many_requests(reason: Rejection) -> ApiError {
    let mut e = ApiError::too_many_requests(RETRY_AFTER_SECS);
    if reason == Rejection::TimedOut {
        e.message = "The request waited too long for a free seat, please try again later.".into();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> UserInfo {
        UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() }
    }

    #[test]
    fn the_system_is_masters_and_kcp_itself() {
        assert_eq!(level_of(&user("shard-admin", &["system:masters"])), PriorityLevel::System);
        assert_eq!(level_of(&user("system:kcp:controller:workspace", &[])), PriorityLevel::System);
        assert_eq!(level_of(&user("system:kcp:shard", &[])), PriorityLevel::System);
        assert_eq!(level_of(&user("kcp-admin", &["system:kcp:admin"])), PriorityLevel::Workspaces);
        assert_eq!(level_of(&user("system:serviceaccount:default:robot", &["system:serviceaccounts"])), PriorityLevel::Workspaces);
    }

    fn flow(method: http::Method, uri: &str) -> (String, bool) {
        flow_of(&crate::server::phase::parsed(method, uri))
    }

    #[test]
    fn a_view_is_a_flow_and_its_watches_are_long_running() {
        let view = "/services/apiexport/2x9kq/cowboys";
        let cowboys = format!("{view}/clusters/*/apis/wildwest.dev/v1alpha1/cowboys");
        assert_eq!(flow(http::Method::GET, &cowboys), (view.to_string(), false));
        assert_eq!(flow(http::Method::GET, &format!("{cowboys}?watch=true")), (view.to_string(), true));
        assert_eq!(flow(http::Method::GET, &format!("{view}/clusters/c1/apis/wildwest.dev/v1alpha1/watch/cowboys")), (view.to_string(), true));
        assert_eq!(flow(http::Method::POST, &format!("{cowboys}?watch=true")), (view.to_string(), false));
        assert_eq!(flow(http::Method::GET, &format!("{view}/clusters/*/apis")), (view.to_string(), false));
        assert_eq!(flow(http::Method::GET, "/services/cache/shards/root"), ("/services/cache/shards/root".to_string(), false));
    }

    #[test]
    fn a_cluster_is_a_flow_and_the_rest_share_one() {
        assert_eq!(flow(http::Method::GET, "/clusters/c1/api/v1/configmaps?watch=1"), ("c1".to_string(), true));
        assert_eq!(flow(http::Method::GET, "/clusters/c1/api/v1/configmaps"), ("c1".to_string(), false));
        assert_eq!(flow(http::Method::GET, "/version"), (String::new(), false));
        assert_eq!(flow(http::Method::GET, "/api/v1/configmaps?watch=true"), (String::new(), true));
    }

    #[test]
    fn rejections_are_429_with_retry_after() {
        let full = too_many_requests(Rejection::QueueFull);
        assert_eq!((full.code(), full.retry_after), (429, Some(RETRY_AFTER_SECS)));
        assert!(too_many_requests(Rejection::TimedOut).message.contains("waited too long"));
    }
}
