//! The connection to an etcd cluster: one HTTP/2 channel that fails over between members.
//!
//! tonic's channel reconnects through our connector whenever its connection breaks; the
//! connector tries the members in turn, starting after the one it reached last, so a dead
//! member costs one failed connect and the next call goes to a live one. Every unary call runs
//! under a deadline so that a cluster without quorum answers "unavailable" instead of hanging.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use proto::etcd as pb;
use tonic::transport::{Channel, Endpoint};

use crate::pki::{client_config, CertPair, PkiError};
use crate::storage::StorageError;

/// How long connecting to one member (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one request may take; etcd itself gives up on a write without quorum after about
/// seven seconds, and a client waiting that long is better told to retry.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer accepted: a list chunk or a batch of watch events can hold many objects of up
/// to etcd's 1.5 MiB request limit each, far beyond tonic's 4 MiB default.
const MAX_MESSAGE_BYTES: usize = 512 * 1024 * 1024;
/// HTTP/2 pings on a busy connection notice a member that vanished without closing it. etcd
/// closes connections that ping more often than every 5 s, so this stays above that.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Client certificate, key and CA for etcd's TLS client port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTls {
    /// CA bundle that signed the members' serving certificates.
    pub ca_file: PathBuf,
    /// Client certificate and key presented to etcd, when it asks for one.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Why a connection to etcd could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No `--etcd-servers` were given.
    #[error("no etcd servers configured")]
    NoServers,
    /// A server is not an `http://host:port` or `https://host:port` URL.
    #[error("etcd server {0:?} is not an http:// or https:// URL with a host")]
    BadUrl(String),
    /// An `https://` server was given without a CA to check it against.
    #[error("etcd server {0:?} uses https but no --etcd-cafile was given")]
    TlsWithoutCa(String),
    /// A TLS file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS material is unusable.
    #[error("etcd TLS configuration")]
    Pki(#[from] PkiError),
    /// tonic rejected the endpoint.
    #[error("etcd endpoint")]
    Transport(#[from] tonic::transport::Error),
}

/// One etcd member's client address.
#[derive(Debug, Clone)]
struct Member {
    host: String,
    port: u16,
    tls: bool,
}

fn parse_member(url: &str) -> Result<Member, ConnectError> {
    let bad = || ConnectError::BadUrl(url.to_owned());
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(bad()),
    };
    let host = uri.host().ok_or_else(bad)?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = uri.port_u16().unwrap_or(2379);
    Ok(Member { host, port, tls })
}

fn read(path: &Path) -> Result<String, ConnectError> {
    std::fs::read_to_string(path).map_err(|source| ConnectError::Read { path: path.to_owned(), source })
}

/// The rustls client for etcd's TLS port; gRPC needs HTTP/2, so that is the one ALPN offered.
fn tls_config(tls: &EtcdTls) -> Result<Arc<rustls::ClientConfig>, ConnectError> {
    let client = match &tls.client {
        Some((cert, key)) => Some(CertPair { cert_pem: read(cert)?, key_pem: read(key)? }),
        None => None,
    };
    let mut config = client_config(&read(&tls.ca_file)?, client.as_ref())?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Opens a lazily connecting channel to the members at `servers`.
pub(super) fn channel(servers: &[String], tls: Option<&EtcdTls>) -> Result<Channel, ConnectError> {
    let members = servers.iter().map(|s| parse_member(s)).collect::<Result<Vec<_>, _>>()?;
    if members.is_empty() {
        return Err(ConnectError::NoServers);
    }
    let tls = match (members.iter().position(|m| m.tls), tls) {
        (Some(i), None) => return Err(ConnectError::TlsWithoutCa(servers[i].clone())),
        (_, Some(tls)) => Some(tls_config(tls)?),
        (None, None) => None,
    };
    let members: Arc<[Member]> = members.into();
    let next = Arc::new(AtomicUsize::new(0));
    let connector = tower::service_fn(move |_: http::Uri| {
        let (members, next, tls) = (Arc::clone(&members), Arc::clone(&next), tls.clone());
        async move {
            let start = next.load(Ordering::Relaxed);
            let mut last_error = None;
            for offset in 0..members.len() {
                let i = (start + offset) % members.len();
                match tokio::time::timeout(CONNECT_TIMEOUT, connect(&members[i], tls.as_ref())).await {
                    Ok(Ok(io)) => {
                        // The next reconnect starts after this member, so a member that accepts
                        // connections but serves nothing is not retried forever.
                        next.store(i + 1, Ordering::Relaxed);
                        return Ok(io);
                    }
                    Ok(Err(e)) => last_error = Some(e),
                    Err(_) => {
                        last_error = Some(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("connecting to {}:{}", members[i].host, members[i].port)))
                    }
                }
            }
            next.store(start + 1, Ordering::Relaxed);
            Err(last_error.unwrap_or_else(|| std::io::Error::other("no etcd member")))
        }
    });
    // The URI only names the HTTP/2 authority; the connector above picks the member.
    let endpoint = Endpoint::from_shared(servers[0].clone())?
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    Ok(endpoint.connect_with_connector_lazy(connector))
}

