//! The HTTP side of `/openapi/v2` and `/openapi/v3/<gv>`: content negotiation, ETags and
//! `304 Not Modified`, as kube-openapi's handler answers them (kubectl's disk cache revalidates
//! with `If-None-Match`).

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, ETAG, IF_NONE_MATCH, VARY};
use http::HeaderMap;

use crate::rest::body::{self, Response};
use apimachinery::openapi::cache::{self, Documents};
use apimachinery::status::{ApiError, Reason};

/// Content type of the protobuf `/openapi/v2`.
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";
/// The older spelling kubectl sends in `Accept`; answered with [`PROTOBUF`] like upstream.
const PROTOBUF_AT: &str = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Protobuf,
}

/// The first acceptable form by descending `q`; wildcards get JSON, as upstream lists it first.
fn negotiate(accept: &str) -> Option<Format> {
    let accept = if accept.trim().is_empty() { "*/*" } else { accept };
    let mut clauses: Vec<(f32, String)> = accept
        .split(',')
        .map(|clause| {
            let mut parts = clause.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts.find_map(|p| p.strip_prefix("q=")).and_then(|q| q.parse().ok()).unwrap_or(1.0);
            (q, media)
        })
        .collect();
    clauses.sort_by(|a, b| b.0.total_cmp(&a.0));
    clauses.iter().filter(|(q, _)| *q > 0.0).find_map(|(_, media)| match media.as_str() {
        "application/json" | "application/*" | "*/*" => Some(Format::Json),
        PROTOBUF | PROTOBUF_AT => Some(Format::Protobuf),
        _ => None,
    })
}

/// A document with its ETag, or an empty 304 when the client already holds that version.
fn conditional(headers: &HeaderMap, etag: &str, content_type: &str, body: Bytes) -> Response {
    let fresh = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| cache::matches(v, etag));
    let builder = http::Response::builder().header(ETAG, format!("\"{etag}\"")).header(VARY, "Accept");
    let response =
        if fresh { builder.status(304).body(body::full(Bytes::new())) } else { builder.status(200).header(CONTENT_TYPE, content_type).body(body::full(body)) };
    response.unwrap_or_else(|_| http::Response::new(body::full(Bytes::new())))
}

/// `/openapi/v2` as JSON or protobuf, per `Accept`; 406 for anything else.
pub fn v2(docs: &Documents, headers: &HeaderMap) -> Result<Response, ApiError> {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let format = negotiate(accept)
        .ok_or_else(|| ApiError::new(Reason::NotAcceptable, format!("only application/json and {PROTOBUF} are served here, not {accept:?}")))?;
    let doc = docs.v2();
    Ok(match format {
        Format::Json => conditional(headers, &doc.etag, "application/json", Bytes::from_owner(doc.json.clone())),
        Format::Protobuf => conditional(headers, &doc.etag, PROTOBUF, Bytes::from_owner(doc.proto.clone())),
    })
}

/// `/openapi/v3/<gv>`, or 404 when the group-version is not served.
pub fn v3_group_version(docs: &Documents, group: &str, version: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let doc = docs.group_version(group, version).ok_or_else(ApiError::path_not_found)?;
    Ok(conditional(headers, &doc.etag, "application/json", Bytes::from_owner(doc.json.clone())))
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use apimachinery::openapi::gnostic;
    use apimachinery::registry::builtin::builtins;

    fn docs() -> std::sync::Arc<Documents> {
        cache::documents(&builtins().iter().map(|b| b.info.clone()).collect::<Vec<_>>())
    }

    fn headers(pairs: &[(http::header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (k.clone(), v.parse().expect("header value"))).collect()
    }

    #[test]
    fn negotiation_follows_kube_openapi() {
        assert_eq!(negotiate(PROTOBUF_AT), Some(Format::Protobuf));
        assert_eq!(negotiate(PROTOBUF), Some(Format::Protobuf));
        assert_eq!(negotiate("application/json"), Some(Format::Json));
        assert_eq!(negotiate(""), Some(Format::Json));
        assert_eq!(negotiate("application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"), Some(Format::Protobuf));
        assert_eq!(negotiate("text/html, */*;q=0.1"), Some(Format::Json));
        assert_eq!(negotiate("text/html"), None);
    }

    #[test]
    fn protobuf_answer_decodes_and_revalidates_with_304() {
        let d = docs();
        let resp = v2(&d, &headers(&[(ACCEPT, PROTOBUF_AT)])).expect("v2");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[CONTENT_TYPE], PROTOBUF);
        let etag = resp.headers()[ETAG].to_str().expect("etag").to_string();
        let decoded = gnostic::Document::decode(&d.v2().proto[..]).expect("decodes");
        assert_eq!(decoded.swagger, "2.0");

        let again = v2(&d, &headers(&[(ACCEPT, PROTOBUF_AT), (IF_NONE_MATCH, &etag)])).expect("v2");
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers()[ETAG].to_str().expect("etag"), etag);
        let json = v2(&d, &headers(&[(ACCEPT, "application/json"), (IF_NONE_MATCH, "\"stale\"")])).expect("v2");
        assert_eq!((json.status(), json.headers()[ETAG].to_str().expect("etag")), (http::StatusCode::OK, etag.as_str()));
        assert_eq!(v2(&d, &headers(&[(ACCEPT, "text/html")])).err().map(|e| e.code()), Some(406));
    }

    #[test]
    fn v3_documents_carry_etags_too() {
        let d = docs();
        let resp = v3_group_version(&d, "", "v1", &HeaderMap::new()).expect("core");
        let etag = resp.headers()[ETAG].to_str().expect("etag").to_string();
        assert_eq!(v3_group_version(&d, "", "v1", &headers(&[(IF_NONE_MATCH, &etag)])).expect("core").status(), 304);
        assert!(v3_group_version(&d, "example.com", "v1", &HeaderMap::new()).is_err());
    }
}
