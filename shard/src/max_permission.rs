//! kcp's maximal permission policy: when an export sets `maximalPermissionPolicy.local`, a
//! request to one of its resources in a consumer workspace is allowed only if the export's
//! workspace would also allow it to the caller with name and groups prefixed
//! `apis.kcp.io:binding:`. The export's RBAC is read locally or, for an export on another
//! shard, from the cache (its replication marks send such grants there).
//!
//! Every request to a bound resource asks whether its export sets a policy, so the answer is
//! remembered per export until any export changes on this shard or in the cache (both feeds
//! clear it), instead of reading and parsing the export each time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use apimachinery::auth::Attributes;
use apimachinery::registry::crd::{CrdIndex, ExportRef};
use apimachinery::status::ApiError;
use apiserver::auth::authz::{Authorizer, Limit};
use apiserver::storage::{key, WatchFrom};
use futures::future::BoxFuture;
use futures::StreamExt;

use crate::global::Global;

/// What the limit needs to know of an export.
#[derive(Debug, Clone)]
struct Policy {
    /// Whether it sets `maximalPermissionPolicy.local`.
    limits: bool,
    /// Whether its workspace is on this shard.
    local: bool,
    /// Its logical cluster.
    cluster: String,
}

/// Remembered policies (None: no such export), and a generation that every change bumps, so
/// an answer read before a change is not remembered after it.
#[derive(Default)]
struct Remembered {
    generation: u64,
    exports: HashMap<ExportRef, Option<Policy>>,
}

/// The limit of bound resources by their exports' maximal permission policies.
pub struct MaximalPermissionPolicy {
    /// What each binding serves.
    index: Arc<CrdIndex>,
    /// Where bindings, exports and the exports' RBAC are read.
    global: Arc<Global>,
    remembered: Mutex<Remembered>,
}

impl MaximalPermissionPolicy {
    /// The limit, forgetting what it remembers whenever an export changes here (a watch of
    /// the shard's APIExports) or on another shard (the cache's change feed).
    pub fn start(index: Arc<CrdIndex>, global: Arc<Global>) -> Arc<MaximalPermissionPolicy> {
        let this = Arc::new(MaximalPermissionPolicy { index, global: global.clone(), remembered: Mutex::default() });
        tokio::spawn(forget_on_local_changes(Arc::downgrade(&this)));
        if let Some(cache) = &global.cache {
            tokio::spawn(forget_on_cache_changes(Arc::downgrade(&this), cache.changed()));
        }
        this
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Remembered> {
        self.remembered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget(&self) {
        let mut r = self.lock();
        r.generation += 1;
        r.exports.clear();
    }

    /// The policy of `export`, remembered or read.
    async fn policy(&self, export: &ExportRef) -> Result<Option<Policy>, ApiError> {
        let generation = {
            let r = self.lock();
            if let Some(known) = r.exports.get(export) {
                return Ok(known.clone());
            }
            r.generation
        };
        let found = self.global.find("apis.kcp.io", "apiexports", &export.cluster, &export.name).await?;
        let policy = found.map(|f| Policy { limits: f.object.pointer("/spec/maximalPermissionPolicy/local").is_some(), local: f.local, cluster: f.cluster });
        let mut r = self.lock();
        if r.generation == generation {
            r.exports.insert(export.clone(), policy.clone());
        }
        Ok(policy)
    }
}

/// Clears the limit's memory on every change of an APIExport in this shard's store.
async fn forget_on_local_changes(limit: Weak<MaximalPermissionPolicy>) {
    let prefix = key::resource_prefix("apis.kcp.io", "apiexports");
    loop {
        let Some(store) = limit.upgrade().map(|l| l.global.store.clone()) else { return };
        if let Ok(mut events) = store.watch(&prefix, WatchFrom::Now) {
            // The first pass after (re)opening may have missed changes.
            match limit.upgrade() {
                Some(l) => l.forget(),
                None => return,
            }
            while let Some(event) = events.next().await {
                let Some(l) = limit.upgrade() else { return };
                l.forget();
                if event.is_err() {
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Clears the limit's memory whenever an export (or anything of its group) changes in the
/// cache, or the feed lagged.
async fn forget_on_cache_changes(limit: Weak<MaximalPermissionPolicy>, mut changes: tokio::sync::broadcast::Receiver<cache_server::client::Update>) {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match changes.recv().await {
            Ok(cache_server::client::Update::Changed(c)) if c.key.group != "apis.kcp.io" => continue,
            Err(RecvError::Closed) => return,
            Ok(_) | Err(RecvError::Lagged(_)) => match limit.upgrade() {
                Some(l) => l.forget(),
                None => return,
            },
        }
    }
}

impl MaximalPermissionPolicy {
    /// Whether `export`'s policy (if it sets one) allows the request `attrs` to one of its
    /// resources, wherever that resource is reached from.
    pub async fn permits(&self, authz: &Authorizer, export: &ExportRef, attrs: &Attributes) -> Result<bool, ApiError> {
        // An export that is gone (or unknown for now) cannot limit; its binding no longer
        // reports up to date.
        let Some(export) = self.policy(export).await? else { return Ok(true) };
        if !export.limits {
            return Ok(true);
        }
        let prefixed = Attributes { user: attrs.user.for_maximal_permission_policy(), namespace: String::new(), ..attrs.clone() };
        if export.local {
            return authz.allows_by_rbac(&export.cluster, &prefixed).await;
        }
        let Some(rbac) = self.global.cached_rbac(&export.cluster) else { return Ok(false) };
        authz.allows_elsewhere(rbac, &prefixed).await
    }
}

impl Limit for MaximalPermissionPolicy {
    fn allows<'a>(&'a self, authz: &'a Authorizer, cluster: &'a str, attrs: &'a Attributes) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(async move {
            // The index knows the export from the binding's status: no read of the binding.
            let Some(export) = self.index.export_of(cluster, &attrs.api_group, &attrs.resource) else { return Ok(true) };
            self.permits(authz, &export, attrs).await
        })
    }
}
