//! The shard's Workspace series, fed by the workspace controller's watch: how many Workspaces
//! are in each phase, the age of the oldest in each phase (a Workspace stuck Initializing shows
//! there without a series per Workspace), and how long each waited to be scheduled.
//!
//! Series are per phase, never per Workspace: their number does not grow with Workspaces.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use apiserver::controller::Change;
use apiserver::server::computed::ComputedGauges;
use apiserver::server::metrics::Metrics;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use serde_json::Value;

/// Every phase a series is exported for; a phase not listed counts as `Unknown`.
pub const PHASES: [&str; 7] = ["Scheduling", "Initializing", "Ready", "Unavailable", "Terminating", "Deleting", "Unknown"];

/// What the census remembers of one Workspace.
struct Entry {
    /// Index into [`PHASES`].
    phase: usize,
    /// Since when it has been in that phase (as far as this process saw).
    since: Instant,
    /// While it has no logical cluster: since when this process has seen it waiting.
    waiting: Option<Instant>,
}

/// The Workspace series of one shard.
#[derive(Clone)]
pub struct WorkspaceCensus {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    scheduling: Histogram,
}

impl Default for WorkspaceCensus {
    fn default() -> Self {
        WorkspaceCensus { entries: Arc::default(), scheduling: Histogram::new(exponential_buckets(0.001, 2.0, 17)) }
    }
}

/// The phase index of a Workspace: a new one has no phase yet and is being scheduled.
fn phase_of(ws: &Value) -> usize {
    let phase = ws.pointer("/status/phase").and_then(Value::as_str).filter(|p| !p.is_empty()).unwrap_or(PHASES[0]);
    PHASES.iter().position(|p| *p == phase).unwrap_or(PHASES.len() - 1)
}

impl WorkspaceCensus {
    /// Takes a change the controller's watch saw.
    pub fn observe(&self, change: &Change) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let stored = match change {
            Change::Gone(key) => {
                entries.remove(key);
                return;
            }
            Change::Present(stored) => stored,
        };
        let Ok(ws) = serde_json::from_slice::<Value>(&stored.value) else { return };
        let phase = phase_of(&ws);
        let scheduled = ws.pointer("/spec/cluster").and_then(Value::as_str).is_some_and(|c| !c.is_empty());
        let now = Instant::now();
        let before = entries.get(&stored.key);
        let since = before.filter(|b| b.phase == phase).map_or(now, |b| b.since);
        let waiting = before.map_or(Some(now), |b| b.waiting);
        // Only a Workspace this process saw unscheduled is timed: a new one is, one scheduled
        // before the process started is not (it would be timed from the start).
        if let (true, Some(b)) = (scheduled, before) {
            if let Some(waiting) = b.waiting {
                self.scheduling.observe(now.duration_since(waiting).as_secs_f64());
            }
        }
        entries.insert(stored.key.clone(), Entry { phase, since, waiting: waiting.filter(|_| !scheduled) });
    }

    /// (phase, Workspaces in it) for every phase.
    fn counts(&self) -> Vec<(String, f64)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = [0usize; PHASES.len()];
        entries.values().for_each(|e| counts[e.phase] += 1);
        PHASES.iter().zip(counts).map(|(p, n)| (p.to_string(), n as f64)).collect()
    }

    /// (phase, seconds the oldest Workspace in it has been there; 0 when none is) for every phase.
    fn oldest(&self) -> Vec<(String, f64)> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut oldest = [0f64; PHASES.len()];
        for e in entries.values() {
            oldest[e.phase] = oldest[e.phase].max(e.since.elapsed().as_secs_f64());
        }
        PHASES.iter().zip(oldest).map(|(p, s)| (p.to_string(), s)).collect()
    }

    /// Adds the series to the shard's `/metrics`.
    pub fn register(&self, metrics: &mut Metrics) {
        let (counts, oldest) = (self.clone(), self.clone());
        metrics.register_computed(ComputedGauges::new("kcp_workspaces", "Workspaces stored on this shard, by phase", "phase", move || counts.counts()));
        metrics.register_computed(ComputedGauges::new(
            "kcp_workspace_phase_oldest_seconds",
            "Seconds the oldest Workspace in a phase has been in it (0 when none is)",
            "phase",
            move || oldest.oldest(),
        ));
        metrics.registry_mut().register(
            "kcp_workspace_scheduling_duration_seconds",
            "Time from a Workspace being seen unscheduled to its logical cluster being assigned",
            self.scheduling.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiserver::storage::Stored;
    use serde_json::json;

    fn present(key: &str, ws: Value) -> Change {
        Change::Present(Stored { key: key.into(), value: serde_json::to_vec(&ws).expect("json").into(), revision: 1 })
    }

    /// (observations, their sum) of the scheduling histogram, as exported.
    fn timed(census: &WorkspaceCensus) -> (u64, f64) {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("t", "", census.scheduling.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        let value = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(-1.0);
        (value("t_count ") as u64, value("t_sum "))
    }

    fn count(census: &WorkspaceCensus, phase: &str) -> f64 {
        census.counts().into_iter().find(|(p, _)| p == phase).map(|(_, n)| n).unwrap_or(-1.0)
    }

    #[test]
    fn counts_by_phase_and_times_scheduling() {
        let census = WorkspaceCensus::default();
        census.observe(&present("a", json!({"spec": {}})));
        census.observe(&present("b", json!({"spec": {"cluster": "c1"}, "status": {"phase": "Ready"}})));
        census.observe(&present("c", json!({"spec": {"cluster": "c2"}, "status": {"phase": "Frozen"}})));
        assert_eq!(census.counts().len(), PHASES.len(), "every phase always has its series");
        assert_eq!((count(&census, "Scheduling"), count(&census, "Ready"), count(&census, "Unknown")), (1.0, 1.0, 1.0));
        assert_eq!(timed(&census).0, 0, "b and c were scheduled before this census saw them");

        std::thread::sleep(std::time::Duration::from_millis(10));
        census.observe(&present("a", json!({"spec": {"cluster": "c3"}})));
        census.observe(&present("a", json!({"spec": {"cluster": "c3"}, "status": {"phase": "Initializing"}})));
        let (observed, sum) = timed(&census);
        assert_eq!(observed, 1);
        assert!(sum >= 0.01, "a waited 10 ms: {sum}");
        assert_eq!(count(&census, "Initializing"), 1.0);
        let initializing = census.oldest().into_iter().find(|(p, _)| p == "Initializing").map(|(_, s)| s);
        assert!(initializing.is_some_and(|s| s < 0.01), "a's time in Initializing starts when it got there: {initializing:?}");

        census.observe(&Change::Gone("a".into()));
        assert_eq!(count(&census, "Initializing"), 0.0);
        assert_eq!(timed(&census).0, 1);
    }
}
