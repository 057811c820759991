//! The shard's side of the cache: follows every kind that may be replicated and hands each
//! object that qualifies ([`select`]) to a [`Sink`] (the cache publisher), in revision order.
//! Objects that stop qualifying, or are deleted, are withdrawn.

pub mod publisher;
pub mod select;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use apiserver::controller::{Change, Informers};
use apiserver::storage::{Key, SharedStorage};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::tenancy::{self, PATH_ANNOTATION};

/// Where a shard's replicated objects go.
pub trait Sink: Send + Sync + 'static {
    /// The object at storage key `key` is now `json`, or gone (None), as of store `revision`.
    fn set(&self, key: &Key<'_>, json: Option<Bytes>, revision: u64);
    /// Everything that existed when publishing started has been handed over: a replica may
    /// now be given the complete set.
    fn synced(&self);
}

/// What the informers report, in one ordered stream.
enum Step {
    Change(Change),
    Synced,
}

/// Publishes this shard's replicated objects into `sink`, as `informers` (not yet running)
/// report them; the returned future publishes until it is dropped.
pub fn follow(informers: &Informers, store: SharedStorage, sink: Arc<dyn Sink>) -> impl Future<Output = ()> + Send + 'static {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let synced: Vec<_> = select::PREFIXES
        .iter()
        .map(|prefix| {
            let changes = tx.clone();
            informers.follow(prefix, Box::new(move |c: &Change| drop(changes.send(Step::Change(c.clone())))))
        })
        .collect();
    // The feed reports a prefix's first list before saying it is synced, so `Synced` follows
    // every object that existed when publishing started.
    let synced = async move {
        if futures::future::join_all(synced).await.iter().all(Result::is_ok) {
            drop(tx.send(Step::Synced));
        }
    };
    let publish = async move {
        let mut paths: HashMap<String, Option<String>> = HashMap::new();
        while let Some(step) = rx.recv().await {
            match step {
                Step::Change(change) => publish(&store, sink.as_ref(), &mut paths, change).await,
                Step::Synced => sink.synced(),
            }
        }
    };
    async move {
        futures::future::join(synced, publish).await;
    }
}

/// Hands one change to the sink: the published copy when the object qualifies, else a withdrawal.
async fn publish(store: &SharedStorage, sink: &dyn Sink, paths: &mut HashMap<String, Option<String>>, change: Change) {
    let Some(key) = Key::parse(change.key()) else { return };
    let Change::Present(stored) = &change else {
        sink.set(&key, None, store.current_revision());
        return;
    };
    let obj: Value = match serde_json::from_slice(&stored.value) {
        Ok(obj) => obj,
        Err(_) => return,
    };
    if !select::replicated(key.group, key.resource, key.cluster, &obj) {
        sink.set(&key, None, stored.revision);
        return;
    }
    // The path of a logical cluster never changes: read once per cluster.
    let path = match paths.get(key.cluster) {
        Some(path) => path.clone(),
        None => {
            let path = tenancy::logical_cluster(store, key.cluster)
                .await
                .and_then(|lc| lc.pointer("/metadata/annotations").and_then(|a| a.get(PATH_ANNOTATION)).and_then(Value::as_str).map(String::from));
            paths.insert(key.cluster.to_string(), path.clone());
            path
        }
    };
    let copy = select::published_copy(obj, path.as_deref());
    sink.set(&key, Some(Bytes::from(serde_json::to_vec(&copy).unwrap_or_default())), stored.revision);
}
