//! The background work of an etcd store: the watch feed that fills the event window, and the
//! periodic compaction of etcd's history.
//!
//! One etcd watch on the store's prefix feeds the shared [`EventWindow`], the same way sled's
//! flusher does, so watchers of both backends see one behaviour (replay, live delivery, 410
//! past the window). The feed resumes after the last revision it saw, so reconnecting after an
//! etcd outage delivers every event exactly once; progress notifications move that resume
//! point forward while our prefix is quiet, so a resume does not ask for history other
//! writers' traffic has already let compaction remove. Only etcd's timed notifications are used,
//! never requested ones (`WatchProgressRequest`): etcd before 3.4.24 could answer a request with
//! a revision ahead of events still queued on the stream, and resuming from it would skip them.
//! If the feed hits compaction anyway, the events in between are gone: the window restarts and
//! every watcher behind it gets 410.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use proto::etcd as pb;

use super::{prefix_end, Shared};
use crate::storage::{Event, EventKind, StorageError};

/// First and longest pause before the feed reconnects after a failure.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Converts one etcd event into ours; a key outside the store prefix is an error.
fn convert(shared: &Shared, event: pb::Event) -> Result<Event, StorageError> {
    let kv = event.kv.unwrap_or_default();
    let key = shared.strip(&kv.key)?;
    let prev = event.prev_kv.map(|p| p.value);
    let (kind, value) = match pb::event::EventType::try_from(event.r#type) {
        Ok(pb::event::EventType::Delete) => (EventKind::Deleted, prev.clone().unwrap_or_default()),
        _ if kv.create_revision == kv.mod_revision => (EventKind::Added, kv.value),
        _ => (EventKind::Modified, kv.value),
    };
    let prev = if kind == EventKind::Added { None } else { prev };
    Ok(Event { kind, key, value, revision: kv.mod_revision as u64, prev })
}

/// What ended one watch stream.
enum Ended {
    /// The stream broke or etcd cancelled it; reconnect from where it stopped.
    Broken(String),
    /// The resume revision was compacted: events were lost.
    Compacted,
}

/// Runs the feed until the store is dropped (the task is aborted then).
pub(super) async fn run(shared: Arc<Shared>, start: u64) {
    let mut resume = start;
    let mut pause = RETRY_MIN;
    loop {
        if !shared.hot.is_complete() {
            fill_hot(&shared, resume).await;
        }
        match follow(&shared, &mut resume).await {
            Ended::Compacted => match shared.newest_revision().await {
                Ok(now) => {
                    tracing::warn!(resume, now, "etcd compacted the history the watch feed needed; watchers re-list");
                    shared.hot.invalidate();
                    shared.window.restart(now);
                    resume = now;
                    shared.seen.send_modify(|seen| *seen = (*seen).max(now));
                }
                Err(error) => tracing::warn!(%error, "etcd watch feed cannot read the current revision"),
            },
            Ended::Broken(reason) => {
                tracing::warn!(reason, resume, "etcd watch feed broke; reconnecting");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(RETRY_MAX);
        // A stream that delivered anything proves the cluster is back: retry quickly next time.
        if shared.seen_progress.swap(false, Ordering::Relaxed) {
            pause = RETRY_MIN;
        }
    }
}

/// Reads the in-memory keys afresh at `revision`, where the feed goes on from; on failure they
/// stay unserved (reads go to etcd) until the next attempt.
async fn fill_hot(shared: &Shared, revision: u64) {
    let mut items = Vec::new();
    for prefix in shared.hot.prefixes() {
        match shared.list(prefix, None, 0, Some(revision)).await {
            Ok(page) => items.extend(page.items),
            Err(error) => return tracing::warn!(%error, revision, "cannot read the keys kept in memory; reading them from etcd meanwhile"),
        }
    }
    shared.hot.fill(items);
}

/// Follows one watch stream from `resume + 1`, publishing what it delivers.
async fn follow(shared: &Shared, resume: &mut u64) -> Ended {
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(pb::WatchCreateRequest {
            key: shared.prefix.clone(),
            range_end: prefix_end(&shared.prefix),
            start_revision: (*resume + 1) as i64,
            progress_notify: true,
            prev_kv: true,
        })),
    };
    // etcd ends a watch when its request stream ends, so ours stays open after the one create.
    let requests = futures::stream::once(async move { create }).chain(futures::stream::pending());
    let mut client = shared.clients.watch.clone();
    let mut responses = match tokio::time::timeout(super::client::REQUEST_TIMEOUT, client.watch(requests)).await {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(status)) => return Ended::Broken(status.to_string()),
        Err(_) => return Ended::Broken("etcd did not accept the watch in time".into()),
    };
    while let Some(response) = responses.next().await {
        let response = match response {
            Ok(r) => r,
            Err(status) => return Ended::Broken(status.to_string()),
        };
        if response.compact_revision != 0 {
            return Ended::Compacted;
        }
        if response.canceled {
            return Ended::Broken(format!("etcd cancelled the watch: {}", response.cancel_reason));
        }
        shared.seen_progress.store(true, Ordering::Relaxed);
        if response.events.is_empty() {
            // A progress notification: nothing under the prefix up to this revision. The
            // answer to the create itself carries no such promise.
            if !response.created {
                let progress = response.header.map_or(0, |h| h.revision as u64);
                *resume = (*resume).max(progress);
            }
            continue;
        }
        let mut events = Vec::with_capacity(response.events.len());
        for event in response.events {
            match convert(shared, event) {
                Ok(event) => events.push(event),
                Err(error) => tracing::error!(%error, "etcd watch delivered a key outside the store prefix"),
            }
        }
        if let Some(last) = events.last() {
            *resume = last.revision;
        }
        shared.hot.apply(&events);
        shared.window.publish(events);
        let published = *resume;
        shared.seen.send_modify(|seen| *seen = (*seen).max(published));
    }
    Ended::Broken("etcd closed the watch stream".into())
}

/// Compacts etcd's history every `interval`, keeping at least one interval of it: each pass
/// compacts to the revision the previous pass saw, as kube-apiserver does.
pub(super) async fn compact_periodically(shared: Arc<Shared>, interval: Duration) {
    let mut previous = None;
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    loop {
        tick.tick().await;
        if let Some(revision) = previous {
            match shared.compact(revision).await {
                Ok(()) => tracing::debug!(revision, "etcd history compacted"),
                // Another shard sharing the cluster may have compacted further already.
                Err(StorageError::Expired { .. }) => {}
                Err(error) => tracing::warn!(%error, revision, "etcd compaction failed"),
            }
        }
        shared.refresh_size().await;
        previous = shared.newest_revision().await.ok();
    }
}
