//! The proxy's request path, as named phases that `Proxy::handle` calls in order (read it
//! first): authenticate, resolve (path to shard and logical cluster), rewrite (target URL and
//! identity headers), forward over mutual TLS, finish (relay the answer). Health probes answer
//! before all of them. Bodies stream both ways; a client that goes away drops the upstream
//! request with it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use apimachinery::auth::UserInfo;
use apimachinery::request::{valid_cluster_name, RequestInfo};
use apimachinery::status::ApiError;
use apiserver::audit::event::{CLUSTER_ANNOTATION, SHARD_ANNOTATION};
use apiserver::audit::{Auditor, ClientAddr, Received, Trail, AUDIT_ID_HEADER};
use apiserver::auth::authn::{PeerSubject, REMOTE_CLUSTER, REMOTE_EXTRA_PREFIX, REMOTE_GROUP, REMOTE_USER};
use apiserver::client::{BoxError, Client, ClientBody};
use apiserver::process::report;
use apiserver::rest::body::{self, Response};
use apiserver::server::metrics::{long_running, LatencyLabels, Metrics};
use apiserver::server::phase::Req;
use apiserver::server::probes;
use apiserver::server::Serves;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::identity::{Authenticators, Identity};
use crate::index::{Index, Route};
use crate::phase::{Failure, Phase, ProxyRequestError};

/// Where the shard learns the client's address (it trusts it from the proxy only).
const FORWARDED_FOR: &str = "x-forwarded-for";

/// Largest request body forwarded, as on the shards.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// Largest answer of known length collected before it is sent on.
const BUFFERED_RESPONSE: usize = 256 * 1024;

/// Headers that describe one hop, never forwarded. `expect` too: the proxy answers a client's
/// `100-continue` itself, and its client sends the body at once, so a shard that saw the header
/// would not drain a body it refuses and would close the connection under the proxy's writes.
const HOP_BY_HOP: &[&str] = &["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host", "expect"];

/// The front-proxy.
pub struct Proxy {
    /// Request counts, latencies, in-flight requests and open watches (labelled as on the
    /// shards), and certificate expiry.
    pub metrics: Arc<Metrics>,
    /// Where every shard and workspace is; resolves each request's route.
    pub index: Arc<Index>,
    /// Decides who the caller is before the request is forwarded.
    pub authn: Authenticators,
    /// Forwards with the front-proxy's request-header client certificate.
    pub upstream: Client,
    /// Shard that serves paths outside `/clusters/` (`/version`, `/openapi`, ...).
    pub root_shard: String,
    /// Records an audit event of every request, when auditing is on.
    pub audit: Option<Arc<Auditor>>,
}

impl Serves for Proxy {
    async fn answer(&self, req: Req) -> Response {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let started = std::time::Instant::now();
        let audit_id = apimachinery::uid::new_v4().simple().to_string();
        // Parsed for the same labels as the shards' and for the audit event; routing reads the
        // path itself.
        let info = RequestInfo::parse(req.method(), req.uri().path(), req.uri().query()).ok();
        let observed = match &info {
            Some(info) => self.metrics.requests.begin(LatencyLabels::of(info), long_running(req.method(), req.uri(), info)),
            None => self.metrics.requests.begin(LatencyLabels::of_method(&method), false),
        };
        let audited = match (&self.audit, &info) {
            (Some(auditor), Some(info)) => Some((auditor, Received::of(&req, &audit_id, info), Trail::default())),
            _ => None,
        };
        let response = match self.handle(req, audited.as_ref().map(|(_, _, trail)| trail), &audit_id).await {
            Ok(r) => r,
            Err(e) => {
                // Failures past resolve are the proxy's or a shard's, worth an operator's eye;
                // earlier ones are the client's.
                if matches!(e.phase, Phase::Forward | Phase::Finish) {
                    tracing::warn!(phase = %e.phase, %method, %path, error = %report(&e), "request failed");
                } else {
                    tracing::debug!(phase = %e.phase, %method, %path, error = %report(&e), "request refused");
                }
                body::error(&ApiError::from(e))
            }
        };
        let response = match audited {
            Some((auditor, received, trail)) => auditor.finish(received, &trail, response).await,
            None => response,
        };
        let code = response.status().as_u16();
        tracing::debug!(%method, %path, code, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "proxied");
        observed.finish(response)
    }
}

