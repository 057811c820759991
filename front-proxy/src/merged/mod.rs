//! The merged apiexport view: beyond kcp, the front-proxy serves an export's view for every
//! shard at once at `/services/apiexport/<export cluster>/<export>/clusters/*/...`, so an
//! unmodified Kubernetes controller needs one URL whichever shards its consumers live on.
//!
//! A list asks every shard's view in turn and concatenates their items (or Table rows); a
//! watch runs one watch per shard and interleaves their events. The resourceVersion a client
//! sees is a token of every shard's position ([`rv::Positions`]), so a watch resumes each
//! shard where it was, and a stale one answers 410 as the shard does. A shard that goes away
//! mid-watch is reconnected from its last position while the others' events keep flowing.
//! Requests into one consumer go to the shard hosting it, with any token in the body turned
//! back into that shard's revision. Discovery comes from whichever shard knows the export
//! best (the longest answer: shards without consumers serve an empty view).

mod list;
pub mod rv;
mod watch;

use apimachinery::status::ApiError;
use apiserver::client::{body, Client, ClientError};
use bytes::Bytes;
use http::HeaderMap;
use hyper::body::Incoming;

pub use self::list::list;
pub use self::watch::watch;

/// Where the apiexport view is served.
pub const PREFIX: &str = "/services/apiexport/";

/// The consumer segment of an apiexport view path (`*` or a logical cluster), decoded (clients
/// send `*` as `%2A`), if the path is one.
pub fn consumer(path: &str) -> Option<String> {
    let mut parts = path.strip_prefix(PREFIX)?.splitn(3, '/');
    let (_cluster, _export, below) = (parts.next()?, parts.next()?, parts.next()?);
    let below = below.strip_prefix("clusters/")?;
    Some(apimachinery::request::percent_decode(below.split('/').next().unwrap_or(below)))
}

/// Every shard's view, asked with the caller's identity.
pub struct Fanout {
    /// The proxy's mutual-TLS client.
    pub upstream: Client,
    /// (shard name, base URL of its virtual workspaces), in a stable order.
    pub shards: Vec<(String, String)>,
    /// The request's path, the same on every shard.
    pub path: String,
    /// The request headers with the identity the proxy established.
    pub headers: HeaderMap,
}

impl Fanout {
    /// GETs the view on the shard at `base` with `query` (already encoded).
    async fn get(&self, base: &str, query: &str) -> Result<http::Response<Incoming>, ClientError> {
        let sep = if query.is_empty() { "" } else { "?" };
        let url = format!("{base}{}{sep}{query}", self.path);
        let mut req = http::Request::builder()
            .method(http::Method::GET)
            .uri(&url)
            .body(body(Bytes::new()))
            .map_err(|e| ClientError::Request { url, detail: e.to_string() })?;
        *req.headers_mut() = self.headers.clone();
        req.headers_mut().remove(http::header::CONTENT_LENGTH);
        self.upstream.send(req).await
    }
}

/// The query of a request, decoded.
pub type Query = std::collections::BTreeMap<String, String>;

/// Decodes a request's query.
pub fn query_of(query: Option<&str>) -> Query {
    apimachinery::request::parse_query(query).into_iter().collect()
}

/// Encodes a query again.
fn query_string(query: &Query) -> String {
    query.iter().map(|(k, v)| format!("{}={}", crate::forward::escape(k), crate::forward::escape(v))).collect::<Vec<_>>().join("&")
}

/// The positions a client resumes from: none for `""`/`0` (from now, with the current state
/// first); 410 for a revision that is not a token of the merged view, as for a compacted one.
fn requested_positions(rv: Option<&str>) -> Result<Option<rv::Positions>, ApiError> {
    match rv {
        None | Some("") | Some("0") => Ok(None),
        Some(token) => rv::Positions::decode(token).map(Some).ok_or_else(|| {
            ApiError::new(apimachinery::status::Reason::Expired, format!("too old resource version: {token} is not a position of the merged view"))
        }),
    }
}

/// A shard that could not be asked: the view cannot be complete without it.
fn unreachable(shard: &str) -> ApiError {
    ApiError::unavailable(format!("the shard {shard:?} is unavailable; the merged view needs every shard"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_of_view_paths() {
        assert_eq!(consumer("/services/apiexport/root/cowboys/clusters/*/apis/wildwest.dev/v1alpha1/cowboys").as_deref(), Some("*"));
        assert_eq!(consumer("/services/apiexport/root/cowboys/clusters/%2A/apis").as_deref(), Some("*"));
        assert_eq!(consumer("/services/apiexport/root/cowboys/clusters/c1").as_deref(), Some("c1"));
        assert_eq!(consumer("/services/apiexport/root/cowboys/apis"), None);
        assert_eq!(consumer("/clusters/root/api"), None);
    }

    #[test]
    fn queries_round_trip() {
        let q = query_of(Some("labelSelector=a%3Db%2Cc&watch=1&x=a+b"));
        assert_eq!(q["labelSelector"], "a=b,c");
        assert_eq!(q["x"], "a b");
        assert_eq!(query_of(Some(&query_string(&q))), q);
    }
}
