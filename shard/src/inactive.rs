//! Which logical clusters are inactive (`core.kcp.io/inactive: "true"` on their
//! LogicalCluster), kept current from a storage watch so that open watches can be ended when
//! their cluster is closed. Single requests check the stored LogicalCluster itself.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;

use apiserver::storage::{key, SharedStorage, StorageError, WatchFrom};

/// The set of inactive logical clusters, as it changes.
pub use apiserver::rest::ClosedClusters as Inactive;

const PREFIX: &str = "core.kcp.io/logicalclusters/";

use crate::cluster_gate::is_inactive as inactive;

/// Starts following the LogicalClusters of `store`.
pub fn follow(store: SharedStorage) -> Result<Inactive, StorageError> {
    let page_set = |items: &[apiserver::storage::Stored]| -> HashSet<String> {
        items.iter().filter(|s| inactive(&s.value)).filter_map(|s| key::decode(&s.key).map(|(c, _, _)| c.to_string())).collect()
    };
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(HashSet::new()));
    tokio::spawn(async move {
        loop {
            let Ok(page) = store.list(PREFIX, None, 0, None).await else {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            };
            let mut set = page_set(&page.items);
            tx.send_replace(Arc::new(set.clone()));
            let Ok(mut events) = store.watch(PREFIX, WatchFrom::After(page.revision)) else { continue };
            while let Some(Ok(ev)) = events.next().await {
                let Some((cluster, _, _)) = key::decode(&ev.key) else { continue };
                let now = ev.kind != apiserver::storage::EventKind::Deleted && inactive(&ev.value);
                let changed = if now { set.insert(cluster.to_string()) } else { set.remove(cluster) };
                if changed {
                    tx.send_replace(Arc::new(set.clone()));
                }
            }
            if tx.is_closed() {
                return;
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_only_when_annotated() {
        assert!(inactive(br#"{"metadata":{"annotations":{"core.kcp.io/inactive":"true"}}}"#));
        assert!(!inactive(br#"{"metadata":{}}"#));
    }
}