/// Where the resolve phase sends a request.
struct Target {
    route: Route,
    /// The path after `/clusters/<segment>` (or the whole path outside `/clusters/`).
    rest: String,
    /// The cluster segment as the caller wrote it, passed on in `X-Remote-Cluster`.
    written: Option<String>,
}

impl Proxy {
    /// A request's way through the proxy, phase by phase; every failure carries its phase.
    /// With `trail`, what the audit event needs is recorded as it becomes known.
    async fn handle(&self, req: Req, trail: Option<&Trail>, audit_id: &str) -> Result<Response, ProxyRequestError> {
        // Probes carry no credentials: load balancers and kubelets ask them.
        if let Some(probe) = self.probe(&req) {
            return Ok(probe);
        }
        let identity = self.authenticate(req.headers(), req.extensions().get::<PeerSubject>()).await.map_err(Phase::Authenticate.failed())?;
        if let Some(trail) = trail {
            match &identity {
                Identity::User(user) => trail.identify(user),
                Identity::ServiceAccount(claims) => trail.identify(&UserInfo { name: claims.sub.clone(), ..Default::default() }),
                Identity::Anonymous => {}
            }
        }
        if req.uri().path() == "/metrics" {
            let accept = req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
            return self.own_metrics(&identity, accept).map_err(Phase::Authenticate.failed());
        }
        if let Some(consumer) = crate::merged::consumer(req.uri().path()) {
            return self.apiexport_view(req, &identity, &consumer, trail, audit_id).await;
        }
        let target = self.resolve(req.uri().path(), &identity).map_err(Phase::Resolve.failed())?;
        if let Some(trail) = trail {
            trail.annotate(SHARD_ANNOTATION, &target.route.shard);
            if !target.route.cluster.is_empty() {
                trail.annotate(CLUSTER_ANNOTATION, &target.route.cluster);
            }
        }
        let upstream = rewrite(req, &identity, &target, audit_id).map_err(Phase::Rewrite.failed())?;
        let answer = self.forward(upstream, &target.route.shard).await.map_err(Phase::Forward.failed())?;
        finish(answer, &target.route.shard).await.map_err(Phase::Finish.failed())
    }

