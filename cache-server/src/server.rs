//! The one TLS port: probes open to all, everything else only for `system:masters` client
//! certificates; gRPC (`content-type: application/grpc`) goes to the tonic services, the
//! rest to the REST view and `/metrics`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use apimachinery::request::RequestInfo;
use apimachinery::status::{ApiError, Reason};
use apiserver::auth::authn::{PeerSubject, Peers};
use apiserver::rest::body;
use apiserver::server::metrics::{long_running, LatencyLabels};
use apiserver::server::phase::Req;
use apiserver::server::{probes, Serves};
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::config::CacheConfig;
use crate::error::CacheError;
use crate::grpc::Services;
use crate::replica::Replica;

/// The group whose members may use the cache server.
pub const ALLOWED_GROUP: &str = "system:masters";

/// Answers every request of the port.
pub struct CacheServer {
    replica: Replica,
    services: Services,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Who may do what, by the client certificate the connection presented.
fn authorize(req: &Req) -> Result<(), ApiError> {
    match req.extensions().get::<PeerSubject>() {
        None => Err(ApiError::unauthorized()),
        Some(PeerSubject(_, groups)) if groups.iter().any(|g| g == ALLOWED_GROUP) => Ok(()),
        Some(PeerSubject(user, _)) => {
            Err(ApiError::new(Reason::Forbidden, format!("user \"{user}\" cannot use the cache server: only group {ALLOWED_GROUP} may")))
        }
    }
}

fn is_grpc(req: &Req) -> bool {
    req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("application/grpc"))
}

impl CacheServer {
    /// The server of `replica`, closing streams when `shutdown` turns true.
    pub fn new(replica: Replica, shutdown: tokio::sync::watch::Receiver<bool>) -> CacheServer {
        CacheServer { services: Services::new(replica.clone(), shutdown.clone()), replica, shutdown }
    }

    fn probe(&self, path: &str, verbose: bool) -> Option<body::Response> {
        let name = path.strip_prefix('/')?;
        let draining = *self.shutdown.borrow();
        match name {
            "healthz" | "livez" => Some(probes::render(name, &[("ping", true)], verbose)),
            "readyz" => Some(probes::render(name, &[("ping", true), ("shutdown", !draining)], verbose)),
            _ => None,
        }
    }

    async fn grpc(&self, req: Req) -> body::Response {
        let path = req.uri().path().to_string();
        let answer = if path.starts_with("/kcp.cache.v1.Publish/") {
            self.services.publish_server().oneshot(req).await
        } else if path.starts_with("/kcp.cache.v1.Subscribe/") {
            self.services.subscribe_server().oneshot(req).await
        } else {
            Ok(tonic::Status::unimplemented(format!("no gRPC method {path}")).into_http())
        };
        match answer {
            Ok(resp) => resp.map(|b| GrpcBody(b).boxed_unsync()),
            Err(never) => match never {},
        }
    }
}

/// The request metrics' labels of a request to the cache: its REST view's requests are labelled
/// like a shard's; the gRPC streams by service (`publish`, `subscribe`) and long-running.
fn labels(req: &Req) -> (LatencyLabels, bool) {
    let path = req.uri().path();
    if is_grpc(req) {
        let service = path.trim_start_matches('/').split('/').next().unwrap_or_default();
        let verb = match service {
            "kcp.cache.v1.Publish" => "publish",
            "kcp.cache.v1.Subscribe" => "subscribe",
            _ => "post",
        };
        return (LatencyLabels { verb: verb.into(), group: String::new(), resource: String::new() }, verb != "post");
    }
    // `/services/cache/shards/<s>/clusters/...` reads as `/clusters/...` does on a shard.
    let view = path.strip_prefix(crate::rest::PREFIX).and_then(|p| p.strip_prefix("/shards/")).and_then(|p| p.find('/').map(|i| &p[i..]));
    match RequestInfo::parse(req.method(), view.unwrap_or(path), req.uri().query()) {
        Ok(info) => (LatencyLabels::of(&info), long_running(req.method(), req.uri(), &info)),
        Err(_) => (LatencyLabels::of_method(req.method()), false),
    }
}

impl Serves for CacheServer {
    async fn answer(&self, req: Req) -> body::Response {
        let (labels, long) = labels(&req);
        let observed = self.replica.metrics().requests.begin(labels, long);
        observed.finish(self.serve(req).await)
    }
}

impl CacheServer {
    async fn serve(&self, req: Req) -> body::Response {
        let verbose = req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv == "verbose" || kv.starts_with("verbose=")));
        if let Some(resp) = self.probe(req.uri().path(), verbose) {
            return resp;
        }
        if let Err(refused) = authorize(&req) {
            if is_grpc(&req) {
                let status =
                    if refused.code() == 401 { tonic::Status::unauthenticated(refused.message) } else { tonic::Status::permission_denied(refused.message) };
                return status.into_http::<tonic::body::Body>().map(|b| GrpcBody(b).boxed_unsync());
            }
            return body::error(&refused);
        }
        if is_grpc(&req) {
            return self.grpc(req).await;
        }
        if req.uri().path() == "/metrics" {
            let accept = req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok());
            return self.replica.metrics().answer(&self.replica.store(), accept);
        }
        crate::rest::answer(&self.replica, req.method(), req.uri(), self.shutdown.clone())
    }
}

/// A tonic response body in the server's body type. gRPC reports failures in trailers, so a
/// body error only happens when the stream itself broke: it ends the body (the client then
/// sees a stream without status and retries).
struct GrpcBody(tonic::body::Body);

impl http_body::Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        match Pin::new(&mut self.0).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Err(status))) => {
                tracing::debug!(%status, "gRPC response body failed");
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

/// Serves a replica on the configured port until `shutdown`; `on_listening` learns the
/// address once bound (port 0 picks one).
pub async fn run(config: CacheConfig, shutdown: tokio::sync::watch::Receiver<bool>, on_listening: impl FnOnce(SocketAddr)) -> Result<(), CacheError> {
    let read = |path: &std::path::Path| std::fs::read_to_string(path).map_err(|source| CacheError::Read { path: path.to_owned(), source });
    let client_cas = vec![read(&config.client_ca_file)?];
    let tls = apiserver::pki::server_config_from_files(&config.tls_cert_file, &config.tls_private_key_file, &client_cas)?;
    let peers = Peers::clients_only(&client_cas)?;
    let address = SocketAddr::new(config.bind_address, config.secure_port);
    let listener = tokio::net::TcpListener::bind(address).await.map_err(|source| CacheError::Listen { address, source })?;
    let bound = listener.local_addr().map_err(|source| CacheError::Listen { address, source })?;
    let replica = Replica::new(config.history_size, Arc::default());
    tracing::info!(address = %bound, "cache server listening");
    on_listening(bound);
    let server = Arc::new(CacheServer::new(replica, shutdown.clone()));
    apiserver::server::serve(listener, Arc::new(tls), Arc::new(peers), server, config.limits, shutdown).await;
    Ok(())
}
