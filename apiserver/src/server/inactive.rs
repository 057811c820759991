//! Which logical clusters are inactive (`core.kcp.io/inactive: "true"` on their
//! LogicalCluster), kept current from a storage watch so that open watches can be ended when
//! their cluster is closed. Single requests check the stored LogicalCluster itself.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;

use crate::storage::{key, SharedStorage, StorageError, WatchFrom};

/// The set of inactive logical clusters, as it changes.
pub type Inactive = tokio::sync::watch::Receiver<Arc<HashSet<String>>>;

const PREFIX: &str = "core.kcp.io/logicalclusters/";

use super::access::is_inactive as inactive;

/// Starts following the LogicalClusters of `store`.
pub fn follow(store: SharedStorage) -> Result<Inactive, StorageError> {
    let page_set = |items: &[crate::storage::Stored]| -> HashSet<String> {
        items.iter().filter(|s| inactive(&s.value)).filter_map(|s| key::decode(&s.key).map(|(c, _, _)| c.to_string())).collect()
    };
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(HashSet::new()));
    tokio::spawn(async move {
        loop {
            let Ok(page) = store.list(PREFIX, None, 0).await else {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            };
            let mut set = page_set(&page.items);
            tx.send_replace(Arc::new(set.clone()));
            let Ok(mut events) = store.watch(PREFIX, WatchFrom::After(page.revision)) else { continue };
            while let Some(Ok(ev)) = events.next().await {
                let Some((cluster, _, _)) = key::decode(&ev.key) else { continue };
                let now = ev.kind != crate::storage::EventKind::Deleted && inactive(&ev.value);
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

/// Whether a watch of `cluster` (None: every cluster) must end now that `now` is inactive,
/// given what was inactive when it started.
pub fn closes(cluster: Option<&str>, before: &HashSet<String>, now: &HashSet<String>) -> bool {
    match cluster {
        Some(c) => now.contains(c),
        // Wildcard watches end whenever some cluster is newly closed, as in kcp.
        None => now.iter().any(|c| !before.contains(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_watches_close() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        assert!(closes(Some("a"), &set(&[]), &set(&["a"])));
        assert!(!closes(Some("b"), &set(&[]), &set(&["a"])));
        assert!(closes(None, &set(&[]), &set(&["a"])));
        assert!(!closes(None, &set(&["a"]), &set(&["a"])));
        assert!(inactive(br#"{"metadata":{"annotations":{"core.kcp.io/inactive":"true"}}}"#));
        assert!(!inactive(br#"{"metadata":{}}"#));
    }
}