    /// `/healthz`, `/livez` and `/readyz` (`?verbose` lists the checks). Ready means the routing
    /// index has loaded every known shard: before that, a known workspace would look unknown.
    fn probe(&self, req: &Req) -> Option<Response> {
        let name = match req.uri().path() {
            "/healthz" => "healthz",
            "/livez" => "livez",
            "/readyz" => "readyz",
            _ => return None,
        };
        let verbose = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "verbose" || p.starts_with("verbose=")));
        let synced = name != "readyz" || self.index.unsynced().is_empty();
        Some(probes::render(name, &[("ping", true), ("routing-index", synced)], verbose))
    }

    /// Who is calling, from the credentials and the client certificate (not the request: its
    /// body is not `Sync`, and this awaits). Anonymous requests are off everywhere: one 401,
    /// before anything depends on the path.
    async fn authenticate(&self, headers: &HeaderMap, peer: Option<&PeerSubject>) -> Result<Identity, Failure> {
        let authorization = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        match self.authn.identify(authorization, peer).await {
            None | Some(Identity::Anonymous) => Err(Failure::Unauthorized),
            Some(identity) => Ok(identity),
        }
    }

    /// The proxy's own metrics, for callers it authenticated itself (a service-account token is
    /// only checked here, not authenticated).
    fn own_metrics(&self, identity: &Identity, accept: Option<&str>) -> Result<Response, Failure> {
        if !matches!(identity, Identity::User(_)) {
            return Err(Failure::Unauthorized);
        }
        Ok(self.metrics.answer(accept))
    }

    /// The shard and logical cluster a path goes to, the rest of the path, and the cluster as the
    /// caller wrote it.
    fn resolve(&self, path: &str, identity: &Identity) -> Result<Target, Failure> {
        if let Some(after) = path.strip_prefix("/clusters/") {
            let (segment, rest) = after.split_once('/').map(|(s, r)| (s, format!("/{r}"))).unwrap_or((after, String::new()));
            if segment == "*" {
                return Err(Failure::AcrossWorkspaces);
            }
            if !valid_cluster_name(segment) {
                return Err(Failure::InvalidName);
            }
            // What the index does not know goes, as written, to the root shard, which refuses it
            // exactly as a shard refuses an existing workspace the caller may not access (or
            // serves it, when the index merely lags behind).
            let route = match self.index.lookup(segment) {
                Some(route) => route,
                None => Route { cluster: segment.to_string(), ..self.root_route(path)? },
            };
            return Ok(Target { route, rest, written: Some(segment.to_string()) });
        }
        // In-cluster clients call without a prefix: their token says where they belong.
        if let Identity::ServiceAccount(claims) = identity {
            if let Some(route) = self.index.lookup(&claims.kubernetes.cluster) {
                return Ok(Target { route, rest: path.to_string(), written: None });
            }
        }
        Ok(Target { route: self.root_route(path)?, rest: path.to_string(), written: None })
    }

    /// The root shard, which serves paths outside `/clusters/`; virtual workspaces
    /// (`/services/...`) live behind its own URL.
    fn root_route(&self, path: &str) -> Result<Route, Failure> {
        let base_url = if path.starts_with("/services/") { self.index.virtual_workspace_url(&self.root_shard) } else { self.index.shard_url(&self.root_shard) };
        let base_url = base_url.ok_or(Failure::RootShardUnknown)?;
        Ok(Route { shard: self.root_shard.clone(), base_url, cluster: String::new() })
    }

    /// The apiexport view: reads across all consumers merge every shard's view; a request into
    /// one consumer goes to the shard hosting it (unknown ones to the root shard, which
    /// refuses them as it refuses an unbound consumer), its body's merged resourceVersion
    /// turned into that shard's.
    async fn apiexport_view(
        &self,
        req: Req,
        identity: &Identity,
        consumer: &str,
        trail: Option<&Trail>,
        audit_id: &str,
    ) -> Result<Response, ProxyRequestError> {
        if consumer == "*" && req.method() == http::Method::GET {
            let mut headers = req.headers().clone();
            prepare_headers(&mut headers, identity);
            if let Ok(id) = HeaderValue::from_str(audit_id) {
                headers.insert(AUDIT_ID_HEADER, id);
            }
            // The proxy reads and rewrites the answers: JSON (or JSON Tables), never protobuf.
            if headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("protobuf")) {
                headers.insert(http::header::ACCEPT, HeaderValue::from_static("application/json"));
            }
            let fanout = crate::merged::Fanout {
                upstream: self.upstream.clone(),
                shards: self.index.virtual_workspace_urls(),
                path: req.uri().path().to_string(),
                headers,
            };
            let query = crate::merged::query_of(req.uri().query());
            let watching = query.get("watch").is_some_and(|w| w == "true" || w == "1");
            let answer = if watching { crate::merged::watch(fanout, query).await } else { crate::merged::list(&fanout, query).await };
            return Ok(answer.unwrap_or_else(|e| body::error(&e)));
        }
        let shard = self.index.lookup(consumer).map(|r| r.shard).unwrap_or_else(|| self.root_shard.clone());
        let base_url = self.index.virtual_workspace_url(&shard).ok_or(Failure::RootShardUnknown).map_err(Phase::Resolve.failed())?;
        if let Some(trail) = trail {
            trail.annotate(SHARD_ANNOTATION, &shard);
        }
        let target = Target { route: Route { shard, base_url, cluster: String::new() }, rest: req.uri().path().to_string(), written: None };
        let req = localize(req, &target.route.shard).await.map_err(Phase::Rewrite.failed())?;
        let upstream = rewrite(req, identity, &target, audit_id).map_err(Phase::Rewrite.failed())?;
        let answer = self.forward(upstream, &target.route.shard).await.map_err(Phase::Forward.failed())?;
        finish(answer, &target.route.shard).await.map_err(Phase::Finish.failed())
    }

    /// Sends the rewritten request over the pooled mutual-TLS connections.
    async fn forward(&self, upstream: http::Request<ClientBody>, shard: &str) -> Result<http::Response<Incoming>, Failure> {
        self.upstream.send(upstream).await.map_err(|source| Failure::Unreachable { shard: shard.to_string(), source })
    }
}

