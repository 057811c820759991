//! The shared, async side of fair queuing: one [`Dispatcher`] per priority level behind a
//! lock, the waiters it wakes, and the series that show its state.

use std::collections::HashMap;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;

use super::dispatch::{Arrival, Dispatcher, Rejection, Ticket};
use super::FairnessConfig;

/// The priority levels, each with seats of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorityLevel {
    /// The system's own traffic: controllers, shards, the front-proxy's index, administrators.
    System,
    /// Everyone else, queued per logical cluster.
    Workspaces,
}

impl PriorityLevel {
    /// The metric label of the level.
    pub fn as_str(self) -> &'static str {
        match self {
            PriorityLevel::System => "system",
            PriorityLevel::Workspaces => "workspaces",
        }
    }
}

/// Labels of per-level series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LevelLabels {
    priority_level: &'static str,
}

/// Labels of rejections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    priority_level: &'static str,
    reason: &'static str,
}

/// The fairness series, by priority level only (two values), never by workspace.
#[derive(Clone)]
pub struct FairnessMetrics {
    wait: Family<LevelLabels, Histogram>,
    rejected: Family<RejectionLabels, Counter>,
    executing: Family<LevelLabels, Gauge<i64, AtomicI64>>,
    queued: Family<LevelLabels, Gauge<i64, AtomicI64>>,
    seats: Family<LevelLabels, Gauge<i64, AtomicI64>>,
}

impl Default for FairnessMetrics {
    fn default() -> Self {
        FairnessMetrics {
            wait: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))),
            rejected: Family::default(),
            executing: Family::default(),
            queued: Family::default(),
            seats: Family::default(),
        }
    }
}

/// One level: its dispatcher and the senders that wake its queued requests.
struct Level {
    dispatcher: Dispatcher,
    waiters: HashMap<Ticket, oneshot::Sender<()>>,
}

/// Seats and queues of every priority level of a server.
pub struct FairQueue {
    system: Mutex<Level>,
    workspaces: Mutex<Level>,
    queue_wait: Duration,
    metrics: FairnessMetrics,
}

impl FairQueue {
    /// Idle levels with the configured limits.
    pub fn new(config: &FairnessConfig) -> Arc<FairQueue> {
        let level = |limits| Mutex::new(Level { dispatcher: Dispatcher::new(limits), waiters: HashMap::new() });
        let queue = FairQueue {
            system: level(config.system),
            workspaces: level(config.workspaces),
            queue_wait: config.queue_wait,
            metrics: FairnessMetrics::default(),
        };
        for l in [PriorityLevel::System, PriorityLevel::Workspaces] {
            let seats = queue.lock(l).dispatcher.limits().seats;
            queue.metrics.seats.get_or_create(&LevelLabels { priority_level: l.as_str() }).set(i64::try_from(seats).unwrap_or(i64::MAX));
            queue.show(l, &queue.lock(l));
            // Present from the start, so the series do not change with the first request.
            drop(queue.metrics.wait.get_or_create(&LevelLabels { priority_level: l.as_str() }));
        }
        Arc::new(queue)
    }

    /// Adds the series to `registry`, named as kube-apiserver's APF series.
    pub fn register(&self, registry: &mut Registry) {
        let m = &self.metrics;
        registry.register(
            "apiserver_flowcontrol_request_wait_duration_seconds",
            "Time requests waited in their queue for a seat, by priority level",
            m.wait.clone(),
        );
        registry.register("apiserver_flowcontrol_rejected_requests", "Requests answered 429 by priority level and reason", m.rejected.clone());
        registry.register("apiserver_flowcontrol_current_executing_seats", "Seats held by executing requests, by priority level", m.executing.clone());
        registry.register("apiserver_flowcontrol_current_inqueue_requests", "Requests waiting for a seat, by priority level", m.queued.clone());
        registry.register("apiserver_flowcontrol_nominal_limit_seats", "Seats of each priority level", m.seats.clone());
    }

