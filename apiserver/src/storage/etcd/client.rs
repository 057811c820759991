//! The connection to an etcd cluster: one HTTP/2 connection that fails over between members.
//!
//! When the connection breaks, the next call connects again, trying the members in turn from
//! the one after the member it reached last, so a dead member costs one failed connect and the
//! next call goes to a live one. Every unary call runs under a deadline so that a cluster
//! without quorum answers "unavailable" instead of hanging.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proto::etcd as pb;

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

/// The shared connection to the cluster, usable by tonic's generated clients.
///
/// A call goes straight onto the current HTTP/2 connection: its frames are queued by the
/// calling task and written by the connection's task, and the answer is read by the caller.
/// (tonic's own channel puts a dispatcher task and a task per call between the two, which
/// costs several thread wake-ups per etcd round trip; a shard makes one or more per request.)
/// A broken connection is replaced by the next call, through the members in turn.
#[derive(Clone)]
pub(super) struct Channel {
    inner: Arc<Members>,
}

/// The members and the connection to one of them.
struct Members {
    members: Vec<Member>,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// The member to try first on the next connect: the one after the last reached, so a
    /// member that accepts connections but serves nothing is not retried forever.
    next: AtomicUsize,
    current: std::sync::Mutex<Option<Connection>>,
    /// Held while connecting, so that callers waiting for a connection share one.
    connecting: tokio::sync::Mutex<()>,
}

/// One open HTTP/2 connection to a member.
#[derive(Clone)]
struct Connection {
    send: h2::client::SendRequest<Bytes>,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    /// Cleared by the connection's task when the connection has ended.
    open: Arc<AtomicBool>,
    /// Calls whose answer is still being read.
    streams: Arc<AtomicUsize>,
}

/// Counts one call as open on its connection for as long as it lives.
struct OpenStream(Arc<AtomicUsize>);

impl OpenStream {
    fn new(streams: &Arc<AtomicUsize>) -> OpenStream {
        streams.fetch_add(1, Ordering::Relaxed);
        OpenStream(Arc::clone(streams))
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Per-stream receive window: a list chunk of hundreds of objects arrives without waiting for
/// window updates (hyper's client uses the same sizes).
const STREAM_WINDOW: u32 = 2 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 5 * 1024 * 1024;

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
    let inner = Members { members, tls, next: AtomicUsize::new(0), current: Default::default(), connecting: Default::default() };
    Ok(Channel { inner: Arc::new(inner) })
}

/// A transport failure, as the retryable status the storage layer turns into 503.
fn unavailable(context: &str, error: impl std::fmt::Display) -> tonic::Status {
    tonic::Status::unavailable(format!("{context}: {error}"))
}

impl Members {
    fn current(&self) -> Option<Connection> {
        let current = self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        current.as_ref().filter(|c| c.open.load(Ordering::Acquire)).cloned()
    }

    /// The open connection, or a new one to the first member that answers.
    async fn connection(&self) -> Result<Connection, tonic::Status> {
        if let Some(open) = self.current() {
            return Ok(open);
        }
        let _turn = self.connecting.lock().await;
        if let Some(open) = self.current() {
            return Ok(open);
        }
        let start = self.next.load(Ordering::Relaxed);
        let mut last_error = String::from("no etcd member");
        for offset in 0..self.members.len() {
            let i = (start + offset) % self.members.len();
            let member = &self.members[i];
            match tokio::time::timeout(CONNECT_TIMEOUT, open(member, self.tls.as_ref())).await {
                Ok(Ok(connection)) => {
                    self.next.store(i + 1, Ordering::Relaxed);
                    *self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(connection.clone());
                    return Ok(connection);
                }
                Ok(Err(error)) => last_error = format!("connecting to {}:{}: {error}", member.host, member.port),
                Err(_) => last_error = format!("connecting to {}:{}: timed out", member.host, member.port),
            }
        }
        self.next.store(start + 1, Ordering::Relaxed);
        // Member addresses are for the operator's log; callers learn only that storage is away.
        tracing::debug!(error = %last_error, "no etcd member reachable");
        Err(tonic::Status::unavailable("no etcd member reachable"))
    }

