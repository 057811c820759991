//! A watch through the merged view: one watch per shard, their events interleaved as they
//! come. Every event's object carries the token of all shards' positions after it, so the
//! client resumes each shard exactly there. A shard whose stream breaks is asked again from
//! its last position, with a growing pause, while the others go on, and a shard that serves
//! nothing of the export yet (404: no consumer there) is asked again every few seconds; a
//! shard that answers 410 (or refuses) ends the merged watch with its Status as an ERROR
//! event, as one server would.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::rv::revision_of;
use super::{query_string, Fanout, Query};
use apimachinery::status::ApiError;
use apiserver::rest::body::{self, Response};

/// First pause before a broken shard stream is asked again; doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// What a shard's watch task reports.
enum Report {
    /// An event (ADDED, MODIFIED, DELETED, BOOKMARK) from `shard`.
    Event { shard: String, event: Value },
    /// The shard ended the watch for good (410, a refusal): this Status ends the merged watch.
    Fatal(Value),
}

/// Answers a watch across every shard.
pub async fn watch(fanout: Fanout, mut query: Query) -> Result<Response, ApiError> {
    let start = super::requested_positions(query.remove("resourceVersion").as_deref())?;
    let timeout = match query.remove("timeoutSeconds").filter(|t| !t.is_empty()) {
        Some(t) => Some(Duration::from_secs(t.parse().map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {t:?}")))?)),
        None => None,
    };
    // Bookmarks move positions forward even for shards whose objects do not change; the
    // client sees them only if it asked.
    let bookmarks = query.get("allowWatchBookmarks").is_some_and(|b| b == "true" || b == "1");
    query.insert("allowWatchBookmarks".into(), "true".into());
    let table = fanout.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("as=Table"));
    let fanout = Arc::new(fanout);
    let (reports, mut incoming) = mpsc::channel::<Report>(256);
    let mut tasks = Vec::new();
    for (shard, base) in fanout.shards.clone() {
        let from = start.as_ref().and_then(|p| p.0.get(&shard).copied());
        tasks.push(tokio::spawn(follow(fanout.clone(), shard, base, query.clone(), from, reports.clone())));
    }
    drop(reports);
    let (out, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        // The shards' watches live as long as the client's.
        let _tasks = AbortOnDrop(tasks);
        let mut positions = start.unwrap_or_default();
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let report = tokio::select! {
                _ = sleep_until(deadline) => return,
                _ = out.closed() => return,
                r = incoming.recv() => match r { Some(r) => r, None => return },
            };
            let (line, last) = match report {
                Report::Event { shard, mut event } => {
                    if let Some(rv) = revision_of(&event["object"]) {
                        positions = positions.with(&shard, rv);
                        event["object"]["metadata"]["resourceVersion"] = json!(positions.encode());
                    }
                    if event["type"] == "BOOKMARK" && !bookmarks {
                        continue;
                    }
                    (event, false)
                }
                Report::Fatal(status) => (json!({"type": "ERROR", "object": status}), true),
            };
            let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
            bytes.push(b'\n');
            if out.send(Bytes::from(bytes)).await.is_err() || last {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx)) });
    Ok(http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, if table { body::TABLE_CONTENT_TYPE } else { "application/json" })
        .header("cache-control", "no-cache, private")
        .body(StreamBody::new(stream).boxed_unsync())
        .unwrap_or_default())
}

/// Follows one shard's view from `from` (its current state first when None), reporting every
/// event, until the merged watch ends or the shard ends it for good.
async fn follow(fanout: Arc<Fanout>, shard: String, base: String, query: Query, mut from: Option<u64>, reports: mpsc::Sender<Report>) {
    let mut pause = FIRST_PAUSE;
    loop {
        let mut q = query.clone();
        q.insert("watch".into(), "true".into());
        if let Some(rv) = from {
            q.insert("resourceVersion".into(), rv.to_string());
        }
        match fanout.get(&base, &query_string(&q)).await {
            Ok(answer) if answer.status() == http::StatusCode::OK => {
                let mut body = answer.into_body();
                let mut lines = apiserver::client::JsonLines::default();
                while let Some(Ok(frame)) = body.frame().await {
                    let Ok(data) = frame.into_data() else { continue };
                    for event in lines.feed(&data) {
                        if event["type"] == "ERROR" {
                            let _ = reports.send(Report::Fatal(event["object"].clone())).await;
                            return;
                        }
                        if let Some(rv) = revision_of(&event["object"]) {
                            from = Some(rv);
                        }
                        pause = FIRST_PAUSE;
                        if reports.send(Report::Event { shard: shard.clone(), event }).await.is_err() {
                            return;
                        }
                    }
                }
                tracing::debug!(%shard, "merged view: shard watch ended; resuming");
            }
            // No consumer of the export on this shard yet: nothing to follow until one binds.
            Ok(answer) if answer.status() == http::StatusCode::NOT_FOUND => {
                tracing::debug!(%shard, "merged view: the shard serves nothing of the export; asking again");
                pause = MAX_PAUSE;
            }
            Ok(answer) => {
                let status = answer.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                let status = serde_json::from_slice(&status).unwrap_or_else(|_| super::unreachable(&shard).to_status());
                let _ = reports.send(Report::Fatal(status)).await;
                return;
            }
            Err(e) => tracing::debug!(%shard, error = %apiserver::process::report(&e), "merged view: shard unreachable; asking again"),
        }
        if reports.is_closed() {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => futures::future::pending().await,
    }
}

/// Aborts the shards' watch tasks when the merged watch ends.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}
