//! The behaviour every [`Storage`] backend must show, as a test suite each backend instantiates.
//!
//! A backend provides a [`Harness`] that can (re)open the same data, then expands
//! [`conformance_tests!`] in its own test module; sled and etcd are thus held to one contract
//! instead of two drifting copies of it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use super::{Event, EventKind, EventStream, Storage, StorageError, WatchFrom};

/// Opens a backend over one fixed set of data.
pub(crate) trait Harness {
    type Store: Storage;
    /// Opens the store (the same data on every call) with a window of `window_capacity` events.
    fn open(&self, window_capacity: usize) -> Self::Store;
}

fn bytes(s: &str) -> Bytes {
    Bytes::from(s.to_owned())
}

async fn next_event(stream: &mut EventStream) -> Result<Event, StorageError> {
    tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("watch event did not arrive").expect("watch stream ended early")
}

async fn quiet(stream: &mut EventStream) -> bool {
    tokio::time::timeout(Duration::from_millis(100), stream.next()).await.is_err()
}

pub(crate) async fn crud_and_preconditions(h: &impl Harness) {
    let s = h.open(100);
    let key = "core/configmaps/a/default/x";
    assert!(matches!(s.get(key).await, Err(StorageError::NotFound { .. })));
    let r1 = s.create(key, bytes("one")).await.expect("create");
    assert_eq!(s.current_revision(), r1);
    assert!(matches!(s.create(key, bytes("again")).await, Err(StorageError::AlreadyExists { .. })));
    let got = s.get(key).await.expect("get");
    assert_eq!((got.key.as_str(), got.value.as_ref(), got.revision), (key, &b"one"[..], r1));

    match s.update(key, r1 + 100, bytes("stale")).await {
        Err(StorageError::Conflict { current, .. }) => assert_eq!(current, r1),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let r2 = s.update(key, r1, bytes("two")).await.expect("update");
    assert!(r2 > r1);
    assert_eq!(s.get(key).await.expect("get").value, bytes("two"));
    assert!(matches!(s.update("core/configmaps/a/default/y", 1, bytes("v")).await, Err(StorageError::NotFound { .. })));

    match s.delete(key, Some(r1)).await {
        Err(StorageError::Conflict { current, .. }) => assert_eq!(current, r2),
        other => panic!("expected Conflict, got {other:?}"),
    }
    let deleted = s.delete(key, Some(r2)).await.expect("delete");
    assert_eq!(deleted.value, bytes("two"));
    assert!(deleted.revision > r2);
    assert_eq!(s.current_revision(), deleted.revision);
    assert!(matches!(s.get(key).await, Err(StorageError::NotFound { .. })));
    assert!(matches!(s.delete(key, None).await, Err(StorageError::NotFound { .. })));
    s.create(key, bytes("three")).await.expect("re-create after delete");
    s.delete(key, None).await.expect("unconditional delete");
    assert!(s.size_on_disk() > 0);
}

pub(crate) async fn list_pages_in_key_order_within_prefix(h: &impl Harness) {
    let s = h.open(100);
    for (cluster, name) in [("a", "c"), ("ab", "x"), ("a", "a"), ("b", "z"), ("a", "e"), ("a", "b"), ("a", "d")] {
        s.create(&format!("core/configmaps/{cluster}/ns/{name}"), bytes(name)).await.expect("create");
    }
    let all = s.list("core/configmaps/a/", None, 0, None).await.expect("list");
    let names: Vec<_> = all.items.iter().map(|i| i.value.clone()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"].map(bytes));
    assert_eq!(all.more_after, None);
    assert_eq!(all.revision, s.current_revision());

    let cases: &[(usize, &[&[&str]])] = &[(2, &[&["a", "b"], &["c", "d"], &["e"]]), (5, &[&["a", "b", "c", "d", "e"]]), (4, &[&["a", "b", "c", "d"], &["e"]])];
    for &(limit, expected) in cases {
        let mut start_after = None;
        for (i, page_names) in expected.iter().enumerate() {
            let page = s.list("core/configmaps/a/", start_after.as_deref(), limit, None).await.expect("list page");
            let got: Vec<_> = page.items.iter().map(|i| i.value.clone()).collect();
            assert_eq!(got, page_names.iter().map(|n| bytes(n)).collect::<Vec<_>>(), "limit {limit} page {i}");
            let last = i + 1 == expected.len();
            assert_eq!(page.more_after.is_none(), last, "limit {limit} page {i}");
            if let Some(after) = &page.more_after {
                assert_eq!(Some(after), page.items.last().map(|i| &i.key));
            }
            start_after = page.more_after;
        }
    }
    let everything = s.list("", None, 0, None).await.expect("list all");
    assert_eq!(everything.items.len(), 7, "the empty prefix lists objects only");
}

pub(crate) async fn data_and_revisions_survive_reopen(h: &impl Harness) {
    let s = h.open(100);
    let mut last = 0;
    for i in 0..5 {
        let rev = s.create(&format!("core/configmaps/a/ns/{i}"), bytes(&i.to_string())).await.expect("create");
        assert!(rev > last);
        last = rev;
    }
    let gone = s.delete("core/configmaps/a/ns/4", None).await.expect("delete");
    drop(s);
    let s = h.open(100);
    assert_eq!(s.current_revision(), gone.revision, "a delete's revision is persisted too");
    let page = s.list("core/configmaps/a/", None, 0, None).await.expect("list");
    assert_eq!(page.items.len(), 4);
    assert_eq!(s.get("core/configmaps/a/ns/3").await.expect("get").value, bytes("3"));
    let next = s.create("core/configmaps/a/ns/new", bytes("n")).await.expect("create");
    assert!(next > gone.revision, "revisions continue after reopen");
}

pub(crate) async fn concurrent_writers_are_all_acknowledged(h: &impl Harness) {
    let s = Arc::new(h.open(100));
    let writers = (0..50).map(|i| {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.create(&format!("core/configmaps/a/ns/{i:02}"), bytes("v")).await })
    });
    let mut revisions = HashSet::new();
    for writer in writers.collect::<Vec<_>>() {
        let rev = writer.await.expect("join").expect("create");
        assert!(rev <= s.current_revision(), "acknowledged before durable");
        assert!(revisions.insert(rev), "revision {rev} handed out twice");
    }
    assert_eq!(s.list("core/configmaps/a/", None, 0, None).await.expect("list").items.len(), 50);
}