    /// Waits for a seat of `level` for a request of `flow`; a rejection means 429.
    pub async fn acquire(self: &Arc<Self>, level: PriorityLevel, flow: &str) -> Result<Seat, Rejection> {
        let started = Instant::now();
        let (arrival, woken) = {
            let mut l = self.lock(level);
            let arrival = l.dispatcher.arrive(flow);
            let woken = match arrival {
                Arrival::Queued(ticket) => {
                    let (tx, rx) = oneshot::channel();
                    l.waiters.insert(ticket, tx);
                    Some(rx)
                }
                _ => None,
            };
            self.show(level, &l);
            (arrival, woken)
        };
        let seat = match (arrival, woken) {
            (Arrival::Queued(ticket), Some(woken)) => {
                let pending = Pending { queue: self.clone(), level, flow: flow.to_string(), ticket, settled: false };
                // Whatever ends the wait (a grant or the deadline), the dispatcher says under its
                // lock whether the request still waits; a grant racing the deadline is kept.
                let _ = tokio::time::timeout(self.queue_wait, woken).await;
                pending.settle().ok_or(Rejection::TimedOut)
            }
            (Arrival::Rejected(reason), _) => Err(reason),
            _ => Ok(Seat { queue: self.clone(), level, flow: flow.to_string() }),
        };
        let priority_level = level.as_str();
        match &seat {
            Ok(_) => self.metrics.wait.get_or_create(&LevelLabels { priority_level }).observe(started.elapsed().as_secs_f64()),
            Err(reason) => {
                self.metrics.rejected.get_or_create(&RejectionLabels { priority_level, reason: reason.as_str() }).inc();
            }
        }
        seat
    }

    fn lock(&self, level: PriorityLevel) -> MutexGuard<'_, Level> {
        let l = match level {
            PriorityLevel::System => &self.system,
            PriorityLevel::Workspaces => &self.workspaces,
        };
        // The level's state is consistent after every step; a panic elsewhere does not spoil it.
        l.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives a seat of `flow` back, waking whom the dispatcher hands it to.
    fn release(&self, level: PriorityLevel, flow: &str) {
        let mut l = self.lock(level);
        for (ticket, _) in l.dispatcher.release(flow) {
            // A waiter whose wait just ended learns of the grant from the dispatcher instead.
            if let Some(woken) = l.waiters.remove(&ticket) {
                let _ = woken.send(());
            }
        }
        self.show(level, &l);
    }

    /// Takes a queued request out of its queue: true when it was still waiting.
    fn withdraw(&self, level: PriorityLevel, flow: &str, ticket: Ticket) -> bool {
        let mut l = self.lock(level);
        l.waiters.remove(&ticket);
        let waiting = l.dispatcher.cancel(flow, ticket);
        self.show(level, &l);
        waiting
    }

    fn show(&self, level: PriorityLevel, l: &Level) {
        let labels = LevelLabels { priority_level: level.as_str() };
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.metrics.executing.get_or_create(&labels).set(count(l.dispatcher.in_use()));
        self.metrics.queued.get_or_create(&labels).set(count(l.dispatcher.queued()));
    }
}

/// A seat held by an executing request; dropping it hands the seat on.
pub struct Seat {
    queue: Arc<FairQueue>,
    level: PriorityLevel,
    flow: String,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.queue.release(self.level, &self.flow);
    }
}

/// A request waiting in its queue. Dropped while waiting (its client went away), it leaves the
/// queue, or gives back the seat it was granted meanwhile.
struct Pending {
    queue: Arc<FairQueue>,
    level: PriorityLevel,
    flow: String,
    ticket: Ticket,
    settled: bool,
}

