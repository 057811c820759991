//! The storage contract against a real etcd, plus what only a backend with history can do.

use std::time::Duration;

use bytes::Bytes;

use super::local::LocalEtcd;
use super::*;
use crate::storage::conformance::{conformance_tests, Harness};

/// A fresh single-member etcd in a temporary directory; every `open` connects to it anew.
struct EtcdHarness {
    etcd: LocalEtcd,
    _dir: tempfile::TempDir,
}

impl EtcdHarness {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let etcd = LocalEtcd::start(dir.path()).unwrap_or_else(|e| panic!("the etcd tests need a real etcd: {e}"));
        EtcdHarness { etcd, _dir: dir }
    }

    fn config(&self, prefix: &str, window_capacity: usize) -> EtcdConfig {
        EtcdConfig { servers: vec![self.etcd.url.clone()], tls: None, prefix: prefix.to_owned(), compaction_interval: None, window_capacity }
    }

    async fn open_with(&self, config: EtcdConfig) -> EtcdStorage {
        EtcdStorage::open(&config).await.expect("open etcd store")
    }
}

impl Harness for EtcdHarness {
    type Store = EtcdStorage;
    fn open(&self, window_capacity: usize) -> EtcdStorage {
        let config = self.config(&default_prefix("test"), window_capacity);
        // The suite opens stores from synchronous code inside a multi-threaded runtime.
        tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(self.open_with(config)))
    }
}

conformance_tests!(EtcdHarness::new());

fn bytes(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

#[test]
fn prefix_end_is_the_first_key_past_the_prefix() {
    assert_eq!(prefix_end(b"/kcp-rs/a/"), Bytes::from_static(b"/kcp-rs/a0"));
    assert_eq!(prefix_end(b"a\xff\xff"), Bytes::from_static(b"b"));
    assert_eq!(prefix_end(b""), Bytes::from_static(b"\0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continued_pages_read_the_first_pages_revision_until_it_is_compacted() {
    let h = EtcdHarness::new();
    let s = h.open_with(h.config("/kcp-rs/pages/", 100)).await;
    let mut revs = Vec::new();
    for name in ["a", "b", "c", "d"] {
        revs.push(s.create(&format!("core/configmaps/x/ns/{name}"), bytes(name)).await.expect("create"));
    }
    let first = s.list("core/configmaps/x/", None, 2, None).await.expect("page 1");
    assert_eq!(first.items.iter().map(|i| i.value.clone()).collect::<Vec<_>>(), [bytes("a"), bytes("b")]);
    // Writes between the pages must not show in the second one.
    s.update("core/configmaps/x/ns/c", revs[2], bytes("c2")).await.expect("update");
    s.delete("core/configmaps/x/ns/d", None).await.expect("delete");
    s.create("core/configmaps/x/ns/e", bytes("e")).await.expect("create");
    let second = s.list("core/configmaps/x/", first.more_after.as_deref(), 2, Some(first.revision)).await.expect("page 2");
    assert_eq!(second.items.iter().map(|i| i.value.clone()).collect::<Vec<_>>(), [bytes("c"), bytes("d")]);
    assert_eq!((second.revision, second.more_after), (first.revision, None));

    s.shared.compact(s.current_revision()).await.expect("compact");
    match s.list("core/configmaps/x/", first.more_after.as_deref(), 2, Some(first.revision)).await {
        Err(StorageError::Expired { requested, .. }) => assert_eq!(requested, first.revision),
        other => panic!("expected Expired for a compacted revision, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compactor_removes_history_older_than_one_interval() {
    let h = EtcdHarness::new();
    let config = EtcdConfig { compaction_interval: Some(Duration::from_millis(200)), ..h.config("/kcp-rs/compact/", 100) };
    let s = h.open_with(config).await;
    let old = s.create("core/configmaps/x/ns/a", bytes("a")).await.expect("create");
    s.create("core/configmaps/x/ns/b", bytes("b")).await.expect("create");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match s.list("core/configmaps/x/", None, 0, Some(old)).await {
            Err(StorageError::Expired { .. }) => break,
            Ok(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("revision {old} was not compacted in time: {other:?}"),
        }
    }
    assert_eq!(s.list("core/configmaps/x/", None, 0, None).await.expect("newest state survives").items.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_sharing_a_cluster_see_only_their_prefix() {
    let h = EtcdHarness::new();
    let one = h.open_with(h.config(&default_prefix("one"), 100)).await;
    let two = h.open_with(h.config(&default_prefix("two"), 100)).await;
    let mut watch_two = two.watch("", WatchFrom::Now).expect("watch");
    one.create("core/configmaps/x/ns/a", bytes("one")).await.expect("create in one");
    let rev = two.create("core/configmaps/x/ns/a", bytes("two")).await.expect("the same key in two");
    assert_eq!(two.get("core/configmaps/x/ns/a").await.expect("get").value, bytes("two"));
    assert_eq!(one.list("", None, 0, None).await.expect("list").items.len(), 1);
    let event = tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut watch_two)).await.expect("event").expect("open").expect("ok");
    assert_eq!((event.revision, event.value), (rev, bytes("two")), "shard two must not see shard one's write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_cluster_is_retryable_and_answers_503_with_retry_after() {
    let h = EtcdHarness::new();
    let s = h.open_with(h.config("/kcp-rs/lost/", 100)).await;
    s.create("core/configmaps/x/ns/a", bytes("a")).await.expect("create");
    let EtcdHarness { etcd, _dir } = h;
    drop(etcd);
    let error = s.get("core/configmaps/x/ns/a").await.expect_err("etcd is gone");
    assert!(matches!(error, StorageError::Unreachable(_)), "got {error:?}");
    let status = apimachinery::status::ApiError::from(error);
    assert_eq!((status.reason, status.retry_after), (apimachinery::status::Reason::ServiceUnavailable, Some(1)));
}
