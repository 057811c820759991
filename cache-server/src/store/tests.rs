use super::*;

fn key(name: &str) -> Key {
    Key { group: "apis.kcp.io".into(), resource: "apiexports".into(), cluster: "root".into(), namespace: String::new(), name: name.into() }
}

fn snapshot(shard: &str, revision: u64, names: &[&str]) -> Snapshot {
    Snapshot { shard: shard.into(), revision, objects: names.iter().map(|n| (key(n), Bytes::from(format!("{{\"n\":\"{n}\"}}")))).collect() }
}

fn upsert(shard: &str, revision: u64, name: &str) -> Change {
    Change { shard: shard.into(), revision, key: key(name), json: Some(Bytes::from_static(b"{}")), published_unix_micros: 0 }
}

fn delete(shard: &str, revision: u64, name: &str) -> Change {
    Change { json: None, ..upsert(shard, revision, name) }
}

fn names(store: &Store) -> Vec<String> {
    store.list(&Filter::default()).into_iter().map(|(s, k, _)| format!("{s}/{}", k.name)).collect()
}

fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Event::Snapshot(s) => format!("snapshot {}@{} {}", s.shard, s.revision, s.objects.len()),
            Event::Change(c) => format!("change {}@{} {}", c.shard, c.revision, c.key.name),
            Event::Replaced { shard, revision } => format!("replaced {shard}@{revision}"),
        })
        .collect()
}

#[test]
fn a_snapshot_replaces_the_shards_whole_set() {
    let mut store = Store::new(10);
    let a = store.open("a");
    let b = store.open("b");
    store.replace(a, snapshot("a", 5, &["x", "y"])).unwrap();
    store.replace(b, snapshot("b", 7, &["z"])).unwrap();
    store.replace(a, snapshot("a", 9, &["y"])).unwrap();
    assert_eq!(names(&store), ["a/y", "b/z"]);
    assert_eq!(store.snapshot_of("a", &Filter::default()).map(|s| (s.revision, s.objects.len())), Some((9, 1)));
    assert_eq!(store.snapshot_of("c", &Filter::default()), None);
    assert_eq!(store.find(None, &key("z")).map(|(shard, _)| shard).as_deref(), Some("b"));
    assert_eq!(store.find(Some("a"), &key("z")), None);
    assert_eq!(store.revisions(), BTreeMap::from([("a".to_string(), 9), ("b".to_string(), 7)]));
}

#[test]
fn changes_apply_once_and_in_order() {
    let mut store = Store::new(10);
    let a = store.open("a");
    assert_eq!(store.apply(a, upsert("a", 1, "early")).unwrap(), None, "nothing to amend before the snapshot");
    store.replace(a, snapshot("a", 5, &["x"])).unwrap();
    assert!(store.apply(a, upsert("a", 6, "y")).unwrap().is_some());
    assert_eq!(store.apply(a, delete("a", 6, "y")).unwrap(), None, "a replayed revision is ignored");
    assert!(store.apply(a, delete("a", 7, "x")).unwrap().is_some());
    assert_eq!(names(&store), ["a/y"]);
}

#[test]
fn a_superseded_publisher_is_refused() {
    let mut store = Store::new(10);
    let old = store.open("a");
    store.replace(old, snapshot("a", 1, &["x"])).unwrap();
    let new = store.open("a");
    assert_eq!(store.apply(old, upsert("a", 2, "y")), Err(Superseded));
    assert_eq!(store.replace(old, snapshot("a", 2, &[])), Err(Superseded));
    store.replace(new, snapshot("a", 3, &["z"])).unwrap();
    assert_eq!(names(&store), ["a/z"]);
}

#[test]
fn resuming_replays_covered_shards_and_snapshots_the_others() {
    let mut store = Store::new(10);
    let a = store.open("a");
    let b = store.open("b");
    let c = store.open("c");
    store.replace(a, snapshot("a", 10, &["x"])).unwrap();
    store.replace(b, snapshot("b", 20, &["y", "z"])).unwrap();
    store.replace(c, snapshot("c", 30, &["w"])).unwrap();
    store.apply(a, upsert("a", 11, "x2")).unwrap();
    store.apply(a, upsert("a", 12, "x3")).unwrap();
    store.apply(b, delete("b", 21, "y")).unwrap();
    // a: covered from 11; b: ahead of this replica; c: never seen by the subscriber.
    let resume = BTreeMap::from([("a".to_string(), 11), ("b".to_string(), 25)]);
    assert_eq!(summary(&store.catch_up(&Filter::default(), &resume)), ["change a@12 x3", "snapshot b@21 1", "snapshot c@30 1"]);
    // Up to date everywhere: nothing to send.
    assert!(store.catch_up(&Filter::default(), &store.revisions()).is_empty());
}

#[test]
fn a_reader_behind_the_window_gets_a_snapshot() {
    let mut store = Store::new(2);
    let a = store.open("a");
    store.replace(a, snapshot("a", 1, &[])).unwrap();
    for rev in 2..=5 {
        store.apply(a, upsert("a", rev, &format!("o{rev}"))).unwrap();
    }
    // The window holds 4 and 5: a reader at 3 can replay, one at 2 cannot.
    let at = |r: u64| summary(&store.catch_up(&Filter::default(), &BTreeMap::from([("a".to_string(), r)])));
    assert_eq!(at(3), ["change a@4 o4", "change a@5 o5"]);
    assert_eq!(at(2), ["snapshot a@5 4"]);
    assert_eq!(at(1), ["snapshot a@5 4"]);
}

#[test]
fn a_new_snapshot_drops_the_shards_history() {
    let mut store = Store::new(10);
    let a = store.open("a");
    store.replace(a, snapshot("a", 1, &["x"])).unwrap();
    store.apply(a, upsert("a", 2, "y")).unwrap();
    let a = store.open("a");
    store.replace(a, snapshot("a", 3, &["y"])).unwrap();
    assert_eq!(summary(&store.catch_up(&Filter::default(), &BTreeMap::from([("a".to_string(), 1)]))), ["snapshot a@3 1"]);
    assert!(store.catch_up(&Filter::default(), &BTreeMap::from([("a".to_string(), 3)])).is_empty());
}

#[test]
fn filters_narrow_snapshots_and_replays() {
    let mut store = Store::new(10);
    let a = store.open("a");
    let other = Key { resource: "apiresourceschemas".into(), ..key("s") };
    store
        .replace(
            a,
            Snapshot { shard: "a".into(), revision: 1, objects: vec![(key("x"), Bytes::from_static(b"{}")), (other.clone(), Bytes::from_static(b"{}"))] },
        )
        .unwrap();
    store.apply(a, Change { key: other, ..upsert("a", 2, "") }).unwrap();
    let exports = Filter { resource: Some("apiexports".into()), ..Filter::default() };
    assert_eq!(summary(&store.catch_up(&exports, &BTreeMap::new())), ["snapshot a@2 1"]);
    assert!(store.catch_up(&exports, &BTreeMap::from([("a".to_string(), 1)])).is_empty());
    let elsewhere = Filter { shard: Some("b".into()), ..Filter::default() };
    assert!(store.catch_up(&elsewhere, &BTreeMap::new()).is_empty());
    assert_eq!(store.counts().len(), 2);
}

#[test]
fn an_unloaded_shard_is_not_offered() {
    let mut store = Store::new(10);
    store.open("a");
    assert!(store.catch_up(&Filter::default(), &BTreeMap::new()).is_empty());
}
