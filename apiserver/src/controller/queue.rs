//! The keyed work queue: de-duplicates keys, hands each to at most one worker at a time, and
//! remembers failures for back-off.
//!
//! A key has three states: waiting (in `ready`), active (a worker reconciles it) or dirty
//! (queued again while active). A waiting key queued again stays one entry; a dirty key goes
//! back to `ready` when its worker finishes, so a change seen during a reconcile is never lost
//! and never runs concurrently with it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The gauge a queue keeps at its depth.
pub type DepthGauge = Gauge<i64, std::sync::atomic::AtomicI64>;

/// Exponential back-off for keys whose reconcile failed: `base * 2^(failures-1)`, at most `cap`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive failures (1 = the first).
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).map_or(self.cap, |d| d.min(self.cap))
    }
}

struct State<K> {
    ready: VecDeque<K>,
    waiting: HashSet<K>,
    active: HashSet<K>,
    dirty: HashSet<K>,
    /// Earliest pending delayed add per key.
    delayed: HashMap<K, Instant>,
    failures: HashMap<K, u32>,
    closed: bool,
    depth: Option<DepthGauge>,
}

/// The capacity a drained queue keeps; a burst beyond it is given back once worked off.
const KEPT_CAPACITY: usize = 64;

impl<K: Eq + Hash> State<K> {
    /// Returns the memory of a worked-off burst (a relist queues every key of a prefix).
    fn release_burst(&mut self) {
        if self.ready.capacity() > KEPT_CAPACITY {
            self.ready.shrink_to(KEPT_CAPACITY);
            self.waiting.shrink_to(KEPT_CAPACITY);
        }
    }

    /// Keeps the depth gauge in step; called after every change of `ready`.
    fn changed(&self) {
        if let Some(g) = &self.depth {
            g.set(self.ready.len() as i64);
        }
    }
}

/// A de-duplicating work queue shared by an informer (producer) and workers (consumers).
pub struct WorkQueue<K> {
    state: Mutex<State<K>>,
    notify: Notify,
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for WorkQueue<K> {
    fn default() -> Self {
        let state = State {
            ready: VecDeque::new(),
            waiting: HashSet::new(),
            active: HashSet::new(),
            dirty: HashSet::new(),
            delayed: HashMap::new(),
            failures: HashMap::new(),
            closed: false,
            depth: None,
        };
        WorkQueue { state: Mutex::new(state), notify: Notify::new() }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reports the number of waiting keys into `gauge` from now on.
    pub fn report_depth(&self, gauge: DepthGauge) {
        let mut s = self.lock();
        s.depth = Some(gauge);
        s.changed();
    }

    /// Queues a key now.
    pub fn add(&self, key: K) {
        let mut s = self.lock();
        if s.closed || s.waiting.contains(&key) {
            return;
        }
        if s.active.contains(&key) {
            s.dirty.insert(key);
            return;
        }
        s.waiting.insert(key.clone());
        s.ready.push_back(key);
        s.changed();
        drop(s);
        self.notify.notify_one();
    }

    /// Queues a key once `after` has passed; an earlier pending delay for it wins.
    pub fn add_after(self: &Arc<Self>, key: K, after: Duration) {
        let due = Instant::now() + after;
        {
            let mut s = self.lock();
            match s.delayed.get(&key) {
                Some(d) if *d <= due => return,
                _ => s.delayed.insert(key.clone(), due),
            };
        }
        let queue = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep_until(due).await;
            let Some(queue) = queue.upgrade() else { return };
            let fire = {
                let mut s = queue.lock();
                // A later call may have set an earlier time (its own timer fired it) or none.
                let fire = s.delayed.get(&key).is_some_and(|d| *d <= Instant::now());
                if fire {
                    s.delayed.remove(&key);
                }
                fire
            };
            if fire {
                queue.add(key);
            }
        });
    }

    /// Waits for the next key and marks it active; None once the queue is closed.
    pub async fn next(&self) -> Option<K> {
        loop {
            // Registered before looking, so an add between the look and the wait still wakes us.
            let notified = self.notify.notified();
            {
                let mut s = self.lock();
                if s.closed {
                    return None;
                }
                if let Some(key) = s.ready.pop_front() {
                    s.changed();
                    s.waiting.remove(&key);
                    if s.ready.is_empty() {
                        s.release_burst();
                    }
                    s.active.insert(key.clone());
                    // Another worker may be waiting and more keys ready.
                    if !s.ready.is_empty() {
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks an active key finished; if it was queued meanwhile it is ready again.
    pub fn done(&self, key: &K) {
        let mut s = self.lock();
        s.active.remove(key);
        if s.dirty.remove(key) && !s.closed {
            s.waiting.insert(key.clone());
            s.ready.push_back(key.clone());
            s.changed();
            drop(s);
            self.notify.notify_one();
        }
    }

    /// Counts one more consecutive failure of a key; returns the count.
    pub fn failed(&self, key: &K) -> u32 {
        let mut s = self.lock();
        let n = s.failures.entry(key.clone()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Forgets a key's failures after it reconciled.
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// Keys waiting for a worker.
    pub fn depth(&self) -> usize {
        self.lock().ready.len()
    }

    /// Stops handing out keys; workers waiting in `next` return None.
    pub fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_queued_twice_while_waiting_runs_once() {
        let q = WorkQueue::default();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.depth(), 2);
        assert_eq!(q.next().await, Some("a"));
        assert_eq!(q.next().await, Some("b"));
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test]
    async fn a_key_queued_while_active_runs_once_more_afterwards() {
        let q = WorkQueue::default();
        q.add("a");
        let a = q.next().await.unwrap();
        q.add("a");
        q.add("a");
        // Not handed to a second worker while the first has it.
        assert_eq!(q.depth(), 0);
        q.done(&a);
        assert_eq!(q.depth(), 1);
        assert_eq!(q.next().await, Some("a"));
        q.done(&"a");
        assert_eq!(q.depth(), 0);
    }

    #[tokio::test]
    async fn delayed_adds_keep_the_earliest_time() {
        let q = Arc::new(WorkQueue::default());
        q.add_after("a", Duration::from_millis(300));
        q.add_after("a", Duration::from_millis(20));
        q.add_after("a", Duration::from_millis(150));
        assert_eq!(q.depth(), 0);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(q.depth(), 1);
        assert_eq!(q.next().await, Some("a"));
        q.done(&"a");
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(q.depth(), 0, "the later timers found nothing left to fire");
    }

    #[tokio::test]
    async fn the_depth_gauge_follows_the_queue() {
        let q = WorkQueue::default();
        let gauge = DepthGauge::default();
        q.add("a");
        q.report_depth(gauge.clone());
        assert_eq!(gauge.get(), 1);
        q.add("b");
        assert_eq!(gauge.get(), 2);
        let a = q.next().await.unwrap();
        q.add(a);
        assert_eq!(gauge.get(), 1, "an active key queued again is not waiting yet");
        q.done(&a);
        assert_eq!(gauge.get(), 2);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_secs(1) };
        let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(200), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn closing_releases_waiting_workers() {
        let q: Arc<WorkQueue<&str>> = Arc::default();
        let waiter = tokio::spawn({
            let q = q.clone();
            async move { q.next().await }
        });
        tokio::task::yield_now().await;
        q.close();
        assert_eq!(waiter.await.unwrap(), None);
    }
}
