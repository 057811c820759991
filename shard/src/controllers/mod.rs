//! Shard-local controllers. Each watches storage from a listed revision, reconciles, and writes
//! back with compare-and-swap so concurrent user writes are never overwritten.
//!
//! Order of start does not matter: every controller is level-driven and re-lists after a
//! broken watch.

pub mod crd;
pub mod gc;
pub mod logicalcluster;
pub mod namespace;
pub mod namespace_defaults;
pub mod remote;
pub mod runtime;
#[cfg(test)]
mod testing;
pub mod workspace;

use std::future::Future;
use std::time::Duration;

use apiserver::rest::object::{self, Deletion};
use apiserver::storage::{Event, SharedStorage, Stored, StorageError, WatchFrom};
use futures::StreamExt;
use serde_json::Value;

/// How long a controller waits before retrying a failed step.
pub const RETRY: Duration = Duration::from_millis(500);

/// Lists `prefix`, feeds every item to `on_item`, then every later event to `on_event`; re-lists
/// when the watch breaks. Runs until the process ends.
pub async fn run_informer<F, Fut>(store: SharedStorage, prefix: String, mut on_change: F)
where
    F: FnMut(Change) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let page = match store.list(&prefix, None, 0).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%prefix, error = %e, "controller list failed");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        for item in page.items {
            on_change(Change::Present(item)).await;
        }
        let mut events = match store.watch(&prefix, WatchFrom::After(page.revision)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%prefix, error = %e, "controller watch failed");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        while let Some(ev) = events.next().await {
            match ev {
                Ok(ev) => on_change(Change::from_event(ev)).await,
                Err(e) => {
                    tracing::info!(%prefix, error = %e, "controller watch ended; re-listing");
                    break;
                }
            }
        }
    }
}

/// What an informer saw about one key.
pub enum Change {
    /// The key exists with this value.
    Present(Stored),
    /// The key was deleted; the last value.
    Gone(Stored),
}

impl Change {
    fn from_event(ev: Event) -> Change {
        let stored = Stored { key: ev.key, value: ev.value, revision: ev.revision };
        match ev.kind {
            apiserver::storage::EventKind::Deleted => Change::Gone(stored),
            _ => Change::Present(stored),
        }
    }
}

/// Reads one object and its revision; None when it is gone.
async fn read(store: &SharedStorage, key: &str) -> Result<Option<(Value, u64)>, StorageError> {
    match store.get(key).await {
        Ok(s) => serde_json::from_slice(&s.value).map(|v| Some((v, s.revision))).map_err(|e| StorageError::Unavailable(e.to_string())),
        Err(StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Settles the outcome of one compare-and-swap attempt: Some(result) to stop, None to retry.
fn settle(result: Result<(), StorageError>) -> Option<Result<(), StorageError>> {
    match result {
        Err(StorageError::Conflict { .. }) => None,
        Err(StorageError::NotFound { .. }) => Some(Ok(())),
        other => Some(other),
    }
}

/// Reads, changes and writes back one object with compare-and-swap, retrying on conflicts.
/// `change` returns false when nothing needs writing. Deletes the object instead when it is
/// being deleted and no finalizers remain.
pub async fn update<F>(store: &SharedStorage, key: &str, mut change: F) -> Result<(), StorageError>
where
    F: FnMut(&mut Value) -> bool,
{
    loop {
        let Some((mut obj, rev)) = read(store, key).await? else { return Ok(()) };
        if !change(&mut obj) {
            return Ok(());
        }
        let result = if object::finalized(&obj) {
            store.delete(key, Some(rev)).await.map(|_| ())
        } else {
            store.update(key, rev, object::to_stored(&obj)).await.map(|_| ())
        };
        if let Some(done) = settle(result) {
            return done;
        }
    }
}

/// Deletes an object the way a user's DELETE would: at once without finalizers, otherwise by
/// marking it (plus an extra finalizer such as `foregroundDeletion`).
pub async fn delete(store: &SharedStorage, key: &str, extra_finalizer: Option<&str>) -> Result<(), StorageError> {
    loop {
        let Some((mut obj, rev)) = read(store, key).await? else { return Ok(()) };
        let result = match object::plan_deletion(&mut obj, extra_finalizer) {
            Deletion::Now => store.delete(key, Some(rev)).await.map(|_| ()),
            Deletion::Unchanged => return Ok(()),
            Deletion::Marked => store.update(key, rev, object::to_stored(&obj)).await.map(|_| ()),
        };
        if let Some(done) = settle(result) {
            return done;
        }
    }
}

/// Removes one finalizer from an object (which then disappears if it was the last one).
pub async fn remove_finalizer(store: &SharedStorage, key: &str, finalizer: &str) -> Result<(), StorageError> {
    update(store, key, |obj| {
        let fins = object::finalizers(obj);
        if !fins.iter().any(|f| f == finalizer) {
            return false;
        }
        object::set_finalizers(obj, fins.into_iter().filter(|f| f != finalizer).collect());
        true
    })
    .await
}
