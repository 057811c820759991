//! watch: a chunked stream of `{"type","object"}` events, JSON or one-row Tables.
//!
//! A task per watch reads committed storage events, applies the request's selectors (an object
//! leaving the selection is reported DELETED, one entering it ADDED, as kube does), and writes
//! frames into a bounded channel that the response body drains. A client that goes away drops
//! the body, which ends the task.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::header::CONTENT_TYPE;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::{json, Value};

use super::body::{self, Response, TABLE_CONTENT_TYPE};
use super::load::{collect, Filter};
use super::render::render_table;
use super::{object, Api, ApiRequest, Resolved};
use crate::storage::{Event, EventKind, StorageError, WatchFrom};
use apimachinery::request::ClusterTarget;
use apimachinery::status::ApiError;
use apimachinery::table::IncludeObject;

/// How often a watch that asked for bookmarks gets one.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(30);
/// How long before its timeout a watch that asked for bookmarks gets a last one, as from
/// kube-apiserver, so a client resumes from as close to the end as it can.
const BOOKMARK_BEFORE_TIMEOUT: Duration = Duration::from_secs(2);

/// How one watch renders its events.
struct Encoder {
    resource: Resolved,
    table: Option<IncludeObject>,
}

impl Encoder {
    fn event(&self, type_: &str, obj: Value) -> Bytes {
        let object = match self.table {
            Some(include) => {
                let rv = object::meta_str(&obj, "resourceVersion").to_string();
                render_table(&self.resource, std::slice::from_ref(&obj), include, &rv, None, false)
            }
            None => obj,
        };
        let mut line = serde_json::to_vec(&json!({"type": type_, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    fn bookmark(&self, revision: u64) -> Bytes {
        let info = &self.resource.info;
        let obj = json!({"kind": info.kind, "apiVersion": info.api_version(),
                         "metadata": {"resourceVersion": revision.to_string()}});
        let mut line = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": obj})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

fn error_event(err: &ApiError) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": err.to_status()})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// Decides what a committed event looks like to a watcher with this filter.
fn translate(ev: &Event, r: &Resolved, filter: &Filter) -> Result<Option<(&'static str, Value)>, ApiError> {
    let cur = r.present(&ev.key, &ev.value, ev.revision)?;
    let now = filter.matches(&cur);
    let before = match (&ev.prev, ev.kind) {
        (Some(p), EventKind::Modified) => filter.matches(&r.present(&ev.key, p, ev.revision)?),
        _ => false,
    };
    Ok(match ev.kind {
        EventKind::Added if now => Some(("ADDED", cur)),
        EventKind::Modified if now && before => Some(("MODIFIED", cur)),
        EventKind::Modified if now => Some(("ADDED", cur)),
        EventKind::Modified if before => Some(("DELETED", cur)),
        EventKind::Deleted if now => Some(("DELETED", cur)),
        _ => None,
    })
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => futures::future::pending().await,
    }
}

/// GET with `watch=true`.
pub async fn watch(api: &Api, req: &ApiRequest, r: &Resolved) -> Result<Response, ApiError> {
    let filter = Filter::from_request(req, r)?;
    let cluster = match &req.info.cluster {
        ClusterTarget::Name(c) => Some(c.as_str()),
        ClusterTarget::Wildcard => None,
        ClusterTarget::None => return Err(ApiError::path_not_found()),
    };
    let prefix = r.prefix(cluster, &req.info.namespace);
    let table = match body::wants_table(req.header("accept")) {
        true => Some(super::render::include_object(req)?),
        false => None,
    };
    let encoder = Encoder { resource: r.clone(), table };
    let bookmarks = req.info.flag("allowWatchBookmarks");
    let timeout = match req.info.param("timeoutSeconds") {
        Some(t) if !t.is_empty() => Some(Duration::from_secs(t.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?)),
        _ => None,
    };

    let mut initial = Vec::new();
    let from = match req.info.param("resourceVersion") {
        None | Some("") | Some("0") => {
            // Unset or 0: the current state as ADDED events, then changes after it.
            let mut list_req_info = req.info.clone();
            list_req_info.query.remove("limit");
            list_req_info.query.remove("continue");
            let list_req = ApiRequest {
                info: list_req_info,
                user: req.user.clone(),
                method: req.method.clone(),
                headers: req.headers.clone(),
                body: Bytes::new(),
                visible: req.visible.clone(),
                guard: None,
            };
            let listed = collect(api, &list_req, r, &filter).await?;
            initial = listed.items.into_iter().map(|o| encoder.event("ADDED", o)).collect();
            WatchFrom::After(listed.revision)
        }
        Some(rv) => WatchFrom::After(rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version {rv:?}")))?),
    };
    let start_rev = match from {
        WatchFrom::After(n) => n,
        WatchFrom::Now => api.store.current_revision(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    match api.store.watch(&prefix, from) {
        Ok(mut events) => {
            let mut shutdown = api.shutdown.clone();
            let mut inactive = api.inactive.clone();
            let closed_before = inactive.borrow_and_update().clone();
            let watched = req.info.cluster_name().map(String::from);
            let resolved = r.clone();
            tokio::spawn(async move {
                for frame in initial {
                    if tx.send(frame).await.is_err() {
                        return;
                    }
                }
                let now = tokio::time::Instant::now();
                let deadline = timeout.map(|t| now + t);
                let mut last_bookmark = deadline.and_then(|d| d.checked_sub(BOOKMARK_BEFORE_TIMEOUT)).filter(|t| *t > now);
                let mut last_rev = start_rev;
                let mut tick = tokio::time::interval_at(now + BOOKMARK_INTERVAL, BOOKMARK_INTERVAL);
                loop {
                    let frame = tokio::select! {
                        _ = sleep_until(deadline) => return,
                        _ = sleep_until(last_bookmark), if bookmarks && last_bookmark.is_some() => {
                            last_bookmark = None;
                            encoder.bookmark(last_rev)
                        }
                        _ = shutdown.changed() => return,
                        // A cluster closed (made inactive) ends the watches into it.
                        Ok(()) = inactive.changed() => {
                            let now = inactive.borrow_and_update().clone();
                            if closes(watched.as_deref(), &closed_before, &now) {
                                return;
                            }
                            continue;
                        }
                        _ = tick.tick(), if bookmarks => encoder.bookmark(last_rev),
                        next = events.next() => match next {
                            None => return,
                            Some(Err(StorageError::Expired { requested, oldest })) => error_event(&ApiError::expired(requested, oldest)),
                            Some(Err(e)) => error_event(&ApiError::internal(e)),
                            Some(Ok(ev)) => {
                                last_rev = ev.revision;
                                match translate(&ev, &resolved, &filter) {
                                    Ok(Some((t, obj))) => encoder.event(t, obj),
                                    Ok(None) => continue,
                                    Err(e) => error_event(&e),
                                }
                            }
                        },
                    };
                    if tx.send(frame).await.is_err() {
                        return;
                    }
                }
            });
        }
        Err(StorageError::Expired { requested, oldest }) => {
            // Like kube: the watch opens, reports 410 Expired as an ERROR event, and ends.
            let _ = tx.try_send(error_event(&ApiError::expired(requested, oldest)));
        }
        Err(e) => return Err(e.into()),
    }
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }).map(|b| Ok::<_, Infallible>(Frame::data(b)));
    let content_type = if table.is_some() { TABLE_CONTENT_TYPE } else { "application/json" };
    Ok(http::Response::builder()
        .status(200)
        .header(CONTENT_TYPE, content_type)
        .header("cache-control", "no-cache, private")
        .body(StreamBody::new(stream).boxed_unsync())
        .unwrap_or_else(|_| http::Response::new(body::full(Bytes::new()))))
}
/// Whether a watch of `cluster` (None: every cluster) must end now that `now` is inactive,
/// given what was inactive when it started.
fn closes(cluster: Option<&str>, before: &std::collections::HashSet<String>, now: &std::collections::HashSet<String>) -> bool {
    match cluster {
        Some(c) => now.contains(c),
        // Wildcard watches end whenever some cluster is newly closed, as in kcp.
        None => now.iter().any(|c| !before.contains(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_watches_close() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<std::collections::HashSet<_>>();
        assert!(closes(Some("a"), &set(&[]), &set(&["a"])));
        assert!(!closes(Some("b"), &set(&[]), &set(&["a"])));
        assert!(closes(None, &set(&[]), &set(&["a"])));
        assert!(!closes(None, &set(&["a"]), &set(&["a"])));
    }
}
