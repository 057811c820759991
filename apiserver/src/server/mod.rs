//! The HTTPS server: TLS accept, HTTP/1.1 and HTTP/2, graceful shutdown.
//!
//! `serve` owns connections only; what happens to a request is decided in [`stack`].

pub mod access;
pub mod authenticate;
pub mod bodies;
pub mod computed;
pub mod connection;
pub mod discovery;
pub mod endpoint;
pub mod exposition;
pub mod fairness;
pub mod metrics;
pub mod openapi;
pub mod phase;
pub mod probes;
pub mod stack;
pub mod top;

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::auth::authn::{self, Peer};
use crate::rest;
pub use connection::ConnectionLimits;
use http_body_util::BodyExt;
pub use stack::{BinaryPhases, Handler};

/// How often an HTTP/2 connection is pinged when the peer has sent nothing.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);

/// How long a ping may go unanswered before the connection is closed.
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// How long shutdown waits for in-flight requests before closing connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Boxes hyper's body into the stack's request body type. A body left unread is drained (see
/// [`bodies`]) unless the client sent `Expect: 100-continue`: it then waits for our answer
/// before uploading, and reading on would make hyper send the `100 Continue` a refusal withholds.
fn into_stack_request(req: http::Request<hyper::body::Incoming>, in_flight: connection::InFlight) -> phase::Req {
    let expects_continue = req.headers().get(http::header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expects_continue {
        req.map(BodyExt::boxed_unsync)
    } else {
        req.map(|body| bodies::DrainOnDrop::new(body, in_flight).boxed_unsync())
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
/// Connections that keep the server waiting are closed as [`ConnectionLimits`] says.
pub async fn serve<H: Serves>(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    peers: Arc<authn::Peers>,
    handler: Arc<H>,
    limits: ConnectionLimits,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    // Every connection task holds a sender; all of them gone means every connection has ended.
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
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
        let accepted = tokio::time::Instant::now();
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let handler = handler.clone();
        let peers = peers.clone();
        let shutdown = shutdown.clone();
        let open = open.clone();
        tokio::spawn(async move {
            // The handshake counts toward the first request's headers, as in Go's net/http.
            let tls = match tokio::time::timeout_at(accepted + limits.request_header_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(%remote, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            // A certificate that chains to no trusted CA identifies nobody (401 later).
            let peer = tls.get_ref().1.peer_certificates().and_then(|chain| peers.classify(chain));
            let activity = connection::Activity::new(limits, accepted, http2);
            let requests = activity.clone();
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                let peer = peer.clone();
                let in_flight = requests.start();
                let reading = requests.start();
                async move {
                    let head = req.method() == http::Method::HEAD;
                    let mut req = into_stack_request(req, reading);
                    req.extensions_mut().insert(crate::audit::ClientAddr(remote));
                    match peer {
                        Some(Peer::User(p)) => req.extensions_mut().insert(p).map(drop),
                        Some(Peer::Proxy(p)) => req.extensions_mut().insert(p).map(drop),
                        None => None,
                    };
                    let resp = handler.answer(req).await;
                    let resp = if head { bodies::head_answer(resp) } else { resp };
                    // In flight until the last byte of the answer is out: watches have no deadline.
                    Ok::<_, std::convert::Infallible>(resp.map(|body| bodies::Guarded::new(body, in_flight)))
                }
            });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // Streams (watches, the cache's gRPC streams) of a peer that vanished without closing
            // its connection would otherwise live until TCP gives up, hours later.
            builder.http2().timer(hyper_util::rt::TokioTimer::new()).keep_alive_interval(Some(HTTP2_PING_INTERVAL)).keep_alive_timeout(HTTP2_PING_TIMEOUT);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(connection::Watched::new(tls, activity.clone())), service);
            drive(conn, &activity, shutdown, remote).await;
            drop(open);
        });
    }
    drop(listener);
    drop(open);
    if tokio::time::timeout(DRAIN_TIMEOUT, all_closed.recv()).await.is_err() {
        tracing::warn!("in-flight requests did not drain within {DRAIN_TIMEOUT:?}");
    }
}

/// Runs one connection until it ends, its time runs out, or the server shuts down (then it
/// finishes what is in flight and closes).
async fn drive<C>(conn: C, activity: &connection::Activity, mut shutdown: tokio::sync::watch::Receiver<bool>, remote: std::net::SocketAddr)
where
    C: std::future::Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Closable,
{
    tokio::pin!(conn);
    loop {
        tokio::select! {
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(%remote, error = %e, "connection ended with error");
                }
                return;
            }
            expiry = activity.expired() => match expiry {
                connection::Expiry::Idle => {
                    activity.closing();
                    conn.as_mut().shut_down();
                }
                connection::Expiry::Stalled => {
                    tracing::debug!(%remote, "closing a connection whose request headers did not arrive in time");
                    return;
                }
            },
            // A dropped sender (server gone) counts as shutdown too.
            _ = shutdown.wait_for(|stop| *stop), if !activity.is_closing() => {
                activity.closing();
                conn.as_mut().shut_down();
            }
        }
    }
}

/// hyper's connections that can close after what is in flight (HTTP/2: with a GOAWAY).
trait Closable {
    fn shut_down(self: std::pin::Pin<&mut Self>);
}

impl<I, S, E> Closable for auto::UpgradeableConnection<'_, I, S, E>
where
    S: hyper::service::HttpService<hyper::body::Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: http_body::Body + Send + 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, S::ResBody>,
{
    fn shut_down(self: std::pin::Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}