/// The request the shard receives: its URL on the target shard, the identity the proxy
/// established instead of what the client claimed, and a bounded body.
fn rewrite(mut req: Req, identity: &Identity, target: &Target, audit_id: &str) -> Result<http::Request<ClientBody>, Failure> {
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let prefix = if target.route.cluster.is_empty() { String::new() } else { format!("/clusters/{}", target.route.cluster) };
    let url = format!("{}{prefix}{}{query}", target.route.base_url, target.rest);
    // A declared length over the limit is refused before a byte is read; a body that lies about
    // its length stops at the limit while streaming.
    if req.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > MAX_BODY) {
        return Err(Failure::TooLarge { limit: MAX_BODY });
    }
    prepare_headers(req.headers_mut(), identity);
    if let Some(value) = target.written.as_deref().and_then(|w| HeaderValue::from_str(w).ok()) {
        req.headers_mut().insert(REMOTE_CLUSTER, value);
    }
    // The shard's audit event names the same request and the same client as the proxy's.
    if let Ok(id) = HeaderValue::from_str(audit_id) {
        req.headers_mut().insert(AUDIT_ID_HEADER, id);
    }
    match req.extensions().get::<ClientAddr>().and_then(|a| HeaderValue::from_str(&a.0.ip().to_string()).ok()) {
        Some(client) => drop(req.headers_mut().insert(FORWARDED_FOR, client)),
        None => drop(req.headers_mut().remove(FORWARDED_FOR)),
    }
    let (mut parts, incoming) = req.into_parts();
    parts.uri = url.parse().map_err(|source| Failure::BadTarget { target: url, source })?;
    parts.extensions = http::Extensions::new();
    // Clients may speak HTTP/2 to the proxy; the pooled shard connections are HTTP/1.1.
    parts.version = http::Version::HTTP_11;
    let limited = http_body_util::Limited::new(incoming, MAX_BODY).map_err(BoxError::from).boxed_unsync();
    Ok(http::Request::from_parts(parts, limited))
}

/// A write through the merged view may carry a merged resourceVersion (from an object the
/// client read there): the shard gets its own revision instead.
async fn localize(req: Req, shard: &str) -> Result<Req, Failure> {
    if !matches!(*req.method(), http::Method::PUT | http::Method::PATCH) {
        return Ok(req);
    }
    let (parts, incoming) = req.into_parts();
    let bytes = http_body_util::Limited::new(incoming, MAX_BODY).collect().await.map_err(|_| Failure::TooLarge { limit: MAX_BODY })?.to_bytes();
    let bytes = crate::merged::rv::localize_body(&bytes, shard).map(Bytes::from).unwrap_or(bytes);
    let mut parts = parts;
    parts.headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Ok(http::Request::from_parts(parts, http_body_util::Full::new(bytes).map_err(|never| match never {}).boxed_unsync()))
}

/// Relays the shard's answer without its hop-by-hop headers. A small answer of known length
/// goes out in one write (one TLS record, one syscall); anything else, watches above all,
/// streams as it comes.
async fn finish(answer: http::Response<Incoming>, shard: &str) -> Result<Response, Failure> {
    let (mut parts, incoming) = answer.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(*name);
    }
    let length = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n <= BUFFERED_RESPONSE) {
        let bytes = incoming.collect().await.map(|b| b.to_bytes()).map_err(|source| Failure::ReadingAnswer { shard: shard.to_string(), source })?;
        return Ok(http::Response::from_parts(parts, body::full(bytes)));
    }
    Ok(http::Response::from_parts(parts, EndOnError(incoming).boxed_unsync()))
}

