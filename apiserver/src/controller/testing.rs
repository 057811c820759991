//! A store for the runtime's tests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::storage::sled::SledStorage;
use crate::storage::{SharedStorage, StorageError};

/// An empty store in a temporary directory.
pub struct Fixture {
    pub store: SharedStorage,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// A fresh, empty store.
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store: SharedStorage = Arc::new(SledStorage::open(dir.path(), 1000).expect("open sled"));
        Fixture { store, _dir: dir }
    }

    /// Creates or replaces the object at `key`.
    pub async fn put(&self, key: &str, obj: serde_json::Value) {
        let bytes = Bytes::from(serde_json::to_vec(&obj).expect("JSON"));
        match self.store.get(key).await {
            Ok(s) => self.store.update(key, s.revision, bytes).await.map(drop),
            Err(StorageError::NotFound { .. }) => self.store.create(key, bytes).await.map(drop),
            Err(e) => Err(e),
        }
        .expect("write");
    }
}

/// Waits up to 5 s for `done`.
pub async fn eventually(mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "condition not met within 5s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
