//! The informer: lists the store, then follows its watch, and tells each handler about every
//! change under the prefix it follows, in revision order.
//!
//! When the watch breaks (the event window moved past us: `Expired`, or any other error) it
//! lists again and continues; keys that vanished meanwhile are reported as gone, so handlers
//! that keep indexes never hold a deleted object forever.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use crate::storage::{Event, EventKind, SharedStorage, Stored, WatchFrom};
use futures::StreamExt;

/// How long the informer waits before listing again after the store failed.
const RELIST_DELAY: Duration = Duration::from_millis(500);

/// What an informer saw about one key.
#[derive(Debug, Clone)]
pub enum Change {
    /// The key exists with this value.
    Present(Stored),
    /// The key was deleted.
    Gone(String),
}

impl Change {
    /// The storage key the change is about.
    pub fn key(&self) -> &str {
        match self {
            Change::Present(s) => &s.key,
            Change::Gone(k) => k,
        }
    }

    fn from_event(ev: Event) -> Change {
        match ev.kind {
            EventKind::Deleted => Change::Gone(ev.key),
            _ => Change::Present(Stored { key: ev.key, value: ev.value, revision: ev.revision }),
        }
    }
}

/// Where an informer remembers the keys it reported present, so that a relist can tell which
/// of them vanished meanwhile. A handler that indexes every key itself can answer from its
/// index instead of the informer keeping a second copy (informers span the whole shard).
pub trait Known: Send + 'static {
    /// Notes a change as it is reported.
    fn saw(&mut self, change: &Change);
    /// The keys once reported present that a fresh listing lacks.
    fn vanished(&self, listed: &HashSet<&str>) -> Vec<String>;
}

impl<K: Known + ?Sized> Known for Box<K> {
    fn saw(&mut self, change: &Change) {
        (**self).saw(change)
    }

    fn vanished(&self, listed: &HashSet<&str>) -> Vec<String> {
        (**self).vanished(listed)
    }
}

/// The feed's own record of every key it reported, for when no subscriber keeps one.
#[derive(Default)]
struct KnownKeys(HashSet<Box<str>>);

impl Known for KnownKeys {
    fn saw(&mut self, change: &Change) {
        match change {
            Change::Present(s) => self.0.insert(s.key.as_str().into()),
            Change::Gone(k) => self.0.remove(k.as_str()),
        };
    }

    fn vanished(&self, listed: &HashSet<&str>) -> Vec<String> {
        self.0.iter().filter(|k| !listed.contains(&***k)).map(|k| k.to_string()).collect()
    }
}

/// What the shared informer calls with each change it reports.
pub type Handler = Box<dyn FnMut(&Change) + Send>;

/// The informer of a process, shared by its controllers: one list and one watch of the whole
/// store, and one record of its keys, however many controllers follow which prefixes
/// (client-go's shared informer factory, with a single feed). Controllers subscribe while they
/// are built; [`Informers::run`] then starts the feed.
pub struct Informers {
    store: SharedStorage,
    subscribers: Mutex<Subscribers>,
}

#[derive(Default)]
struct Subscribers {
    /// Each handler with the prefix it follows, in subscription order.
    handlers: Vec<(String, Handler)>,
    synced: Vec<tokio::sync::oneshot::Sender<()>>,
    /// An index of every key that a subscriber keeps anyway, standing in for the feed's own.
    record: Option<Box<dyn Known>>,
}

impl Informers {
    /// No subscribers yet, over `store`.
    pub fn new(store: SharedStorage) -> Informers {
        Informers { store, subscribers: Mutex::default() }
    }

    fn subscribers(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reports every change under `prefix` to `handler`, in revision order, from the first list
    /// on; the receiver completes once that list has been reported.
    pub fn follow(&self, prefix: &str, handler: Handler) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut subscribers = self.subscribers();
        subscribers.handlers.push((prefix.into(), handler));
        subscribers.synced.push(tx);
        rx
    }

