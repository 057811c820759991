//! Test fixtures for controllers: a real sled store in a temporary directory.

use std::time::Duration;

use apiserver::rest::object;
use apiserver::storage::sled::SledStorage;
use apiserver::storage::{SharedStorage, StorageError};
use serde_json::Value;

/// A store in a temporary directory that lives as long as the fixture.
pub struct Fixture {
    pub store: SharedStorage,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// An empty store.
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: SharedStorage = std::sync::Arc::new(SledStorage::open(dir.path(), 1000).expect("open sled"));
        Fixture { store, _dir: dir }
    }

    /// Creates or replaces `key`.
    pub async fn put(&self, key: &str, obj: Value) {
        let bytes = object::to_stored(&obj);
        match self.store.get(key).await {
            Ok(s) => self.store.update(key, s.revision, bytes).await.map(drop),
            Err(StorageError::NotFound { .. }) => self.store.create(key, bytes).await.map(drop),
            Err(e) => Err(e),
        }
        .expect("write");
    }

    /// The object at `key`, if any.
    pub async fn get(&self, key: &str) -> Option<Value> {
        let s = self.store.get(key).await.ok()?;
        Some(serde_json::from_slice(&s.value).expect("stored JSON"))
    }
}

/// Polls `done` until it holds; panics after five seconds.
pub async fn eventually(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "condition not met within 5s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
