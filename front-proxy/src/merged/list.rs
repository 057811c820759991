//! A list through the merged view: each shard's view in turn, items (or Table rows) in shard
//! order. With `limit`, pages run through the shards one after the other; the continue token
//! says which shard is next, its own continue token, and the positions of the first page.

use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::rv::Positions;
use super::{query_string, unreachable, Fanout, Query};
use apimachinery::status::ApiError;
use apiserver::rest::body::{self, Response};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Where the next page of a merged list starts.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Continue {
    /// Index of the shard to ask next.
    shard: usize,
    /// That shard's own continue token, if it was mid-list.
    token: Option<String>,
    /// The positions of the first page, which later pages report too.
    rv: String,
}

impl Continue {
    fn encode(&self) -> String {
        B64.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(token: &str) -> Result<Continue, ApiError> {
        B64.decode(token)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ApiError::bad_request("continue key is not valid: not a token of the merged view"))
    }
}

/// Answers a GET that is not a watch: a list is merged; anything else (discovery, OpenAPI)
/// is the longest successful answer.
pub async fn list(fanout: &Fanout, mut query: Query) -> Result<Response, ApiError> {
    let limit: Option<usize> = query.remove("limit").and_then(|l| l.parse().ok()).filter(|l| *l > 0);
    let resume = query.remove("continue").filter(|c| !c.is_empty()).map(|c| Continue::decode(&c)).transpose()?;
    let requested = super::requested_positions(query.remove("resourceVersion").as_deref())?;
    let (first, mut token, mut positions) = match &resume {
        Some(c) => (c.shard, c.token.clone(), Positions::decode(&c.rv).unwrap_or_default()),
        None => (0, None, Positions::default()),
    };
    let mut merged: Option<Value> = None;
    let mut longest: Option<(u16, Vec<u8>, http::HeaderMap)> = None;
    let mut not_found: Option<Response> = None;
    let mut next = None;
    for (i, (shard, base)) in fanout.shards.iter().enumerate().skip(first) {
        let mut q = query.clone();
        if let Some(rv) = requested.as_ref().and_then(|p| p.0.get(shard)) {
            q.insert("resourceVersion".into(), rv.to_string());
        }
        if let Some(t) = token.take() {
            q.insert("continue".into(), t);
        }
        let remaining = limit.map(|l| l.saturating_sub(merged.as_ref().map_or(0, count)).max(1));
        if let Some(r) = remaining {
            q.insert("limit".into(), r.to_string());
        }
        let answer = fanout.get(base, &query_string(&q)).await.map_err(|e| {
            tracing::warn!(%shard, error = %apiserver::process::report(&e), "merged view: shard unreachable");
            unreachable(shard)
        })?;
        let (parts, incoming) = answer.into_parts();
        let bytes = incoming.collect().await.map_err(|_| unreachable(shard))?.to_bytes().to_vec();
        let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if parts.status == http::StatusCode::NOT_FOUND {
            // A shard where no consumer binds the export serves nothing of it: it adds
            // nothing, and the path is not found only if no shard serves it.
            not_found.get_or_insert_with(|| relay(parts.status.as_u16(), bytes, &parts.headers));
            continue;
        }
        if parts.status != http::StatusCode::OK {
            // The shard's own refusal (403, 410, ...) is the answer.
            return Ok(relay(parts.status.as_u16(), bytes, &parts.headers));
        }
        if !is_list(&doc) {
            if longest.as_ref().is_none_or(|(_, b, _)| b.len() < bytes.len()) {
                longest = Some((parts.status.as_u16(), bytes, parts.headers));
            }
            continue;
        }
        if resume.is_none() || i > first {
            if let Some(rv) = doc.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|r| r.parse().ok()) {
                positions = positions.with(shard, rv);
            }
        }
        let shard_continue = doc.pointer("/metadata/continue").and_then(Value::as_str).filter(|c| !c.is_empty()).map(String::from);
        merged = Some(match merged.take() {
            None => doc,
            Some(mut m) => {
                append(&mut m, doc);
                m
            }
        });
        let full = limit.is_some_and(|l| merged.as_ref().map_or(0, count) >= l);
        match (shard_continue, full) {
            (Some(t), _) => {
                next = Some(Continue { shard: i, token: Some(t), rv: String::new() });
                break;
            }
            (None, true) if i + 1 < fanout.shards.len() => {
                next = Some(Continue { shard: i + 1, token: None, rv: String::new() });
                break;
            }
            _ => {}
        }
    }
    let Some(mut merged) = merged else {
        return match (longest, not_found) {
            (Some((code, bytes, headers)), _) => Ok(relay(code, bytes, &headers)),
            (None, Some(answer)) => Ok(answer),
            (None, None) => Err(ApiError::path_not_found()),
        };
    };
    let token = positions.encode();
    merged["metadata"]["resourceVersion"] = json!(token);
    match next {
        Some(mut c) => {
            c.rv = token;
            merged["metadata"]["continue"] = json!(c.encode());
        }
        None => {
            if let Some(m) = merged["metadata"].as_object_mut() {
                m.remove("continue");
            }
        }
    }
    let content_type = if merged["kind"] == "Table" { body::TABLE_CONTENT_TYPE } else { "application/json" };
    Ok(body::json_typed(200, &merged, content_type))
}

/// Whether a document is a list (or a Table of one).
fn is_list(doc: &Value) -> bool {
    // Aggregated discovery is a list too, of what each shard serves alike: never merged.
    let discovery = doc["apiVersion"].as_str().is_some_and(|v| v.starts_with("apidiscovery.k8s.io"));
    doc["kind"] == "Table" || (!discovery && doc["kind"].as_str().is_some_and(|k| k.ends_with("List")) && doc["items"].is_array())
}

/// How many objects a list (or Table) holds.
fn count(doc: &Value) -> usize {
    let field = if doc["kind"] == "Table" { "rows" } else { "items" };
    doc[field].as_array().map_or(0, Vec::len)
}

/// Appends the objects of `more` to `into`.
fn append(into: &mut Value, more: Value) {
    let field = if into["kind"] == "Table" { "rows" } else { "items" };
    let more = more.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
    match into[field].as_array_mut() {
        Some(list) => list.extend(more),
        None => into[field] = Value::Array(more),
    }
}

/// A shard's answer, passed on as it came.
fn relay(code: u16, bytes: Vec<u8>, headers: &http::HeaderMap) -> Response {
    let content_type = headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
    http::Response::builder().status(code).header(http::header::CONTENT_TYPE, content_type).body(body::full(bytes)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_tables_merge() {
        let mut a = json!({"kind": "CowboyList", "items": [{"n": 1}], "metadata": {}});
        append(&mut a, json!({"kind": "CowboyList", "items": [{"n": 2}, {"n": 3}]}));
        assert_eq!(count(&a), 3);
        let mut t = json!({"kind": "Table", "columnDefinitions": [], "rows": [{"cells": ["a"]}]});
        append(&mut t, json!({"kind": "Table", "rows": [{"cells": ["b"]}]}));
        assert_eq!(count(&t), 2);
        assert!(is_list(&t) && is_list(&a) && !is_list(&json!({"kind": "APIGroupList", "groups": []})));
    }

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let c = Continue { shard: 1, token: Some("abc".into()), rv: "m123".into() };
        assert_eq!(Continue::decode(&c.encode()).unwrap(), c);
        assert_eq!(Continue::decode("nope!").unwrap_err().code(), 400);
    }
}
