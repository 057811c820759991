//! How long a connection may keep the server waiting. A request's headers must arrive within the
//! request-header timeout (on a new connection the TLS handshake counts toward it), a connection
//! with nothing in flight is closed after the idle timeout, and a connection with a request in
//! flight, a watch above all, has no deadline.
//!
//! hyper's own HTTP/1 header timeout also ends idle keep-alive connections (its clock starts when
//! the previous response ends) and its HTTP/2 has no idle timeout at all, so both limits are kept
//! here, the same for both protocols, from request starts and ends and the bytes a connection reads.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Default for [`ConnectionLimits::request_header_timeout`]. kube-apiserver uses 32 s (Go's
/// `ReadHeaderTimeout`, "just shy of requestTimeoutUpperBound"); Go's net/http has no limit at
/// all. Headers are a few hundred bytes, so 10 s only ever cuts a client that stalls on purpose.
pub const DEFAULT_REQUEST_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Default for [`ConnectionLimits::idle_timeout`]. kube-apiserver uses 90 s for HTTP/1.1 and
/// HTTP/2 (Go's `IdleTimeout`, to match `http.DefaultTransport`'s keep-alive). Idle sockets are
/// what a connection flood piles up, so they go sooner here; clients simply reconnect (HTTP/2 ones
/// after a GOAWAY).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The two connection deadlines of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// From accept, or on HTTP/1.1 from the first byte of a later request, until its headers are
    /// complete; also bounds a graceful close that the peer does not acknowledge.
    pub request_header_timeout: Duration,
    /// With no request in flight, until the connection is closed.
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    /// The limits a binary's settings ask for, each defaulting on its own.
    pub fn or_defaults(request_header_timeout: Option<Duration>, idle_timeout: Option<Duration>) -> Self {
        ConnectionLimits {
            request_header_timeout: request_header_timeout.unwrap_or(DEFAULT_REQUEST_HEADER_TIMEOUT),
            idle_timeout: idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT),
        }
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { request_header_timeout: DEFAULT_REQUEST_HEADER_TIMEOUT, idle_timeout: DEFAULT_IDLE_TIMEOUT }
    }
}

/// Why a connection's time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Nothing in flight for the idle timeout: say goodbye (HTTP/2 GOAWAY) and close.
    Idle,
    /// Headers that never completed, or a goodbye never acknowledged: close at once, nothing
    /// was asked of the server that it could still answer.
    Stalled,
}

/// What the deadlines are computed from.
#[derive(Debug)]
struct State {
    in_flight: usize,
    /// Accept time, then the last time the number of requests in flight dropped to zero.
    idle_since: Instant,
    /// Whether any request has arrived: until then the request-header timeout runs from accept.
    served: bool,
    /// HTTP/1.1: when the first byte of the next request arrived while idle.
    reading_since: Option<Instant>,
    /// When the server began a graceful close (idle or shutdown).
    closing_since: Option<Instant>,
}

/// The activity of one connection and the deadline it implies.
#[derive(Debug)]
pub struct Activity {
    limits: ConnectionLimits,
    /// HTTP/2 connections also carry PINGs and SETTINGS while idle, which do not start a request.
    bytes_start_requests: bool,
    state: Mutex<State>,
    changed: Notify,
}