    /// Sends one call on the connection; its answer is read by the caller.
    async fn send(&self, request: http::Request<tonic::body::Body>) -> Result<http::Response<Answer>, tonic::Status> {
        let (head, mut body) = request.into_parts();
        let path = head.uri.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        // A unary call's message is ready at once: it goes out with the headers, in one write.
        let (ready, finished) = std::future::poll_fn(|cx| std::task::Poll::Ready(take_ready(&mut body, cx))).await?;
        // A connection that closed since its last use fails before anything is sent, so the
        // request can go to a new one.
        let mut retried = false;
        let (response, mut stream, open_stream) = loop {
            let connection = self.connection().await?;
            let uri = http::Uri::builder()
                .scheme(connection.scheme.clone())
                .authority(connection.authority.clone())
                .path_and_query(path.clone())
                .build()
                .map_err(|e| tonic::Status::internal(format!("etcd request URI: {e}")))?;
            let mut request = http::Request::new(());
            *request.method_mut() = head.method.clone();
            *request.uri_mut() = uri;
            *request.headers_mut() = head.headers.clone();
            let sent = match connection.send.clone().ready().await {
                Ok(mut send) => send.send_request(request, false),
                Err(error) => Err(error),
            };
            match sent {
                Ok((response, stream)) => break (response, stream, OpenStream::new(&connection.streams)),
                Err(error) => {
                    connection.open.store(false, Ordering::Release);
                    if retried {
                        return Err(unavailable("etcd connection", error));
                    }
                    retried = true;
                }
            }
        };
        if !ready.is_empty() || finished {
            stream.send_data(ready, finished).map_err(|e| unavailable("etcd request", e))?;
        }
        // Dropped with the answer (or with this future): a streaming request stops with it.
        let answered = (!finished).then(|| {
            let (answered, dropped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(pipe(body, stream, dropped));
            answered
        });
        let response = response.await.map_err(|e| unavailable("etcd answer", e))?;
        Ok(response.map(|recv| Answer { recv, data_done: false, _answered: answered, _open: open_stream }))
    }
}

/// Connects to `member` and starts the task that drives the connection.
async fn open(member: &Member, tls: Option<&Arc<rustls::ClientConfig>>) -> Result<Connection, Box<dyn std::error::Error + Send + Sync>> {
    let io = connect(member, tls).await?;
    let (send, mut connection) =
        h2::client::Builder::new().initial_window_size(STREAM_WINDOW).initial_connection_window_size(CONNECTION_WINDOW).handshake::<_, Bytes>(io).await?;
    let (open, streams) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicUsize::new(0)));
    let ping = connection.ping_pong().ok_or("the HTTP/2 connection has no ping handle")?;
    tokio::spawn(drive(connection, ping, Arc::clone(&streams), Arc::clone(&open)));
    let scheme = if member.tls { http::uri::Scheme::HTTPS } else { http::uri::Scheme::HTTP };
    let host = if member.host.contains(':') { format!("[{}]", member.host) } else { member.host.clone() };
    let authority = format!("{host}:{}", member.port).parse()?;
    Ok(Connection { send, scheme, authority, open, streams })
}

/// A connection polled one scheduling round after each wake: the calls made meanwhile by other
/// tasks are queued by then, and one write carries them all.
struct Batched<F> {
    connection: F,
    yielded: bool,
}

impl<F: std::future::Future + Unpin> std::future::Future for Batched<F> {
    type Output = F::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        if !self.yielded {
            // A task that wakes itself goes to the back of its worker's queue.
            self.yielded = true;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        self.yielded = false;
        std::pin::Pin::new(&mut self.connection).poll(cx)
    }
}

/// Runs a connection until it ends, pinging the member while calls are open on it: a member
/// that vanished without closing the connection is noticed within the keepalive timeout.
async fn drive(connection: h2::client::Connection<MemberIo, Bytes>, mut ping: h2::PingPong, streams: Arc<AtomicUsize>, open: Arc<AtomicBool>) {
    let mut connection = std::pin::pin!(Batched { connection, yielded: false });
    let mut ticks = tokio::time::interval(KEEPALIVE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let mut pong_due: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            ended = &mut connection => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "etcd connection ended");
                }
                break;
            }
            // etcd counts pings without an open stream as abuse and closes the connection.
            _ = ticks.tick(), if pong_due.is_none() => {
                if streams.load(Ordering::Relaxed) > 0 && ping.send_ping(h2::Ping::opaque()).is_ok() {
                    pong_due = Some(tokio::time::Instant::now() + KEEPALIVE_TIMEOUT);
                }
            }
            _ = std::future::poll_fn(|cx| ping.poll_pong(cx)), if pong_due.is_some() => pong_due = None,
            _ = tokio::time::sleep_until(pong_due.unwrap_or_else(tokio::time::Instant::now)), if pong_due.is_some() => {
                tracing::warn!("etcd member did not answer a ping within {KEEPALIVE_TIMEOUT:?}; reconnecting");
                break;
            }
        }
    }
    open.store(false, Ordering::Release);
}

