//! The proxy's request path: health probes, authentication, routing by workspace path, and
//! forwarding over mutual TLS with the identity in `X-Remote-*` headers. Bodies stream both
//! ways; a client that goes away drops the upstream request with it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use apiserver::client::{BoxError, Client};
use apimachinery::request::valid_cluster_name;
use apiserver::rest::body::{self, Response};
use apiserver::auth::authn::{PeerSubject, REMOTE_CLUSTER, REMOTE_EXTRA_PREFIX, REMOTE_GROUP, REMOTE_USER};
use apiserver::server::phase::Req;
use apiserver::server::probes;
use apiserver::server::metrics::{LatencyLabels, Metrics, RequestLabels};
use apiserver::server::Serves;
use apimachinery::status::{ApiError, Reason};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Frame;
use http_body_util::BodyExt;

use crate::identity::{Authenticators, Identity};
use crate::index::{Index, Route};

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
    /// Request counts and latencies (by method and code) and certificate expiry.
    pub metrics: Arc<Metrics>,
    /// Where every shard and workspace is; resolves each request's route.
    pub index: Arc<Index>,
    /// Decides who the caller is before the request is forwarded.
    pub authn: Authenticators,
    /// Forwards with the front-proxy's request-header client certificate.
    pub upstream: Client,
    /// Shard that serves paths outside `/clusters/` (`/version`, `/openapi`, ...).
    pub root_shard: String,
}

impl Serves for Proxy {
    async fn answer(&self, req: Req) -> Response {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let started = std::time::Instant::now();
        let response = match self.route_and_forward(req).await {
            Ok(r) => r,
            Err(e) => body::error(&e),
        };
        let code = response.status().as_u16();
        tracing::debug!(%method, %path, code, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "proxied");
        let verb = method.as_str().to_ascii_lowercase();
        self.metrics.requests.get_or_create(&RequestLabels { verb: verb.clone(), group: String::new(), resource: String::new(), code: code.to_string() }).inc();
        self.metrics.duration.get_or_create(&LatencyLabels { verb, group: String::new(), resource: String::new() }).observe(started.elapsed().as_secs_f64());
        response
    }
}

impl Proxy {
    async fn route_and_forward(&self, mut req: Req) -> Result<Response, ApiError> {
        if let Some(probe) = self.probe(&req) {
            return Ok(probe);
        }
        let authorization = req.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let identity = self.authn.identify(authorization, req.extensions().get::<PeerSubject>()).await.ok_or_else(ApiError::unauthorized)?;
        // Anonymous requests are off everywhere: one 401, before anything depends on the path.
        if identity == Identity::Anonymous {
            return Err(ApiError::unauthorized());
        }
        if req.uri().path() == "/metrics" {
            // The proxy's own metrics, for any authenticated caller.
            if !matches!(identity, Identity::User(_)) {
                return Err(ApiError::unauthorized());
            }
            return Ok(http::Response::builder().header("content-type", "text/plain; version=0.0.4").body(body::full(self.metrics.render())).unwrap_or_default());
        }
        let (route, rest, written) = self.route(req.uri().path(), &identity)?;
        let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let prefix = if route.cluster.is_empty() { String::new() } else { format!("/clusters/{}", route.cluster) };
        let target = format!("{}{prefix}{rest}{query}", route.base_url);
        if req.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok()).is_some_and(|n| n > MAX_BODY) {
            return Err(ApiError::too_large(MAX_BODY));
        }
        prepare_headers(req.headers_mut(), &identity);
        if let Some(value) = written.and_then(|w| HeaderValue::from_str(&w).ok()) {
            req.headers_mut().insert(REMOTE_CLUSTER, value);
        }
        let (mut parts, incoming) = req.into_parts();
        parts.uri = target.parse().map_err(|e| ApiError::bad_request(format!("cannot forward to {target}: {e}")))?;
        parts.extensions = http::Extensions::new();
        // Clients may speak HTTP/2 to the proxy; the pooled shard connections are HTTP/1.1.
        parts.version = http::Version::HTTP_11;
        let limited = http_body_util::Limited::new(incoming, MAX_BODY).map_err(BoxError::from).boxed_unsync();
        let upstream = self.upstream.send(http::Request::from_parts(parts, limited)).await.map_err(|e| {
            tracing::warn!(shard = %route.shard, error = %e, "shard unreachable");
            ApiError::unavailable(format!("the shard {:?} hosting this workspace is unavailable", route.shard))
        })?;
        let (mut parts, incoming) = upstream.into_parts();
        for name in HOP_BY_HOP {
            parts.headers.remove(*name);
        }
        // A small answer of known length goes out in one write (one TLS record, one syscall);
        // anything else, watches above all, streams as it comes.
        let length = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
        if length.is_some_and(|n| n <= BUFFERED_RESPONSE) {
            let bytes = incoming.collect().await.map(|b| b.to_bytes()).map_err(|e| ApiError::unavailable(format!("reading the answer of shard {:?}: {e}", route.shard)))?;
            return Ok(http::Response::from_parts(parts, body::full(bytes)));
        }
        Ok(http::Response::from_parts(parts, EndOnError(incoming).boxed_unsync()))
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