impl Activity {
    /// A connection accepted at `accepted`; `http2` when ALPN chose `h2`.
    pub fn new(limits: ConnectionLimits, accepted: Instant, http2: bool) -> Arc<Activity> {
        Arc::new(Activity {
            limits,
            bytes_start_requests: !http2,
            state: Mutex::new(State { in_flight: 0, idle_since: accepted, served: false, reading_since: None, closing_since: None }),
            changed: Notify::new(),
        })
    }

    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        // One waiter (the connection's task): a stored permit covers a change before it waits.
        self.changed.notify_one();
        out
    }

    /// Marks a request (its headers complete) in flight until the returned guard drops.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.update(|s| {
            s.in_flight += 1;
            s.served = true;
            s.reading_since = None;
        });
        InFlight(self.clone())
    }

    /// Notes that the server began closing the connection gracefully.
    pub fn closing(&self) {
        self.update(|s| s.closing_since = Some(Instant::now()));
    }

    /// Whether the server began closing the connection.
    pub fn is_closing(&self) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).closing_since.is_some()
    }

    fn read_bytes(&self) {
        if !self.bytes_start_requests {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.in_flight == 0 && s.served && s.reading_since.is_none() {
            s.reading_since = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// When the connection's time runs out as things stand, and why; `None` while a request is in
    /// flight.
    fn deadline(&self) -> Option<(Instant, Expiry)> {
        let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let header = self.limits.request_header_timeout;
        if s.in_flight > 0 {
            None
        } else if let Some(closing) = s.closing_since {
            Some((closing.max(s.idle_since) + header, Expiry::Stalled))
        } else if !s.served {
            Some((s.idle_since + header, Expiry::Stalled))
        } else if let Some(reading) = s.reading_since {
            Some((reading + header, Expiry::Stalled))
        } else {
            Some((s.idle_since + self.limits.idle_timeout, Expiry::Idle))
        }
    }

    /// Resolves when the connection's time has run out.
    pub async fn expired(&self) -> Expiry {
        loop {
            match self.deadline() {
                Some((at, why)) if at <= Instant::now() => return why,
                Some((at, _)) => {
                    tokio::select! {
                        _ = self.changed.notified() => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => self.changed.notified().await,
            }
        }
    }
}

/// A request in flight; dropping it (its response body finished or abandoned) ends it.
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.in_flight -= 1;
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
                s.reading_since = None;
            }
        });
    }
}

/// A connection's byte stream that reports reads to its [`Activity`].
#[derive(Debug)]
pub struct Watched<T> {
    io: T,
    activity: Arc<Activity>,
}

impl<T> Watched<T> {
    /// Wraps the (decrypted) stream of a connection.
    pub fn new(io: T, activity: Arc<Activity>) -> Self {
        Watched { io, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read_bytes();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[std::io::IoSlice<'_>]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real (short) time: the assertions are about order and lower bounds, never speed.
    const LIMITS: ConnectionLimits = ConnectionLimits { request_header_timeout: Duration::from_millis(40), idle_timeout: Duration::from_millis(120) };

    #[tokio::test]
    async fn the_first_headers_are_due_from_accept() {
        let accepted = Instant::now();
        let activity = Activity::new(LIMITS, accepted, false);
        assert_eq!(activity.expired().await, Expiry::Stalled);
        assert!(accepted.elapsed() >= LIMITS.request_header_timeout);
    }

    #[tokio::test]
    async fn requests_in_flight_have_no_deadline_and_idle_follows() {
        let activity = Activity::new(LIMITS, Instant::now(), false);
        let watch = activity.start();
        let waited = tokio::time::timeout(LIMITS.idle_timeout * 3, activity.expired()).await;
        assert!(waited.is_err(), "a watch outlives every limit");
        drop(watch);
        let ended = Instant::now();
        assert_eq!(activity.expired().await, Expiry::Idle);
        assert!(ended.elapsed() >= LIMITS.idle_timeout);
    }

    #[tokio::test]
    async fn http1_bytes_after_idle_start_the_header_clock_http2_ones_do_not() {
        for (http2, expected) in [(false, Expiry::Stalled), (true, Expiry::Idle)] {
            let activity = Activity::new(LIMITS, Instant::now(), http2);
            drop(activity.start());
            activity.read_bytes();
            assert_eq!(activity.expired().await, expected, "http2: {http2}");
        }
    }

    #[tokio::test]
    async fn an_unacknowledged_goodbye_is_cut_after_the_header_timeout() {
        let activity = Activity::new(LIMITS, Instant::now(), true);
        drop(activity.start());
        assert_eq!(activity.expired().await, Expiry::Idle);
        activity.closing();
        let closing = Instant::now();
        assert_eq!(activity.expired().await, Expiry::Stalled);
        assert!(closing.elapsed() >= LIMITS.request_header_timeout);
    }
}
