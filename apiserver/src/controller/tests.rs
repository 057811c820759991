use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::testing::{eventually, Fixture};
use super::*;

#[derive(Debug, thiserror::Error)]
#[error("not yet")]
struct NotYet;

/// Counts runs per key, fails each key's first `fail_first` runs, and records overlaps.
#[derive(Default)]
struct Counting {
    runs: Mutex<HashMap<String, usize>>,
    running: Mutex<HashMap<String, usize>>,
    overlapped: AtomicUsize,
    fail_first: usize,
    hold: Duration,
}

impl Reconcile for Arc<Counting> {
    type Key = String;
    type Error = NotYet;
    async fn reconcile(&self, key: &String) -> Result<Action, NotYet> {
        let n = {
            let mut running = self.running.lock().unwrap();
            let r = running.entry(key.clone()).or_default();
            *r += 1;
            if *r > 1 {
                self.overlapped.fetch_add(1, Ordering::SeqCst);
            }
            let mut runs = self.runs.lock().unwrap();
            let n = runs.entry(key.clone()).or_default();
            *n += 1;
            *n
        };
        tokio::time::sleep(self.hold).await;
        *self.running.lock().unwrap().get_mut(key).unwrap() -= 1;
        if n <= self.fail_first {
            return Err(NotYet);
        }
        Ok(Action::Done)
    }
}

fn runs(c: &Counting, key: &str) -> usize {
    c.runs.lock().unwrap().get(key).copied().unwrap_or(0)
}

#[tokio::test]
async fn every_listed_and_watched_key_reconciles_without_overlap() {
    let f = Fixture::new().await;
    f.put("core/configmaps/c1/default/a", serde_json::json!({"metadata": {"name": "a"}})).await;
    let counting = Arc::new(Counting { hold: Duration::from_millis(30), ..Default::default() });
    let informers = Informers::new(f.store.clone());
    let controller = Controller::new("test", counting.clone()).workers(4).watches(&informers, "core/configmaps/", |c: &Change| Some(c.key().to_string()));
    let feeds = tokio::spawn(informers.run());
    let task = tokio::spawn(controller.run());
    eventually(|| runs(&counting, "core/configmaps/c1/default/a") == 1).await;
    // Many changes of one key while it reconciles: never two runs at once.
    for i in 0..10 {
        f.put("core/configmaps/c1/default/b", serde_json::json!({"metadata": {"name": "b"}, "data": {"i": i.to_string()}})).await;
    }
    eventually(|| runs(&counting, "core/configmaps/c1/default/b") >= 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    task.abort();
    feeds.abort();
    assert_eq!(counting.overlapped.load(Ordering::SeqCst), 0);
    let b = runs(&counting, "core/configmaps/c1/default/b");
    assert!((1..=10).contains(&b), "events folded into fewer runs, got {b}");
}

#[tokio::test]
async fn errors_are_retried_with_backoff_until_success() {
    let f = Fixture::new().await;
    f.put("core/configmaps/c1/default/a", serde_json::json!({"metadata": {"name": "a"}})).await;
    let counting = Arc::new(Counting { fail_first: 3, ..Default::default() });
    let metrics = ControllerMetrics::default();
    let informers = Informers::new(f.store.clone());
    let controller = Controller::new("retrying", counting.clone())
        .backoff(Backoff { base: Duration::from_millis(10), cap: Duration::from_millis(40) })
        .metrics(&metrics)
        .watches(&informers, "core/configmaps/", |c: &Change| Some(c.key().to_string()));
    let feeds = tokio::spawn(informers.run());
    let task = tokio::spawn(controller.run());
    eventually(|| runs(&counting, "core/configmaps/c1/default/a") == 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    task.abort();
    feeds.abort();
    assert_eq!(runs(&counting, "core/configmaps/c1/default/a"), 4, "no run after the first success");
    let count = |result| metrics.results.get_or_create(&ResultLabels { controller: "retrying", result }).get();
    assert_eq!((count(Outcome::error), count(Outcome::success)), (3, 1));
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(text.contains("controller_runtime_reconcile_total{controller=\"retrying\",result=\"error\"} 3"), "{text}");
    assert!(text.contains("workqueue_depth{controller=\"retrying\"} 0"), "{text}");
}
