//! `/debug/workspaces/top`: which logical clusters are busiest and biggest, for
//! `system:masters`, computed when asked instead of kept as per-workspace series (which would
//! grow with the number of workspaces).
//!
//! Request rates come from [`ClusterActivity`], a bounded counter fed by every request that
//! reaches the endpoint: at most [`CAPACITY`] clusters per one-minute window; a new cluster in a
//! full window replaces the least active one and inherits its count (the space-saving
//! algorithm: heavy hitters are never lost, light ones may be over-counted). Object counts come
//! from one scan of the shard's storage per call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::storage::{Key, Storage, StorageError};

/// Clusters counted per window.
pub const CAPACITY: usize = 1024;
/// Length of a counting window; rates are over the last one to two windows.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Entries listed when `?n=` is not given, and the most that may be asked for.
const DEFAULT_N: usize = 10;
const MAX_N: usize = 1000;
/// Objects read per storage page of the scan.
const PAGE: usize = 500;

/// Requests per logical cluster over the current and the previous window.
#[derive(Default)]
pub struct ClusterActivity(Mutex<Windows>);

#[derive(Default)]
struct Windows {
    started: Option<Instant>,
    current: HashMap<String, u64>,
    previous: HashMap<String, u64>,
}

impl ClusterActivity {
    /// Counts one request to `cluster`.
    pub fn record(&self, cluster: &str) {
        self.record_at(cluster, Instant::now());
    }

    fn record_at(&self, cluster: &str, now: Instant) {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        w.roll(now);
        if let Some(n) = w.current.get_mut(cluster) {
            *n += 1;
            return;
        }
        let mut inherited = 0;
        if w.current.len() >= CAPACITY {
            if let Some((least, n)) = w.current.iter().min_by_key(|(_, n)| **n).map(|(k, n)| (k.clone(), *n)) {
                w.current.remove(&least);
                inherited = n;
            }
        }
        w.current.insert(cluster.to_string(), inherited + 1);
    }

    /// The `n` busiest clusters, by requests per second over the last one to two windows.
    pub fn top(&self, n: usize) -> Vec<(String, f64)> {
        self.top_at(n, Instant::now())
    }

    fn top_at(&self, n: usize, now: Instant) -> Vec<(String, f64)> {
        let mut w = self.0.lock().unwrap_or_else(|e| e.into_inner());
        w.roll(now);
        let elapsed = w.started.map_or(Duration::ZERO, |s| now.duration_since(s));
        // The previous window counts for the part of it still within the last WINDOW.
        let weight = 1.0 - (elapsed.as_secs_f64() / WINDOW.as_secs_f64()).min(1.0);
        let span = WINDOW.as_secs_f64();
        let mut rates: HashMap<&str, f64> = HashMap::new();
        for (k, v) in &w.previous {
            *rates.entry(k).or_default() += *v as f64 * weight;
        }
        for (k, v) in &w.current {
            *rates.entry(k).or_default() += *v as f64;
        }
        let mut out: Vec<(String, f64)> = rates.into_iter().filter(|(_, r)| *r > 0.0).map(|(k, r)| (k.to_string(), r / span)).collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.truncate(n);
        out
    }
}

impl Windows {
    fn roll(&mut self, now: Instant) {
        let Some(started) = self.started else {
            self.started = Some(now);
            return;
        };
        let elapsed = now.duration_since(started);
        if elapsed < WINDOW {
            return;
        }
        // One window later the current one becomes the previous; two or more, both are stale.
        self.previous = if elapsed < 2 * WINDOW { std::mem::take(&mut self.current) } else { HashMap::new() };
        self.current.clear();
        self.started = Some(now);
    }
}

/// How many entries to list, from the request's `?n=`.
pub fn requested_n(n: Option<&str>) -> usize {
    n.and_then(|n| n.parse::<usize>().ok()).map_or(DEFAULT_N, |n| n.clamp(1, MAX_N))
}

/// The document `/debug/workspaces/top` answers: the `n` busiest clusters and the `n` with the
/// most objects, each with its workspace path where the shard knows it.
pub async fn report(activity: &ClusterActivity, store: &dyn Storage, n: usize) -> Result<Value, StorageError> {
    let mut objects: HashMap<String, u64> = HashMap::new();
    let mut paths: HashMap<String, String> = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list("", after.as_deref(), PAGE, None).await?;
        for item in &page.items {
            let Some(key) = Key::parse(&item.key) else { continue };
            *objects.entry(key.cluster.to_string()).or_default() += 1;
            if key.group == "core.kcp.io" && key.resource == "logicalclusters" {
                let path = serde_json::from_slice::<Value>(&item.value)
                    .ok()
                    .and_then(|lc| lc.pointer("/metadata/annotations/kcp.io~1path").and_then(Value::as_str).map(String::from));
                if let Some(path) = path {
                    paths.insert(key.cluster.to_string(), path);
                }
            }
        }
        match page.more_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let path = |c: &str| paths.get(c).cloned().unwrap_or_default();
    let busiest: Vec<Value> = activity
        .top(n)
        .into_iter()
        .map(|(c, rate)| json!({"cluster": c, "path": path(&c), "requestsPerSecond": (rate * 1000.0).round() / 1000.0, "objects": objects.get(&c).copied().unwrap_or(0)}))
        .collect();
    let mut biggest: Vec<(String, u64)> = objects.into_iter().collect();
    biggest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let biggest: Vec<Value> = biggest.into_iter().take(n).map(|(c, count)| json!({"cluster": c, "path": path(&c), "objects": count})).collect();
    Ok(json!({"kind": "WorkspaceTop", "windowSeconds": WINDOW.as_secs(), "byRequestRate": busiest, "byObjectCount": biggest}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(a: &ClusterActivity, cluster: &str, n: usize, at: Instant) {
        for _ in 0..n {
            a.record_at(cluster, at);
        }
    }

    #[test]
    fn rates_rank_clusters_over_a_sliding_window() {
        let a = ClusterActivity::default();
        let t0 = Instant::now();
        hits(&a, "busy", 120, t0);
        hits(&a, "quiet", 1, t0);
        let top = a.top_at(10, t0);
        assert_eq!(top.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(), ["busy", "quiet"]);
        assert_eq!(top[0].1, 2.0);
        assert_eq!(a.top_at(1, t0).len(), 1);
        // Half a window into the next one, half of the previous window still counts.
        let later = t0 + WINDOW + WINDOW / 2;
        a.record_at("quiet", t0 + WINDOW);
        assert_eq!(a.top_at(10, later)[0], ("busy".to_string(), 1.0));
        assert!(a.top_at(10, t0 + 5 * WINDOW).is_empty(), "old windows are forgotten");
    }

    #[test]
    fn the_counter_stays_bounded_and_keeps_heavy_hitters() {
        let a = ClusterActivity::default();
        let t0 = Instant::now();
        hits(&a, "heavy", 50, t0);
        for i in 0..(3 * CAPACITY) {
            hits(&a, &format!("c{i}"), 1, t0);
        }
        assert_eq!(a.0.lock().expect("lock").current.len(), CAPACITY);
        assert_eq!(a.top_at(1, t0)[0].0, "heavy");
    }

    #[test]
    fn n_is_bounded() {
        assert_eq!(requested_n(None), DEFAULT_N);
        assert_eq!(requested_n(Some("3")), 3);
        assert_eq!(requested_n(Some("0")), 1);
        assert_eq!(requested_n(Some("99999")), MAX_N);
        assert_eq!(requested_n(Some("x")), DEFAULT_N);
    }
}
