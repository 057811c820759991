//! The HTTPS server: TLS accept, HTTP/1.1 and HTTP/2, graceful shutdown.
//!
//! `serve` owns connections only; what happens to a request is decided in [`stack`].

pub mod access;
pub mod authn;
pub mod authz;
pub mod bodies;
pub mod discovery;
pub mod endpoint;
pub mod inactive;
pub mod limit;
pub mod metrics;
pub mod phase;
pub mod probes;
pub mod stack;

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use authn::Peer;
use crate::rest;
use http_body_util::BodyExt;
pub use stack::Handler;

/// How long shutdown waits for in-flight requests before closing connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Boxes hyper's body into the stack's request body type. A body left unread is drained (see
/// [`bodies`]) unless the client sent `Expect: 100-continue`: it then waits for our answer
/// before uploading, and reading on would make hyper send the `100 Continue` a refusal withholds.
fn into_stack_request(req: http::Request<hyper::body::Incoming>) -> phase::Req {
    let expects_continue = req.headers().get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        req.map(BodyExt::boxed_unsync)
    } else {
        req.map(|body| bodies::DrainOnDrop::new(body).boxed_unsync())
    }
}

/// What answers the requests of a server: a shard's [`Handler`], or the front-proxy.
pub trait Serves: Send + Sync + 'static {
    /// Answers one request (authentication and all).
    fn answer(&self, req: phase::Req) -> impl std::future::Future<Output = rest::body::Response> + Send;
}

impl Serves for Handler {
    fn answer(&self, req: phase::Req) -> impl std::future::Future<Output = rest::body::Response> + Send {
        self.call(req)
    }
}

/// Accepts TLS connections until `shutdown` turns true, then drains in-flight requests.
pub async fn serve<H: Serves>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    peers: Arc<authn::Peers>,
    handler: Arc<H>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        let peers = peers.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            // A certificate that chains to no trusted CA identifies nobody (401 later).
            let peer = tls.get_ref().1.peer_certificates().and_then(|chain| peers.classify(chain));
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                let peer = peer.clone();
                async move {
                    let head = req.method() == http::Method::HEAD;
                    let mut req = into_stack_request(req);
                    match peer {
                        Some(Peer::User(p)) => req.extensions_mut().insert(p).map(drop),
                        Some(Peer::Proxy(p)) => req.extensions_mut().insert(p).map(drop),
                        None => None,
                    };
                    let resp = handler.answer(req).await;
                    Ok::<_, std::convert::Infallible>(if head { bodies::head_answer(resp) } else { resp })
                }
            });
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%remote, error = %e, "connection ended with error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("in-flight requests did not drain within {DRAIN_TIMEOUT:?}");
    }
}
