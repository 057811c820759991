//! Response bodies and the JSON/Table content negotiation kubectl relies on.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use serde_json::Value;

use apimachinery::status::ApiError;

/// Body of every response: whole or streamed (watches).
pub type Body = UnsyncBoxBody<Bytes, Infallible>;
/// Response of every handler.
pub type Response = http::Response<Body>;

/// Content type of Table responses.
pub const TABLE_CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// A whole body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// A JSON response with the given status code.
pub fn json(code: u16, value: &Value) -> Response {
    json_typed(code, value, "application/json")
}

/// A JSON response with an explicit content type.
pub fn json_typed(code: u16, value: &Value, content_type: &str) -> Response {
    json_bytes(code, serde_json::to_vec(value).unwrap_or_default(), content_type)
}

/// A response of JSON already printed.
pub fn json_bytes(code: u16, bytes: Vec<u8>, content_type: &str) -> Response {
    http::Response::builder().status(code).header(CONTENT_TYPE, content_type).body(full(bytes)).unwrap_or_else(|_| http::Response::new(full(Bytes::new())))
}

/// The Status response of an error, with `Retry-After` where it applies.
pub fn error(err: &ApiError) -> Response {
    let mut resp = json(err.code(), &err.to_status());
    if let Some(secs) = err.retry_after {
        if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(RETRY_AFTER, v);
        }
    }
    resp
}

/// True when the client asked for a `meta.k8s.io/v1` Table (it always also accepts JSON, so
/// when a Table is impossible the plain object is sent instead; never a 406).
pub fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io") && params.contains(&"v=v1")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_negotiation() {
        assert!(wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"));
        assert!(!wants_table("application/json"));
        assert!(!wants_table("application/json;as=Table;v=v1beta1;g=meta.k8s.io"));
    }
}