pub(crate) async fn racing_writers_on_one_key_let_exactly_one_win(h: &impl Harness) {
    let s = Arc::new(h.open(100));
    let key = "core/configmaps/a/ns/contended";
    let base = s.create(key, bytes("0")).await.expect("create");
    let racers = (0..20).map(|i| {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.update(key, base, bytes(&i.to_string())).await })
    });
    let mut winners = Vec::new();
    for racer in racers.collect::<Vec<_>>() {
        match racer.await.expect("join") {
            Ok(rev) => winners.push(rev),
            Err(StorageError::Conflict { current, .. }) => assert!(current > base, "a loser must see the winner's revision"),
            Err(other) => panic!("expected Ok or Conflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one update from revision {base} may win");
    assert_eq!(s.get(key).await.expect("get").revision, winners[0]);
}

pub(crate) async fn watch_replays_then_follows_live_in_order(h: &impl Harness) {
    let s = h.open(100);
    let x = "core/configmaps/a/ns/x";
    let r1 = s.create(x, bytes("1")).await.expect("create");
    let r2 = s.update(x, r1, bytes("2")).await.expect("update");
    s.create("core/configmaps/ab/ns/x", bytes("other")).await.expect("create ab");
    let mut from_r1 = s.watch("core/configmaps/a/", WatchFrom::After(r1)).expect("watch");
    let mut now = s.watch("core/configmaps/a/", WatchFrom::Now).expect("watch now");
    let deleted = s.delete(x, None).await.expect("delete");
    s.create("core/configmaps/ab/ns/y", bytes("other")).await.expect("create ab");
    let r4 = s.create("core/configmaps/a/ns/y", bytes("y")).await.expect("create y");

    let replayed = next_event(&mut from_r1).await.expect("event");
    assert_eq!((replayed.kind, replayed.revision, replayed.prev), (EventKind::Modified, r2, Some(bytes("1"))));
    for stream in [&mut from_r1, &mut now] {
        let del = next_event(stream).await.expect("event");
        assert_eq!(del.kind, EventKind::Deleted);
        assert_eq!((del.revision, del.value.clone(), del.prev), (deleted.revision, bytes("2"), Some(bytes("2"))));
        let add = next_event(stream).await.expect("event");
        let expected = (EventKind::Added, "core/configmaps/a/ns/y", r4, None);
        assert_eq!((add.kind, add.key.as_str(), add.revision, add.prev), expected);
        assert!(quiet(stream).await, "cluster a must not see cluster ab");
    }
}

pub(crate) async fn watch_expires_past_the_window_and_after_reopen(h: &impl Harness) {
    let s = h.open(3);
    let mut revs = Vec::new();
    for i in 0..6 {
        revs.push(s.create(&format!("core/configmaps/a/ns/{i}"), bytes("v")).await.expect("create"));
    }
    match s.watch("", WatchFrom::After(revs[0])) {
        Err(StorageError::Expired { requested, .. }) => assert_eq!(requested, revs[0]),
        Err(other) => panic!("expected Expired, got {other:?}"),
        Ok(_) => panic!("expected Expired, got a stream"),
    }
    let mut recent = s.watch("", WatchFrom::After(revs[3])).expect("recent revision is served");
    assert_eq!(next_event(&mut recent).await.expect("event").revision, revs[4]);
    drop(recent);
    drop(s);

    let s = h.open(3);
    let current = s.current_revision();
    match s.watch("", WatchFrom::After(revs[4])) {
        Err(StorageError::Expired { requested, oldest }) => assert_eq!((requested, oldest), (revs[4], current)),
        Err(other) => panic!("expected Expired, got {other:?}"),
        Ok(_) => panic!("expected Expired after reopen, got a stream"),
    }
    let mut live = s.watch("", WatchFrom::After(current)).expect("watch from the current revision");
    let next = s.create("core/configmaps/a/ns/next", bytes("v")).await.expect("create");
    assert_eq!(next_event(&mut live).await.expect("event").revision, next);
}

pub(crate) async fn lagging_watcher_expires_and_ends(h: &impl Harness) {
    let s = h.open(4);
    let mut slow = s.watch("", WatchFrom::Now).expect("watch");
    for i in 0..10 {
        s.create(&format!("core/configmaps/a/ns/{i}"), bytes("v")).await.expect("create");
    }
    assert!(matches!(next_event(&mut slow).await, Err(StorageError::Expired { .. })));
    let end = tokio::time::timeout(Duration::from_secs(10), slow.next()).await.expect("stream must end");
    assert!(end.is_none(), "nothing follows Expired");
}

/// Expands the suite as `#[tokio::test]`s over a fresh harness built by `$harness` per test.
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::storage::conformance::conformance_tests!(@each $harness;
            crud_and_preconditions,
            list_pages_in_key_order_within_prefix,
            data_and_revisions_survive_reopen,
            concurrent_writers_are_all_acknowledged,
            racing_writers_on_one_key_let_exactly_one_win,
            watch_replays_then_follows_live_in_order,
            watch_expires_past_the_window_and_after_reopen,
            lagging_watcher_expires_and_ends,
        );
    };
    (@each $harness:expr; $($name:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::storage::conformance::$name(&$harness).await;
            }
        )*
    };
}
pub(crate) use conformance_tests;