impl Pending {
    /// The seat, unless the request still waits (then it leaves its queue).
    fn settle(mut self) -> Option<Seat> {
        self.settled = true;
        if self.queue.withdraw(self.level, &self.flow, self.ticket) {
            return None;
        }
        Some(Seat { queue: self.queue.clone(), level: self.level, flow: std::mem::take(&mut self.flow) })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.settled && !self.queue.withdraw(self.level, &self.flow, self.ticket) {
            self.queue.release(self.level, &self.flow);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::fairness::dispatch::Limits;

    fn queue(seats: usize, queue_length: usize, wait_ms: u64) -> Arc<FairQueue> {
        let limits = Limits { seats, queue_length, max_queued: 100, flow_seats: usize::MAX };
        FairQueue::new(&FairnessConfig { system: limits, workspaces: limits, queue_wait: Duration::from_millis(wait_ms) })
    }

    fn text(q: &FairQueue) -> String {
        let mut registry = Registry::default();
        q.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encodes");
        out
    }

    /// A request of `flow` waiting for a seat in a task of its own.
    fn wait_in(q: &Arc<FairQueue>, flow: &'static str) -> tokio::task::JoinHandle<Result<(), Rejection>> {
        let q = q.clone();
        tokio::spawn(async move { q.acquire(PriorityLevel::Workspaces, flow).await.map(drop) })
    }

    #[tokio::test]
    async fn a_queued_request_gets_the_seat_given_back() {
        let q = queue(1, 10, 60_000);
        let first = q.acquire(PriorityLevel::Workspaces, "a").await.expect("admitted");
        let waiting = wait_in(&q, "b");
        tokio::task::yield_now().await;
        assert!(text(&q).contains(r#"apiserver_flowcontrol_current_inqueue_requests{priority_level="workspaces"} 1"#));
        drop(first);
        waiting.await.expect("joins").expect("granted");
        let out = text(&q);
        assert!(out.contains(r#"apiserver_flowcontrol_current_executing_seats{priority_level="workspaces"} 0"#), "{out}");
        assert!(out.contains(r#"apiserver_flowcontrol_request_wait_duration_seconds_count{priority_level="workspaces"} 2"#), "{out}");
    }

    #[tokio::test]
    async fn waits_end_in_a_rejection_after_the_deadline() {
        let q = queue(1, 10, 20);
        let _held = q.acquire(PriorityLevel::Workspaces, "a").await.expect("admitted");
        assert_eq!(q.acquire(PriorityLevel::Workspaces, "b").await.err(), Some(Rejection::TimedOut));
        assert_eq!(q.lock(PriorityLevel::Workspaces).dispatcher.queued(), 0);
        assert!(text(&q).contains(r#"apiserver_flowcontrol_rejected_requests_total{priority_level="workspaces",reason="time-out"} 1"#));
    }

    #[tokio::test]
    async fn system_traffic_has_seats_tenants_cannot_take() {
        let q = queue(1, 0, 60_000);
        let _tenant = q.acquire(PriorityLevel::Workspaces, "a").await.expect("admitted");
        assert_eq!(q.acquire(PriorityLevel::Workspaces, "b").await.err(), Some(Rejection::QueueFull));
        let _system = q.acquire(PriorityLevel::System, "a").await.expect("the system's own seat");
    }

    #[tokio::test]
    async fn an_abandoned_wait_leaves_the_queue_and_hands_its_grant_on() {
        let q = queue(1, 10, 60_000);
        let held = q.acquire(PriorityLevel::Workspaces, "a").await.expect("admitted");
        let abandoned = wait_in(&q, "b");
        tokio::task::yield_now().await;
        assert_eq!(q.lock(PriorityLevel::Workspaces).dispatcher.queued(), 1);
        abandoned.abort();
        let _ = abandoned.await;
        assert_eq!(q.lock(PriorityLevel::Workspaces).dispatcher.queued(), 0);
        drop(held);
        assert_eq!(q.lock(PriorityLevel::Workspaces).dispatcher.in_use(), 0, "nobody holds the seat");
        let _again = q.acquire(PriorityLevel::Workspaces, "c").await.expect("admitted");
    }
}