#[cfg(test)]
impl Channel {
    /// Calls open on the current connection (0 when there is none).
    fn open_streams(&self) -> usize {
        self.inner.current().map_or(0, |c| c.streams.load(Ordering::Relaxed))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Channel {
    type Response = http::Response<Answer>;
    type Error = tonic::Status;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let members = Arc::clone(&self.inner);
        Box::pin(async move { members.send(request).await })
    }
}

/// What a request body has ready now, and whether that is all of it.
fn take_ready(body: &mut tonic::body::Body, cx: &mut std::task::Context<'_>) -> Result<(Bytes, bool), tonic::Status> {
    use http_body::Body as _;
    let mut ready = Bytes::new();
    loop {
        match std::pin::Pin::new(&mut *body).poll_frame(cx) {
            std::task::Poll::Ready(Some(frame)) => {
                if let Ok(data) = frame?.into_data() {
                    // A unary call's message is one frame, sent as it is; only more are joined.
                    ready = if ready.is_empty() { data } else { [ready.as_ref(), data.as_ref()].concat().into() };
                }
            }
            std::task::Poll::Ready(None) => return Ok((ready, true)),
            std::task::Poll::Pending => return Ok((ready, false)),
        }
    }
}

/// Forwards the rest of a streaming request (the watch feed's) until it ends, the answer is
/// dropped or the stream is reset.
async fn pipe(mut body: tonic::body::Body, mut stream: h2::SendStream<Bytes>, mut dropped: tokio::sync::oneshot::Receiver<()>) {
    use http_body_util::BodyExt as _;
    loop {
        tokio::select! {
            _ = &mut dropped => break stream.send_reset(h2::Reason::CANCEL),
            _ = std::future::poll_fn(|cx| stream.poll_reset(cx)) => break,
            frame = body.frame() => match frame {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if stream.send_data(data, false).is_err() {
                            break;
                        }
                    }
                }
                Some(Err(_)) => break stream.send_reset(h2::Reason::CANCEL),
                None => break drop(stream.send_data(Bytes::new(), true)),
            },
        }
    }
}

/// An answer's body: etcd's messages, then the trailers carrying the gRPC status.
pub(super) struct Answer {
    recv: h2::RecvStream,
    data_done: bool,
    /// For a streaming request: tells its pipe that the answer is gone.
    _answered: Option<tokio::sync::oneshot::Sender<()>>,
    _open: OpenStream,
}

impl http_body::Body for Answer {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, tonic::Status>>> {
        use std::task::Poll;
        if !self.data_done {
            match std::task::ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Reading it frees the window for more.
                    let _ = self.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(http_body::Frame::data(data))));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(unavailable("etcd answer", error)))),
                None => self.data_done = true,
            }
        }
        match std::task::ready!(self.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(http_body::Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(error) => Poll::Ready(Some(Err(unavailable("etcd answer", error)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }
}

/// Either side of a member connection, boxed so both schemes share one connection type.
type MemberIo = Box<dyn IoStream>;

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
    Ok(stream)
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

    /// A call counts as open (and so keeps the keepalive pings going) exactly as long as its
    /// answer lives, a streaming request ends with its answer, and a connection lost with its
    /// member is replaced by the next call once the member is back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_are_open_while_their_answer_lives_and_a_lost_connection_is_replaced() {
        use futures::StreamExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut etcd = crate::storage::etcd::local::LocalEtcd::start(dir.path()).unwrap_or_else(|e| panic!("this test needs a real etcd: {e}"));
        let channel = channel(std::slice::from_ref(&etcd.url), None).expect("channel");
        let clients = Clients::new(channel.clone());
        let put = || pb::TxnRequest { compare: Vec::new(), success: vec![super::super::put_op(&Bytes::from_static(b"/k"), "v".into())], failure: Vec::new() };
        call(0, clients.kv.clone().txn(put())).await.expect("put");
        assert_eq!(channel.open_streams(), 0, "a finished unary call");

        let create = pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(pb::WatchCreateRequest {
                key: "/k".into(),
                range_end: Bytes::new(),
                start_revision: 1,
                progress_notify: false,
                prev_kv: false,
            })),
        };
        let requests = futures::stream::once(async move { create }).chain(futures::stream::pending());
        let mut watch = call(0, clients.watch.clone().watch(requests)).await.expect("watch");
        let created = watch.message().await.expect("first answer").expect("created");
        assert!(created.created);
        let history = watch.message().await.expect("history").expect("events");
        assert_eq!(history.events.len(), 1, "the put, replayed");
        assert_eq!(channel.open_streams(), 1, "a watch being read");
        drop(watch);
        assert_eq!(channel.open_streams(), 0, "a dropped watch");

        etcd.stop();
        match call(0, clients.kv.clone().txn(put())).await {
            Err(StorageError::Unreachable(message)) => {
                let port = etcd.url.rsplit(':').next().expect("port");
                assert!(!message.contains(port), "callers are not told where etcd lives: {message}");
            }
            other => panic!("a stopped member must be unreachable, got {:?}", other.map(drop)),
        }
        etcd.restart().expect("restart");
        let back = tokio::time::Instant::now() + Duration::from_secs(10);
        while call(0, clients.kv.clone().txn(put())).await.is_err() {
            assert!(tokio::time::Instant::now() < back, "no reconnect within 10 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(channel.open_streams(), 0);
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