/// Either side of a member connection, boxed so both schemes share one connector type.
type MemberIo = TokioIo<Box<dyn IoStream>>;

/// A byte stream to a member, plain or TLS.
trait IoStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> IoStream for T {}

async fn connect(member: &Member, tls: Option<&Arc<rustls::ClientConfig>>) -> std::io::Result<MemberIo> {
    let tcp = tokio::net::TcpStream::connect((member.host.as_str(), member.port)).await?;
    tcp.set_nodelay(true)?;
    let stream: Box<dyn IoStream> = match (member.tls, tls) {
        (true, Some(tls)) => {
            let name = rustls_pki_types::ServerName::try_from(member.host.clone()).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Box::new(tokio_rustls::TlsConnector::from(Arc::clone(tls)).connect(name, tcp).await?)
        }
        _ => Box::new(tcp),
    };
    Ok(TokioIo::new(stream))
}

/// Maps a failed call to the storage error the REST layer understands.
///
/// Transport failures, deadlines and etcd's "no leader"/"request timed out" answers (all
/// `Unavailable` or `DeadlineExceeded`) can succeed on retry, so they become
/// [`StorageError::Unreachable`] (503 with Retry-After); a compacted revision is
/// [`StorageError::Expired`]; anything else is a plain failure.
pub(super) fn status_error(status: tonic::Status, requested: u64) -> StorageError {
    use tonic::Code;
    match status.code() {
        Code::OutOfRange if status.message().contains("compacted") => StorageError::Expired { requested, oldest: 0 },
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted | Code::ResourceExhausted | Code::Unknown => {
            StorageError::Unreachable(format!("etcd: {}", status.message()))
        }
        _ => StorageError::Unavailable(format!("etcd answered {}: {}", status.code(), status.message())),
    }
}

/// Runs one unary call under [`REQUEST_TIMEOUT`].
pub(super) async fn call<T>(requested: u64, fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>) -> Result<T, StorageError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(status_error(status, requested)),
        Err(_) => Err(StorageError::Unreachable(format!("etcd did not answer within {REQUEST_TIMEOUT:?}"))),
    }
}

/// The clients of the three etcd services the backend uses, over one channel.
#[derive(Clone)]
pub(super) struct Clients {
    pub kv: pb::kv_client::KvClient<Channel>,
    pub watch: pb::watch_client::WatchClient<Channel>,
    pub maintenance: pb::maintenance_client::MaintenanceClient<Channel>,
}

impl Clients {
    pub(super) fn new(channel: Channel) -> Self {
        Clients {
            kv: pb::kv_client::KvClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
            watch: pb::watch_client::WatchClient::new(channel.clone()).max_decoding_message_size(MAX_MESSAGE_BYTES),
            maintenance: pb::maintenance_client::MaintenanceClient::new(channel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_urls_are_parsed_with_the_etcd_default_port() {
        let m = parse_member("https://[::1]:2379").expect("ipv6");
        assert_eq!((m.host.as_str(), m.port, m.tls), ("::1", 2379, true));
        let m = parse_member("http://etcd-0").expect("no port");
        assert_eq!((m.host.as_str(), m.port, m.tls), ("etcd-0", 2379, false));
        assert!(matches!(parse_member("etcd-0:2379"), Err(ConnectError::BadUrl(_))));
        assert!(matches!(parse_member("unix:///run/etcd.sock"), Err(ConnectError::BadUrl(_))));
    }

    #[test]
    fn https_needs_a_ca_and_an_empty_list_is_refused() {
        assert!(matches!(channel(&[], None), Err(ConnectError::NoServers)));
        assert!(matches!(channel(&["https://a:2379".to_owned()], None), Err(ConnectError::TlsWithoutCa(_))));
    }

    #[test]
    fn call_failures_map_to_retryable_expired_or_plain_errors() {
        let unreachable = status_error(tonic::Status::unavailable("etcdserver: no leader"), 0);
        assert!(matches!(unreachable, StorageError::Unreachable(_)));
        let compacted = status_error(tonic::Status::out_of_range("etcdserver: mvcc: required revision has been compacted"), 7);
        assert!(matches!(compacted, StorageError::Expired { requested: 7, .. }));
        let other = status_error(tonic::Status::invalid_argument("etcdserver: key is not provided"), 0);
        assert!(matches!(other, StorageError::Unavailable(_)));
    }
}
