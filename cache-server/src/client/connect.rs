//! Opening publish and subscribe streams to a [`Target`].
//!
//! Remote channels use short connect timeouts and HTTP/2 keepalive pings, so that a replica
//! that vanishes without closing its connections (a dead host) is noticed within a second.

use std::time::Duration;

use futures::StreamExt;
use hyper_util::rt::TokioIo;
use proto::cache as pb;
use tonic::transport::{Channel, Endpoint};

use super::Target;
use crate::grpc::MAX_MESSAGE_BYTES;
use crate::replica::WireStream;

/// How long connecting to a replica (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often an open connection is pinged, and how long the answer may take.
const KEEPALIVE_INTERVAL: Duration = Duration::from_millis(200);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_millis(300);

/// Why a stream to a replica could not be opened or broke.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The TLS material of a target is unusable.
    #[error("TLS configuration")]
    Pki(#[from] apiserver::pki::PkiError),
    /// The replica could not be reached.
    #[error("connecting to the replica")]
    Transport(#[from] tonic::transport::Error),
    /// The replica refused or ended the call.
    #[error("replica answered {}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
}

async fn channel(url: &str, tls: std::sync::Arc<rustls::ClientConfig>) -> Result<Channel, ClientError> {
    let connector = tower::service_fn(move |uri: http::Uri| {
        let tls = tls.clone();
        async move {
            let host = uri.host().unwrap_or("localhost").trim_start_matches('[').trim_end_matches(']').to_string();
            let port = uri.port_u16().unwrap_or(443);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let name = rustls_pki_types::ServerName::try_from(host).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let stream = tokio_rustls::TlsConnector::from(tls).connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    let endpoint = Endpoint::from_shared(url.to_string())?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true);
    Ok(tokio::time::timeout(CONNECT_TIMEOUT, endpoint.connect_with_connector(connector))
        .await
        .map_err(|_| tonic::Status::deadline_exceeded("connecting to the replica timed out"))??)
}

/// Opens a publish stream sending `requests`; the answer is the stream of acknowledgements.
pub(super) async fn publish<S>(target: &Target, requests: S) -> Result<WireStream<pb::PublishAck>, ClientError>
where
    S: futures::Stream<Item = pb::PublishRequest> + Send + Unpin + 'static,
{
    match target {
        Target::Local(replica) => Ok(replica.publish(requests.map(Ok))),
        Target::Remote { url, tls } => {
            let mut client = pb::publish_client::PublishClient::new(channel(url, tls.clone()).await?).max_decoding_message_size(MAX_MESSAGE_BYTES);
            let acks = client.publish(requests).await?.into_inner();
            Ok(Box::pin(acks))
        }
    }
}

/// Opens a subscription.
pub(super) async fn subscribe(target: &Target, request: pb::SubscribeRequest) -> Result<WireStream<pb::SubscribeEvent>, ClientError> {
    match target {
        Target::Local(replica) => Ok(replica.subscribe(request)),
        Target::Remote { url, tls } => {
            let mut client = pb::subscribe_client::SubscribeClient::new(channel(url, tls.clone()).await?).max_decoding_message_size(MAX_MESSAGE_BYTES);
            let events = tokio::time::timeout(CONNECT_TIMEOUT, client.subscribe(request))
                .await
                .map_err(|_| tonic::Status::deadline_exceeded("the replica did not answer the subscription in time"))??;
            Ok(Box::pin(events.into_inner()))
        }
    }
}
