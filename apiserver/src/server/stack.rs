//! The request path of a shard, outermost first, in the order a request travels:
//!
//! 1. `Handler::call`: request id and span, path parsing (400), metrics and the access log;
//! 2. [`Probes`]: health endpoints, before any credentials are needed;
//! 3. [`Authenticate`]: certificate or token, then impersonation (401/403);
//! 4. [`Phases`] the binary adds, knowing who is calling (the shard: home workspaces, then
//!    resolving the workspace path and gating on the logical cluster);
//! 5. [`FairnessLayer`]: a seat of the caller's priority level, queued fairly per logical
//!    cluster or view, or 429 with `Retry-After` (watches exempt);
//! 6. the views the binary adds, which answer their own URL space and authorize themselves
//!    (the shard: virtual workspaces and the cache), with the seat taken for them;
//! 7. [`Authorize`]: wildcard and RBAC checks (403/404);
//! 8. [`Endpoint`]: the body within its limit (413), then discovery, OpenAPI or REST, where
//!    admission and storage happen.
//!
//! Rejections render as a `Status` through the same `body::error` wherever they happen.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
use tracing::Instrument;

use super::access::Authorize;
use super::authenticate::{Authenticate, ClusterResolver};
use super::endpoint::Endpoint;
use super::fairness::{FairQueue, FairnessLayer};
use super::metrics::{long_running, LatencyLabels, Metrics};
use super::phase::{PhaseLayer, Phases, Req};
use super::probes::{Probes, Readiness};
use crate::audit::{Auditor, Received, Trail, AUDIT_ID_HEADER};
use crate::auth::authn::TrustedProxy;
use crate::rest::body::{self, Response};
use crate::rest::Api;
use apimachinery::request::RequestInfo;

/// What a binary adds to the request path.
#[derive(Default)]
pub struct BinaryPhases {
    /// Run after authentication, before a seat is taken: where the binary resolves and gates
    /// its clusters (they name the flow a request queues in).
    pub extra: Phases,
    /// Run with a seat, before the authorizer: endpoints that answer their own URL space and
    /// authorize themselves.
    pub views: Phases,
    /// Resolves workspace paths, so impersonation is judged in the cluster a request goes to.
    pub resolver: Option<Arc<dyn ClusterResolver>>,
}

/// Everything the request path needs.
pub struct Handler {
    /// The API every phase and the endpoint share.
    pub api: Arc<Api>,
    /// Request counts, latencies, in-flight and watch gauges, recorded around the whole stack.
    pub metrics: Arc<Metrics>,
    /// Records an audit event of every request, when auditing is on.
    pub audit: Option<Arc<Auditor>>,
    stack: BoxCloneSyncService<Req, Response, Infallible>,
}

impl Handler {
    /// A handler running `extra` after authentication (where a binary resolves and gates its
    /// clusters), then seating short requests fairly in `fairness`, then `views`, and ready once
    /// every gate of `readiness` is open.
    pub fn new(api: Arc<Api>, metrics: Arc<Metrics>, fairness: Arc<FairQueue>, phases: BinaryPhases, readiness: Readiness) -> Handler {
        let BinaryPhases { extra, views, resolver } = phases;
        let stack = ServiceBuilder::new()
            .layer(PhaseLayer::new(Probes { store: api.store.clone(), shutdown: api.shutdown.clone(), readiness }))
            .layer(PhaseLayer::new(Authenticate { authn: api.authn.clone(), authz: api.authz.clone(), resolver }))
            .layer(PhaseLayer::new(extra))
            .layer(FairnessLayer(fairness))
            .layer(PhaseLayer::new(views))
            .layer(PhaseLayer::new(Authorize { authz: api.authz.clone() }))
            .service(Endpoint { api: api.clone(), metrics: metrics.clone() });
        Handler { api, metrics, audit: None, stack: BoxCloneSyncService::new(stack) }
    }

    /// Serves one request through the stack, observing it.
    pub async fn call(&self, mut req: Req) -> Response {
        let started = Instant::now();
        let request_id = request_id(&req);
        let span = tracing::info_span!("request", id = %request_id.get(..12).unwrap_or(&request_id), method = %req.method(), path = %req.uri().path(),
            cluster = tracing::field::Empty, user = tracing::field::Empty);
        let response = match RequestInfo::parse(req.method(), req.uri().path(), req.uri().query()) {
            Err(e) => self.metrics.requests.begin(LatencyLabels::of_method(req.method()), false).finish(body::error(&e)),
            Ok(info) => {
                if let Some(c) = info.cluster_name() {
                    span.record("cluster", c);
                }
                let observed = self.metrics.requests.begin(LatencyLabels::of(&info), long_running(req.method(), req.uri(), &info));
                let audit = self.audit.as_ref().map(|a| (a, Received::of(&req, &request_id, &info), Trail::default()));
                if let Some((_, _, trail)) = &audit {
                    req.extensions_mut().insert(trail.clone());
                }
                req.extensions_mut().insert(info);
                let response = match self.stack.clone().oneshot(req).instrument(span.clone()).await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                let response = match audit {
                    Some((auditor, received, trail)) => with_audit_id(auditor.finish(received, &trail, response).await, &request_id),
                    None => response,
                };
                observed.finish(response)
            }
        };
        let code = response.status().as_u16();
        span.in_scope(|| {
            if code >= 500 {
                tracing::warn!(code, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "request failed");
            } else {
                tracing::debug!(code, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "done");
            }
        });
        response
    }
}

/// The id of a request: the front-proxy's (so both audit events of a request share it), or a
/// new one; a client's own `Audit-ID` is not taken, it could pass for another request's.
fn request_id(req: &Req) -> String {
    let forwarded = req.extensions().get::<TrustedProxy>().and_then(|_| req.headers().get(AUDIT_ID_HEADER)).and_then(|v| v.to_str().ok());
    match forwarded.filter(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')) {
        Some(id) => id.to_string(),
        None => apimachinery::uid::new_v4().simple().to_string(),
    }
}

/// Tells the client the id its request is audited under, as kube-apiserver does.
fn with_audit_id(mut response: Response, id: &str) -> Response {
    if let Ok(v) = http::HeaderValue::from_str(id) {
        response.headers_mut().insert(AUDIT_ID_HEADER, v);
    }
    response
}