    /// The shard and logical cluster a path goes to, the rest of the path, and the cluster as the
    /// caller wrote it.
    fn route(&self, path: &str, identity: &Identity) -> Result<(Route, String, Option<String>), ApiError> {
        if let Some(after) = path.strip_prefix("/clusters/") {
            let (segment, rest) = after.split_once('/').map(|(s, r)| (s, format!("/{r}"))).unwrap_or((after, String::new()));
            if segment == "*" {
                return Err(ApiError::new(Reason::Forbidden, "forbidden: requests across all workspaces are not served through the front-proxy"));
            }
            // A name no workspace can have says nothing about what exists.
            if !valid_cluster_name(segment) {
                return Err(ApiError::new(Reason::Forbidden, "forbidden: workspace access not permitted"));
            }
            // What the index does not know goes, as written, to the root shard, which refuses it
            // exactly as a shard refuses an existing workspace the caller may not access (or
            // serves it, when the index merely lags behind).
            let route = match self.index.lookup(segment) {
                Some(route) => route,
                None => Route { cluster: segment.to_string(), ..self.root_route(path)? },
            };
            return Ok((route, rest, Some(segment.to_string())));
        }
        // In-cluster clients call without a prefix: their token says where they belong.
        if let Identity::ServiceAccount(claims) = identity {
            if let Some(route) = self.index.lookup(&claims.kubernetes.cluster) {
                return Ok((route, path.to_string(), None));
            }
        }
        Ok((self.root_route(path)?, path.to_string(), None))
    }

    /// The root shard, which serves paths outside `/clusters/`; virtual workspaces
    /// (`/services/...`) live behind its own URL.
    fn root_route(&self, path: &str) -> Result<Route, ApiError> {
        let base_url = if path.starts_with("/services/") { self.index.virtual_workspace_url(&self.root_shard) } else { self.index.shard_url(&self.root_shard) };
        let base_url = base_url.ok_or_else(|| ApiError::unavailable("the root shard is not known yet"))?;
        Ok(Route { shard: self.root_shard.clone(), base_url, cluster: String::new() })
    }
}

/// Removes what a client may not say about itself (identity headers, hop headers) and adds the
/// identity the proxy established. Impersonation headers pass: the shard judges them with the
/// target workspace's RBAC, as for direct requests.
fn prepare_headers(headers: &mut HeaderMap, identity: &Identity) {
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
    for g in user.groups.iter().filter_map(|g| value(g)) {
        headers.append(REMOTE_GROUP, g);
    }
    for (key, values) in &user.extra {
        let Ok(name) = HeaderName::from_bytes(format!("{REMOTE_EXTRA_PREFIX}{}", escape(key)).as_bytes()) else { continue };
        for v in values.iter().filter_map(|v| value(v)) {
            headers.append(name.clone(), v);
        }
    }
}

/// Escapes an extra key for a header name as kube does (`url.PathEscape`).
fn escape(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A streamed upstream body that ends (instead of failing) when the shard's stream breaks: the
/// client sees a truncated response, as with any proxy.
struct EndOnError(hyper::body::Incoming);

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
    use apimachinery::auth::UserInfo;

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
        let mut user = UserInfo { name: "alice".into(), groups: vec!["dev".into()], ..Default::default() };
        user.extra.insert("authentication.kcp.io/scopes".into(), vec!["cluster:a".into()]);
        prepare_headers(&mut h, &Identity::User(user));
        assert_eq!(h.get("x-remote-user").map(|v| v.to_str().unwrap_or_default()), Some("alice"));
        assert_eq!(h.get_all("x-remote-group").iter().count(), 1);
        assert!(h.get("x-remote-extra-authentication.kcp.io%2Fscopes").is_some(), "{h:?}");
        assert!(h.get("authorization").is_none());
        assert!(h.get("accept").is_some());
    }
}
