//! Shard-local controllers. Each watches storage from a listed revision, reconciles, and writes
//! back with compare-and-swap so concurrent user writes are never overwritten.
//!
//! Order of start does not matter: every controller is level-driven and re-lists after a
//! broken watch.

pub mod crd;
pub mod gc;
pub mod logicalcluster;
pub mod namespace;

use std::future::Future;
use std::time::Duration;

use apimachinery::rest::object;
use apimachinery::storage::{Event, SharedStorage, Stored, StorageError, WatchFrom};
use futures::StreamExt;
use serde_json::{json, Value};

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
            apimachinery::storage::EventKind::Deleted => Change::Gone(stored),
            _ => Change::Present(stored),
        }
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
        let stored = match store.get(key).await {
            Ok(s) => s,
            Err(StorageError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut obj: Value = serde_json::from_slice(&stored.value).map_err(|e| StorageError::Unavailable(e.to_string()))?;
        if !change(&mut obj) {
            return Ok(());
        }
        let result = if object::finalized(&obj) {
            store.delete(key, Some(stored.revision)).await.map(|_| ())
        } else {
            store.update(key, stored.revision, object::to_stored(&obj)).await.map(|_| ())
        };
        match result {
            Err(StorageError::Conflict { .. }) => continue,
            Err(StorageError::NotFound { .. }) => return Ok(()),
            other => return other,
        }
    }
}

/// Deletes an object the way a user's DELETE would: at once without finalizers, otherwise by
/// setting its deletionTimestamp (plus an extra finalizer such as `foregroundDeletion`).
pub async fn delete(store: &SharedStorage, key: &str, extra_finalizer: Option<&str>) -> Result<(), StorageError> {
    loop {
        let stored = match store.get(key).await {
            Ok(s) => s,
            Err(StorageError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut obj: Value = serde_json::from_slice(&stored.value).map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let mut fins = object::finalizers(&obj);
        if let Some(f) = extra_finalizer {
            if !fins.iter().any(|x| x == f) {
                fins.push(f.to_string());
            }
        }
        let is_namespace = key.starts_with("core/namespaces/");
        let result = if fins.is_empty() && !is_namespace {
            store.delete(key, Some(stored.revision)).await.map(|_| ())
        } else if object::is_deleting(&obj) && object::finalizers(&obj) == fins {
            return Ok(());
        } else {
            object::set_finalizers(&mut obj, fins);
            let meta = object::meta_mut(&mut obj);
            if !meta.contains_key("deletionTimestamp") {
                meta.insert("deletionTimestamp".into(), json!(object::now_rfc3339()));
                meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            if is_namespace {
                obj["status"]["phase"] = json!("Terminating");
            }
            store.update(key, stored.revision, object::to_stored(&obj)).await.map(|_| ())
        };
        match result {
            Err(StorageError::Conflict { .. }) => continue,
            Err(StorageError::NotFound { .. }) => return Ok(()),
            other => return other,
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
