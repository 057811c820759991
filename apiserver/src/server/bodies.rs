//! Bodies at the edge of a connection, where hyper leaves the care to us.
//!
//! - A HEAD answer carries GET's headers and no DATA: HTTP/2 clients (nghttp2, hence curl) reset
//!   a HEAD stream that gets DATA with `PROTOCOL_ERROR`, and hyper's HTTP/2 server sends whatever
//!   body it is given (its HTTP/1.1 side already drops it).
//! - A request body the handler left unread (a 401 or 403 decided from the headers) is drained in
//!   the background. Dropped, HTTP/2 ends the stream with `RST_STREAM` while the client is still
//!   uploading, which clients report as a stream error instead of the answer; HTTP/1.1 closes the
//!   connection under the client's writes, and a client that is still writing (the front-proxy
//!   forwarding to a shard) sees a broken pipe instead of the answer. Past a bound of bytes or
//!   time it is dropped after all: HTTP/2 then resets with `NO_ERROR` once the answer is
//!   complete, as RFC 9113 §8.1 allows, and HTTP/1.1 closes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::connection::InFlight;
use crate::rest::body::{self, Response};

/// A response body that keeps `guard` alive until the body ends or is dropped: a request counts
/// as in flight, or a watch as open, for as long as its answer streams.
pub struct Guarded<G> {
    body: body::Body,
    _guard: G,
}

impl<G> Guarded<G> {
    /// Holds `guard` for the life of `body`.
    pub fn new(body: body::Body, guard: G) -> Self {
        Guarded { body, _guard: guard }
    }
}

impl<G: Unpin> Body for Guarded<G> {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Most bytes of an unread request body drained so that its stream ends cleanly: above the
/// largest body the servers accept (3 MiB), so any refusal of an acceptable upload reads clean.
const DRAIN_BYTES: u64 = 4 * 1024 * 1024;

/// Longest a client may take to finish sending an unread body.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// The answer to a HEAD request: `resp`'s headers, with the length of its body, and no body.
pub fn head_answer(resp: Response) -> Response {
    let (mut parts, original) = resp.into_parts();
    if !parts.headers.contains_key(CONTENT_LENGTH) {
        if let Some(n) = original.size_hint().exact() {
            parts.headers.insert(CONTENT_LENGTH, n.into());
        }
    }
    Response::from_parts(parts, body::full(Bytes::new()))
}

/// A request body that, dropped unfinished, is drained in the background. Until the drain
/// ends, the connection counts the request as in flight: the client is still uploading, and
/// an idle or header timeout must not close the connection under it.
pub struct DrainOnDrop(Option<Incoming>, Option<InFlight>);

impl DrainOnDrop {
    /// Wraps a request body, holding `in_flight` for as long as it may be read.
    pub fn new(body: Incoming, in_flight: InFlight) -> Self {
        DrainOnDrop(Some(body), Some(in_flight))
    }
}

impl Body for DrainOnDrop {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.0.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.0.as_ref().map(Body::size_hint).unwrap_or_else(|| SizeHint::with_exact(0))
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(body) = self.0.take() else { return };
        // A body announced larger than the bound is not worth reading.
        if body.is_end_stream() || body.size_hint().lower() > DRAIN_BYTES {
            return;
        }
        let in_flight = self.1.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _in_flight = in_flight;
                if !matches!(tokio::time::timeout(DRAIN_TIME, drain(body, DRAIN_BYTES)).await, Ok(true)) {
                    tracing::debug!("unread request body past the drain bound: stream reset");
                }
            });
        }
    }
}

/// Reads and discards up to `limit` bytes of `body`; true when it ended within them.
async fn drain<B: Body + Unpin>(mut body: B, limit: u64) -> bool {
    let mut read = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Some(data) = frame.data_ref() {
            read += bytes::Buf::remaining(data) as u64;
            if read > limit {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    #[test]
    fn head_keeps_the_headers_and_length_but_not_the_body() {
        let get = http::Response::builder().header("content-type", "application/json").body(body::full("{\"kind\":\"List\"}")).expect("response");
        let head = head_answer(get);
        assert_eq!(head.headers()["content-length"], "15");
        assert_eq!(head.headers()["content-type"], "application/json");
        assert!(head.body().is_end_stream());
        let declared = http::Response::builder().header("content-length", "99").body(body::full("x")).expect("response");
        assert_eq!(head_answer(declared).headers()["content-length"], "99", "a length the handler set stands");
    }

    #[tokio::test]
    async fn draining_stops_at_the_bound() {
        let chunks =
            |n: usize| StreamBody::new(futures::stream::iter((0..n).map(|_| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(vec![0u8; 1024]))))));
        assert!(drain(chunks(4), 4096).await);
        assert!(!drain(chunks(5), 4096).await);
        assert!(drain(Full::new(Bytes::new()), 0).await);
    }
}
