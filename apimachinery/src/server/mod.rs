//! The HTTPS server: TLS accept, HTTP/1.1 and HTTP/2, graceful shutdown.
//!
//! `serve` owns connections only; what happens to a request is decided in [`stack`].

pub mod access;
pub mod authn;
pub mod authz;
pub mod discovery;
pub mod endpoint;
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

use authn::PeerSubject;
use http_body_util::BodyExt;
pub use stack::Handler;

/// How long shutdown waits for in-flight requests before closing connections.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Boxes hyper's body into the stack's request body type.
fn into_stack_request(req: http::Request<hyper::body::Incoming>) -> phase::Req {
    req.map(BodyExt::boxed_unsync)
}

/// Accepts TLS connections until `shutdown` turns true, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    clients: Arc<crate::pki::ClientCertAuthority>,
    handler: Arc<Handler>,
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
        let clients = clients.clone();
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
            // A certificate that does not chain to a client CA identifies nobody (401 later).
            let peer = tls
                .get_ref()
                .1
                .peer_certificates()
                .filter(|chain| clients.verify(chain))
                .and_then(|chain| chain.first())
                .and_then(|c| crate::pki::subject_of(c.as_ref()).ok())
                .map(|(cn, orgs)| PeerSubject(cn, orgs));
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                let peer = peer.clone();
                async move {
                    let mut req = into_stack_request(req);
                    if let Some(p) = peer {
                        req.extensions_mut().insert(p);
                    }
                    Ok::<_, std::convert::Infallible>(handler.call(req).await)
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