    /// Lets `known`, which its owner keeps up to date with every key of the store, say what a
    /// relist no longer finds, so that the feed keeps no record of its own.
    pub fn remember_with(&self, known: impl Known) {
        self.subscribers().record = Some(Box::new(known));
    }

    /// Runs the feed until the future is dropped.
    pub async fn run(self) {
        let Subscribers { mut handlers, synced, record } = self.subscribers.into_inner().unwrap_or_else(|e| e.into_inner());
        let record = record.unwrap_or_else(|| Box::<KnownKeys>::default());
        let on_change = move |change: Change| {
            for (prefix, handler) in &mut handlers {
                if change.key().starts_with(prefix.as_str()) {
                    handler(&change);
                }
            }
        };
        let on_synced = move || {
            for tx in synced {
                let _ = tx.send(());
            }
        };
        feed(self.store, record, on_change, on_synced).await
    }
}

/// Lists the whole store and follows it forever, calling `on_change` for every change and
/// `on_synced` once after the first complete list; `known` remembers the keys reported, for
/// relists.
async fn feed(store: SharedStorage, mut known: impl Known, mut on_change: impl FnMut(Change), on_synced: impl FnOnce()) {
    let mut on_synced = Some(on_synced);
    loop {
        let Some(revision) = relist(&store, &mut known, &mut on_change).await else {
            tokio::time::sleep(RELIST_DELAY).await;
            continue;
        };
        if let Some(f) = on_synced.take() {
            f();
        }
        let mut events = match store.watch("", WatchFrom::After(revision)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "informer watch failed");
                tokio::time::sleep(RELIST_DELAY).await;
                continue;
            }
        };
        while let Some(ev) = events.next().await {
            match ev {
                Ok(ev) => report(Change::from_event(ev), &mut known, &mut on_change),
                Err(e) => {
                    tracing::info!(error = %e, "informer watch ended; re-listing");
                    break;
                }
            }
        }
    }
}

fn report(change: Change, known: &mut impl Known, on_change: &mut impl FnMut(Change)) {
    known.saw(&change);
    on_change(change);
}

/// Lists every page of the store, reports each item and each known key no longer there; returns
/// the revision to watch from, or None when the store failed.
async fn relist(store: &SharedStorage, known: &mut impl Known, on_change: &mut impl FnMut(Change)) -> Option<u64> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    let mut revision = None;
    loop {
        let page = match store.list("", after.as_deref(), 0, revision).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "informer list failed");
                return None;
            }
        };
        // Later pages are read at the first one's revision where the backend keeps history;
        // where it does not, they show later writes, and watching from the first revision
        // replays what changed in between, which handlers see as ordinary updates.
        revision.get_or_insert(page.revision);
        items.extend(page.items);
        match page.more_after {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    let vanished = known.vanished(&items.iter().map(|s| s.key.as_str()).collect());
    for gone in vanished {
        report(Change::Gone(gone), known, on_change);
    }
    for item in items {
        report(Change::Present(item), known, on_change);
    }
    revision
}

