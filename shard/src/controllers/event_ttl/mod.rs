//! Events expire, as kube-apiserver's `--event-ttl` makes them: an Event not written for the
//! TTL (one hour by default) is deleted, core/v1 and events.k8s.io/v1 alike. Events are
//! short-lived records, and outside the object limit; without this they would pile up in
//! storage for ever. Each Event's clock starts at its last write this process saw, so a
//! restart gives every Event a fresh TTL. Like kube's lease expiry, the deletion goes straight
//! to storage, and only if the Event was not written again meanwhile.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::storage::{key, StorageError};

use super::Error;

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "event-ttl";

/// How long an Event lives after its last write, unless configured (kube's default).
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// When each Event was last written, and at which revision.
type Written = Arc<Mutex<HashMap<ObjectRef, (Instant, u64)>>>;

/// Deletes Events once their TTL has passed.
pub struct EventTtl {
    /// Reaches storage as the controller.
    pub client: SystemClient,
    /// How long an Event lives after its last write.
    pub ttl: Duration,
    written: Written,
}

impl EventTtl {
    /// Expiry after `ttl`, through `client`'s storage.
    pub fn new(client: SystemClient, ttl: Duration) -> Self {
        EventTtl { client, ttl, written: Arc::default() }
    }
}

/// Notes a change of an Event; returns the Event to look at (again).
fn note(written: &Written, change: &Change) -> Option<ObjectRef> {
    let r = ObjectRef::from_key(change.key())?;
    let mut written = written.lock().unwrap_or_else(|e| e.into_inner());
    match change {
        Change::Present(s) => {
            written.insert(r.clone(), (Instant::now(), s.revision));
            Some(r)
        }
        Change::Gone(_) => {
            written.remove(&r);
            None
        }
    }
}

/// The controller, fed by the Events of both API groups.
pub fn controller(reconciler: EventTtl, informers: &Informers) -> Controller<EventTtl> {
    let written = reconciler.written.clone();
    let mut c = Controller::new(NAME, reconciler);
    for (group, resource) in [("", "events"), ("events.k8s.io", "events")] {
        let written = written.clone();
        c = c.watches(informers, key::resource_prefix(group, resource), move |change: &Change| note(&written, change));
    }
    c
}

impl Reconcile for EventTtl {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        let Some((at, revision)) = self.written.lock().unwrap_or_else(|e| e.into_inner()).get(r).copied() else { return Ok(Action::Done) };
        let left = self.ttl.saturating_sub(at.elapsed());
        if !left.is_zero() {
            return Ok(Action::RequeueAfter(left));
        }
        match self.client.api().store.delete(&r.key(), Some(revision)).await {
            // Written again meanwhile: the informer has (or will have) the newer write.
            Ok(_) | Err(StorageError::NotFound { .. } | StorageError::Conflict { .. }) => Ok(Action::Done),
            Err(e) => Err(e.into()),
        }
    }
}
