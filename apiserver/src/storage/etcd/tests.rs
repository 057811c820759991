//! The storage contract against a real etcd, plus what only a backend with history can do.

use std::sync::atomic::{AtomicBool, Ordering};
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
        // Every key is read from memory, so the suite holds the in-memory reads to etcd's behaviour.
        EtcdConfig {
            servers: vec![self.etcd.url.clone()],
            tls: None,
            prefix: prefix.to_owned(),
            compaction_interval: None,
            window_capacity,
            read_cache: vec![String::new()],
        }
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
async fn a_lost_cluster_answers_503_then_service_and_watches_resume_without_gaps() {
    let mut h = EtcdHarness::new();
    let s = h.open_with(h.config("/kcp-rs/lost/", 100)).await;
    let mut watch = s.watch("", WatchFrom::Now).expect("watch");
    let before = s.create("core/configmaps/x/ns/before", bytes("a")).await.expect("create");

    h.etcd.stop();
    // Keys kept in memory are still read: they hold every write this shard acknowledged.
    assert_eq!(s.get("core/configmaps/x/ns/before").await.expect("read from memory").revision, before);
    let error = s.list("core/configmaps/x/", None, 0, None).await.expect_err("etcd is gone");
    assert!(matches!(error, StorageError::Unreachable(_)), "got {error:?}");
    let status = apimachinery::status::ApiError::from(error);
    assert_eq!((status.reason, status.retry_after), (apimachinery::status::Reason::ServiceUnavailable, Some(1)));
    assert!(matches!(s.create("core/configmaps/x/ns/lost", bytes("l")).await, Err(StorageError::Unreachable(_))));

    tokio::task::block_in_place(|| h.etcd.restart()).expect("etcd restarts");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let after = loop {
        match s.create("core/configmaps/x/ns/after", bytes("b")).await {
            Ok(rev) => break rev,
            Err(StorageError::Unreachable(_)) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!("the store did not recover: {other:?}"),
        }
    };
    for (expected, name) in [(before, "before"), (after, "after")] {
        let event = tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut watch)).await.expect("event").expect("open").expect("ok");
        assert_eq!((event.revision, event.key.as_str()), (expected, format!("core/configmaps/x/ns/{name}").as_str()), "each event once, in order");
    }
    assert_eq!(s.current_revision(), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_client_certificate_and_nothing_without_one() {
    use crate::pki::{new_ca, new_client_cert, new_serving_cert, write_pair};
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = dir.path().join("certs");
    let ca = new_ca("etcd test CA").expect("ca");
    let serving = new_serving_cert(&ca, "etcd", &["localhost".into()], &["127.0.0.1".parse().expect("ip")]).expect("serving");
    let client = new_client_cert(&ca, "kcp-rs", &[]).expect("client");
    for (stem, pair) in [("ca", &ca), ("server", &serving), ("client", &client)] {
        write_pair(&certs, stem, pair).expect("write");
    }
    let tls = local::LocalEtcdTls { cert_file: certs.join("server.crt"), key_file: certs.join("server.key"), client_ca_file: certs.join("ca.crt") };
    let etcd = LocalEtcd::start_tls(dir.path(), &tls).unwrap_or_else(|e| panic!("the etcd tests need a real etcd: {e}"));
    assert!(etcd.url.starts_with("https://"));
    let config = |client| EtcdConfig {
        servers: vec![etcd.url.clone()],
        tls: Some(EtcdTls { ca_file: certs.join("ca.crt"), client }),
        prefix: "/kcp-rs/tls/".into(),
        compaction_interval: None,
        window_capacity: 100,
        read_cache: Vec::new(),
    };

    let s = EtcdStorage::open(&config(Some((certs.join("client.crt"), certs.join("client.key"))))).await.expect("open over TLS");
    let rev = s.create("core/configmaps/x/ns/a", bytes("a")).await.expect("create");
    assert_eq!(s.get("core/configmaps/x/ns/a").await.expect("get").revision, rev);

    match EtcdStorage::open(&config(None)).await {
        Err(OpenError::Unreachable { .. }) => {}
        Err(other) => panic!("expected the handshake to be refused, got {other:?}"),
        Ok(_) => panic!("etcd requires a client certificate"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_prefix_is_read_in_chunks_at_one_revision() {
    let h = EtcdHarness::new();
    let s = std::sync::Arc::new(h.open_with(h.config("/kcp-rs/chunks/", 100)).await);
    let total = 2 * LIST_CHUNK + 1;
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let s = std::sync::Arc::clone(&s);
            tokio::spawn(async move {
                for i in (w..total).step_by(16) {
                    s.create(&format!("core/configmaps/x/ns/{i:05}"), bytes("v")).await.expect("create");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("join");
    }
    let page = s.list("core/configmaps/x/", None, 0, None).await.expect("list");
    let names: Vec<_> = page.items.iter().map(|i| i.key.clone()).collect();
    assert_eq!(names, (0..total).map(|i| format!("core/configmaps/x/ns/{i:05}")).collect::<Vec<_>>());
    assert_eq!((page.revision, page.more_after), (s.current_revision(), None));
}

/// What a writer looping over creates saw: acknowledged (index, revision) pairs and how many
/// attempts were refused as retryable.
#[derive(Default)]
struct Writes {
    acked: Vec<(usize, u64)>,
    retryable: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_cluster_survives_one_loss_refuses_without_quorum_and_recovers() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut members = LocalEtcd::cluster(dir.path(), 3).unwrap_or_else(|e| panic!("the etcd tests need a real etcd: {e}"));
    let config = EtcdConfig {
        servers: members.iter().map(|m| m.url.clone()).collect(),
        tls: None,
        prefix: "/kcp-rs/faults/".into(),
        compaction_interval: None,
        window_capacity: 100_000,
        read_cache: Vec::new(),
    };
    let s = Arc::new(EtcdStorage::open(&config).await.expect("open"));
    let mut watch = s.watch("", WatchFrom::Now).expect("watch");
    let writes = Arc::new(Mutex::new(Writes::default()));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, writes, done) = (Arc::clone(&s), Arc::clone(&writes), Arc::clone(&done));
        tokio::spawn(async move {
            for i in 0.. {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                match s.create(&format!("core/configmaps/x/ns/{i:06}"), bytes("v")).await {
                    Ok(rev) => writes.lock().expect("lock").acked.push((i, rev)),
                    Err(StorageError::Unreachable(_)) => writes.lock().expect("lock").retryable += 1,
                    Err(other) => panic!("a member crash must look retryable, not {other:?}"),
                }
            }
        })
    };
    let acked = || writes.lock().expect("lock").acked.len();
    let wait_for_more = |what: &str| {
        let (target, deadline) = (acked() + 20, std::time::Instant::now() + Duration::from_secs(30));
        while acked() < target {
            assert!(std::time::Instant::now() < deadline, "writes did not continue {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    tokio::task::block_in_place(|| {
        wait_for_more("at first");
        // The connector reaches member 0 first; losing it must only cost retries.
        members[0].stop();
        wait_for_more("after one member died");
        members[1].stop();
    });

    // Without a majority, a write is refused as retryable within the request deadline.
    let started = std::time::Instant::now();
    let refused = s.create("core/configmaps/x/ns/without-quorum", bytes("v")).await;
    assert!(matches!(refused, Err(StorageError::Unreachable(_))), "got {refused:?}");
    assert!(started.elapsed() < Duration::from_secs(12), "a write without quorum hung for {:?}", started.elapsed());

    tokio::task::block_in_place(|| {
        members[1].restart().expect("member 1 back");
        members[0].restart().expect("member 0 back");
        wait_for_more("after the members came back");
    });
    done.store(true, Ordering::Relaxed);
    writer.await.expect("writer");

    let Writes { acked, retryable } = std::mem::take(&mut *writes.lock().expect("lock"));
    let stored: std::collections::HashSet<String> = s.list("core/configmaps/x/", None, 0, None).await.expect("list").items.into_iter().map(|i| i.key).collect();
    for (i, _) in &acked {
        assert!(stored.contains(&format!("core/configmaps/x/ns/{i:06}")), "acknowledged write {i} was lost");
    }
    // The watch delivers every acknowledged write once, in revision order, across both outages.
    let last = acked.last().map(|(_, rev)| *rev).expect("some writes");
    let mut seen = Vec::new();
    while seen.last().is_none_or(|rev| *rev < last) {
        let event = tokio::time::timeout(Duration::from_secs(10), futures::StreamExt::next(&mut watch)).await.expect("event").expect("open").expect("ok");
        seen.push(event.revision);
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "watch events out of order or repeated");
    let seen: std::collections::HashSet<u64> = seen.into_iter().collect();
    assert!(acked.iter().all(|(_, rev)| seen.contains(rev)), "the watch missed an acknowledged write");
    assert!(retryable < acked.len(), "{retryable} retryable refusals for {} acknowledged writes", acked.len());
}