#[cfg(all(test, feature = "sled"))]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::controller::testing::Fixture;

    /// A handler writing each change into `seen` as `+key` (present) or `-key` (gone).
    fn recording(seen: &Arc<Mutex<Vec<String>>>) -> Handler {
        let seen = seen.clone();
        Box::new(move |c: &Change| {
            let tag = if matches!(c, Change::Present(_)) { "+" } else { "-" };
            seen.lock().unwrap().push(format!("{tag}{}", c.key()));
        })
    }

    #[test]
    fn known_keys_name_what_a_relist_no_longer_finds() {
        let stored = |key: &str| Change::Present(Stored { key: key.into(), value: bytes::Bytes::new(), revision: 1 });
        let mut known = KnownKeys::default();
        for key in ["core/configmaps/c1/ns/a", "core/configmaps/c1/ns/b", "core/configmaps/c1/ns/c"] {
            known.saw(&stored(key));
        }
        known.saw(&Change::Gone("core/configmaps/c1/ns/c".into()));
        assert_eq!(known.vanished(&["core/configmaps/c1/ns/b"].into()), ["core/configmaps/c1/ns/a"]);
    }

    #[tokio::test]
    async fn every_follower_sees_each_change_under_its_prefix_in_order() {
        let f = Fixture::new().await;
        f.put("core/configmaps/c1/default/a", serde_json::json!({"metadata": {"name": "a"}})).await;
        let informers = Informers::new(f.store.clone());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let follower = |name: &'static str| -> Handler {
            let seen = seen.clone();
            Box::new(move |c: &Change| seen.lock().unwrap().push(format!("{name} {}", c.key())))
        };
        let synced = [
            informers.follow("core/configmaps/", follower("one")),
            informers.follow("core/configmaps/", follower("two")),
            informers.follow("core/secrets/", follower("secrets")),
        ];
        let task = tokio::spawn(informers.run());
        for rx in synced {
            rx.await.unwrap();
        }
        f.put("core/configmaps/c1/default/b", serde_json::json!({"metadata": {"name": "b"}})).await;
        f.put("core/secrets/c1/default/s", serde_json::json!({"metadata": {"name": "s"}})).await;
        crate::controller::testing::eventually(|| seen.lock().unwrap().len() == 5).await;
        task.abort();
        let seen = seen.lock().unwrap().clone();
        for (name, keys) in [
            ("one", ["core/configmaps/c1/default/a", "core/configmaps/c1/default/b"].as_slice()),
            ("two", &["core/configmaps/c1/default/a", "core/configmaps/c1/default/b"]),
            ("secrets", &["core/secrets/c1/default/s"]),
        ] {
            let theirs: Vec<&str> = seen.iter().filter_map(|s| s.strip_prefix(name).and_then(|k| k.strip_prefix(' '))).collect();
            assert_eq!(theirs, keys, "{name} sees each change under its prefix, in order");
        }
    }

    #[tokio::test]
    async fn a_record_kept_by_a_subscriber_names_what_a_list_no_longer_finds() {
        struct Remembers(Vec<String>);
        impl Known for Remembers {
            fn saw(&mut self, _: &Change) {}
            fn vanished(&self, listed: &HashSet<&str>) -> Vec<String> {
                self.0.iter().filter(|k| !listed.contains(k.as_str())).cloned().collect()
            }
        }
        let f = Fixture::new().await;
        f.put("core/configmaps/c1/default/a", serde_json::json!({"metadata": {"name": "a"}})).await;
        let informers = Informers::new(f.store.clone());
        informers.remember_with(Remembers(vec!["core/configmaps/c1/default/a".into(), "core/configmaps/c1/default/gone".into()]));
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let synced = informers.follow("core/configmaps/", recording(&seen));
        let task = tokio::spawn(informers.run());
        synced.await.unwrap();
        task.abort();
        assert_eq!(*seen.lock().unwrap(), ["-core/configmaps/c1/default/gone", "+core/configmaps/c1/default/a"]);
    }

    #[tokio::test]
    async fn lists_then_follows_and_reports_deletions() {
        let f = Fixture::new().await;
        f.put("core/configmaps/c1/default/a", serde_json::json!({"metadata": {"name": "a"}})).await;
        let informers = Informers::new(f.store.clone());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let synced = informers.follow("core/configmaps/", recording(&seen));
        let task = tokio::spawn(informers.run());
        synced.await.unwrap();
        f.put("core/configmaps/c1/default/b", serde_json::json!({"metadata": {"name": "b"}})).await;
        f.store.delete("core/configmaps/c1/default/a", None).await.unwrap();
        crate::controller::testing::eventually(|| seen.lock().unwrap().len() == 3).await;
        task.abort();
        assert_eq!(*seen.lock().unwrap(), ["+core/configmaps/c1/default/a", "+core/configmaps/c1/default/b", "-core/configmaps/c1/default/a"]);
    }
}