/// Removes what a client may not say about itself (identity headers, hop headers) and adds the
/// identity the proxy established. Impersonation headers pass: the shard judges them with the
/// target workspace's RBAC, as for direct requests.
pub(crate) fn prepare_headers(headers: &mut HeaderMap, identity: &Identity) {
    let spoofable: Vec<HeaderName> = headers
        .keys()
        .filter(|k| {
            let k = k.as_str();
            k.starts_with("x-remote-") || HOP_BY_HOP.contains(&k)
        })
        .cloned()
        .collect();
    for name in spoofable {
        headers.remove(name);
    }
    let Identity::User(user) = identity else { return };
    // The shard trusts the headers; the credential itself stays here.
    headers.remove(http::header::AUTHORIZATION);
    let value = |s: &str| HeaderValue::from_str(s).ok();
    if let Some(v) = value(&user.name) {
        headers.insert(REMOTE_USER, v);
    }
    // An initializer's or terminator's group is given by its view inside a workspace, never asserted.
    for g in user.groups.iter().filter(|g| !apimachinery::auth::is_lifecycle_group(g)).filter_map(|g| value(g)) {
        headers.append(REMOTE_GROUP, g);
    }
    for (key, values) in &user.extra {
        let Ok(name) = HeaderName::from_bytes(format!("{REMOTE_EXTRA_PREFIX}{}", escape(key)).as_bytes()) else { continue };
        for v in values.iter().filter_map(|v| value(v)) {
            headers.append(name.clone(), v);
        }
    }
}

/// Percent-escapes everything but unreserved characters, as kube escapes an extra key for a
/// header name (`url.PathEscape`); also a safe encoding of query components.
pub(crate) fn escape(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A streamed upstream body that ends (instead of failing) when the shard's stream breaks: the
/// client sees a truncated response, as with any proxy.
struct EndOnError(Incoming);

impl http_body::Body for EndOnError {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match Pin::new(&mut self.0).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "upstream body ended with an error");
                Poll::Ready(None)
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_cannot_smuggle_identity() {
        let mut h = HeaderMap::new();
        h.insert("x-remote-user", "admin".parse().expect("header"));
        h.insert("x-remote-group", "system:masters".parse().expect("header"));
        h.insert("impersonate-user", "admin".parse().expect("header"));
        h.insert("x-remote-cluster", "root:elsewhere".parse().expect("header"));
        h.insert("authorization", "Bearer secret".parse().expect("header"));
        h.insert("accept", "application/json".parse().expect("header"));
        let mut anon = h.clone();
        prepare_headers(&mut anon, &Identity::Anonymous);
        assert!(anon.get("x-remote-user").is_none() && anon.get("x-remote-group").is_none() && anon.get("x-remote-cluster").is_none());
        assert!(anon.get("impersonate-user").is_some(), "the shard decides on impersonation");
        assert!(anon.get("authorization").is_some(), "the shard authenticates what the proxy could not");
        let mut user = UserInfo { name: "alice".into(), groups: vec!["dev".into(), "system:kcp:initializer:root:gated".into()], ..Default::default() };
        user.extra.insert("authentication.kcp.io/scopes".into(), vec!["cluster:a".into()]);
        prepare_headers(&mut h, &Identity::User(user));
        assert_eq!(h.get("x-remote-user").map(|v| v.to_str().unwrap_or_default()), Some("alice"));
        assert_eq!(h.get_all("x-remote-group").iter().count(), 1, "an initializer's group is never asserted");
        assert!(h.get("x-remote-extra-authentication.kcp.io%2Fscopes").is_some(), "{h:?}");
        assert!(h.get("authorization").is_none());
        assert!(h.get("accept").is_some());
    }
}
