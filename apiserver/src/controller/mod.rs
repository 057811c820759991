//! A small controller runtime in the spirit of kube-runtime: informers feed a keyed work queue,
//! workers run `reconcile` for one key at a time, failures are retried with capped exponential
//! back-off, and queue depth, reconcile time and results are metrics.
//!
//! Reconciles are level-driven: a key says *what* to look at, never what changed, so a queue
//! that folds ten events into one run, or a re-list after a broken watch, loses nothing. This
//! module knows storage and nothing of the shard or of kcp.

pub mod informer;
pub mod metrics;
pub mod queue;

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

pub use informer::{Change, Informers, Known};
pub use metrics::ControllerMetrics;
pub use queue::{Backoff, WorkQueue};

use metrics::{ControllerLabels, Outcome, ResultLabels};

/// What a successful reconcile asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the next change of the key.
    Done,
    /// Run again after this long (polling something without a watch, or waiting for others).
    RequeueAfter(Duration),
}

/// One controller's logic: brings the world in line with the object a key names.
pub trait Reconcile: Send + Sync + 'static {
    /// What the queue holds; two equal keys never reconcile at the same time.
    type Key: Clone + Eq + Hash + Display + Send + Sync + 'static;
    /// Why a reconcile failed; it is retried with back-off.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Reconciles one key.
    fn reconcile(&self, key: &Self::Key) -> impl Future<Output = Result<Action, Self::Error>> + Send;
}

/// A controller being assembled: its reconciler, the informers that queue its keys, and how
/// many workers run.
pub struct Controller<R: Reconcile> {
    name: &'static str,
    reconciler: Arc<R>,
    queue: Arc<WorkQueue<R::Key>>,
    synced: Vec<tokio::sync::oneshot::Receiver<()>>,
    workers: usize,
    backoff: Backoff,
    metrics: ControllerMetrics,
    /// Opened once the caches have synced.
    ready: Option<crate::server::probes::Gate>,
}

impl<R: Reconcile> Controller<R> {
    /// A controller named `name` (the metric label and span field) with one worker.
    pub fn new(name: &'static str, reconciler: R) -> Self {
        Controller {
            name,
            reconciler: Arc::new(reconciler),
            queue: Arc::default(),
            synced: Vec::new(),
            workers: 1,
            backoff: Backoff::default(),
            metrics: ControllerMetrics::default(),
            ready: None,
        }
    }

    /// Follows `prefix` through the shared `informers`; `map` turns each change into the keys to
    /// reconcile. `map` sees every change in revision order before any key is queued, so it may
    /// also maintain an index.
    pub fn watches<I>(mut self, informers: &Informers, prefix: impl AsRef<str>, mut map: impl FnMut(&Change) -> I + Send + 'static) -> Self
    where
        I: IntoIterator<Item = R::Key>,
    {
        let queue = self.queue.clone();
        let enqueue = move |change: &Change| {
            for key in map(change) {
                queue.add(key);
            }
        };
        self.synced.push(informers.follow(prefix.as_ref(), Box::new(enqueue)));
        self
    }

    /// The controller's name, as its metrics and spans give it.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How many keys reconcile at once (different keys only).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// How failed keys are retried.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Reports into these metrics (shared by all controllers of the process).
    pub fn metrics(mut self, metrics: &ControllerMetrics) -> Self {
        self.metrics = metrics.clone();
        self
    }

    /// Opens `gate` once every informer has listed: the controller then acts on complete state.
    pub fn ready_gate(mut self, gate: crate::server::probes::Gate) -> Self {
        self.ready = Some(gate);
        self
    }

    /// The queue, to trigger keys from outside the informers.
    pub fn queue(&self) -> Arc<WorkQueue<R::Key>> {
        self.queue.clone()
    }

    /// Runs the workers until the future is dropped. They start once every informer the
    /// controller follows has listed, so a reconcile never judges from a half-filled index.
    pub async fn run(self) {
        let Controller { name, reconciler, queue, synced, workers, backoff, metrics, ready } = self;
        queue.report_depth(metrics.depth.get_or_create(&ControllerLabels { controller: name }).clone());
        let work = async {
            for rx in synced {
                let _ = rx.await;
            }
            tracing::debug!(controller = name, workers, "caches synced; starting workers");
            if let Some(gate) = &ready {
                gate.open();
            }
            let worker = |_| {
                let (reconciler, queue, metrics) = (reconciler.clone(), queue.clone(), metrics.clone());
                async move {
                    while let Some(key) = queue.next().await {
                        let outcome = run_one(name, &reconciler, &key, &metrics).await;
                        match outcome {
                            Ok(Action::Done) => queue.forget(&key),
                            Ok(Action::RequeueAfter(d)) => {
                                queue.forget(&key);
                                queue.add_after(key.clone(), d);
                            }
                            Err(()) => {
                                let delay = backoff.delay(queue.failed(&key));
                                queue.add_after(key.clone(), delay);
                            }
                        }
                        queue.done(&key);
                    }
                }
            };
            futures::future::join_all((0..workers).map(worker)).await;
        };
        // When this future is dropped the workers stop, and the queue takes no more keys.
        let _close = CloseOnDrop(&*queue);
        work.await;
    }
}

/// Closes a queue when the controller stops, so timers and waiting workers end.
struct CloseOnDrop<'a, K: Clone + Eq + Hash + Send + 'static>(&'a WorkQueue<K>);

impl<K: Clone + Eq + Hash + Send + 'static> Drop for CloseOnDrop<'_, K> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Runs one reconcile in its own task (a panic fails the key, not the worker) and records it.
async fn run_one<R: Reconcile>(name: &'static str, reconciler: &Arc<R>, key: &R::Key, metrics: &ControllerMetrics) -> Result<Action, ()> {
    let span = tracing::info_span!("reconcile", controller = name, key = %key);
    let started = Instant::now();
    let task = {
        let (reconciler, key) = (reconciler.clone(), key.clone());
        tokio::spawn(async move { reconciler.reconcile(&key).await }.instrument(span.clone()))
    };
    let result = match task.await {
        Ok(Ok(action)) => Ok(action),
        Ok(Err(e)) => {
            let _g = span.enter();
            tracing::warn!(error = %crate::process::report(&e), "reconcile failed; retrying with back-off");
            Err(())
        }
        Err(e) => {
            let _g = span.enter();
            tracing::error!(error = %e, "reconcile panicked; retrying with back-off");
            Err(())
        }
    };
    metrics.duration.get_or_create(&ControllerLabels { controller: name }).observe(started.elapsed().as_secs_f64());
    let result_label = match result {
        Ok(Action::Done) => Outcome::success,
        Ok(Action::RequeueAfter(_)) => Outcome::requeue_after,
        Err(()) => Outcome::error,
    };
    metrics.results.get_or_create(&ResultLabels { controller: name, result: result_label }).inc();
    result
}

#[cfg(all(test, feature = "sled"))]
mod testing;
#[cfg(all(test, feature = "sled"))]
mod tests;
