//! Controller metrics, named as controller-runtime names them. Labels are the controller's
//! name and the result kind only: never keys or logical clusters, which grow without bound.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels naming a controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// Name of the controller.
    pub controller: &'static str,
}

/// How one reconcile ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// Done until the next change.
    success,
    /// Asked to run again after a delay.
    requeue_after,
    /// Failed; retried with back-off.
    error,
}

/// Labels of the results counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// Name of the controller.
    pub controller: &'static str,
    /// How the reconcile ended.
    pub result: Outcome,
}

/// The metrics every controller of a process shares; clones share the same series.
#[derive(Clone)]
pub struct ControllerMetrics {
    /// Keys waiting for a worker.
    pub depth: Family<ControllerLabels, Gauge<i64, AtomicI64>>,
    /// Time spent in one reconcile.
    pub duration: Family<ControllerLabels, Histogram>,
    /// Reconciles by result.
    pub results: Family<ResultLabels, Counter>,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        ControllerMetrics {
            depth: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 16))),
            results: Family::default(),
        }
    }
}

impl ControllerMetrics {
    /// Adds the series to `registry` (the server's `/metrics`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register("workqueue_depth", "Current depth of a controller's work queue", self.depth.clone());
        registry.register("controller_runtime_reconcile_time_seconds", "Length of time per reconcile of a controller", self.duration.clone());
        registry.register("controller_runtime_reconcile", "Reconciles per controller and result", self.results.clone());
    }
}
