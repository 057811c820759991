//! Prometheus metrics with kube-apiserver's names where the meaning is the same.
//!
//! Labels never carry logical cluster names: per-workspace series would grow without bound.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// Request verb (`get`, `list`, `watch`, ...; the lowercased HTTP method for non-resource requests).
    pub verb: String,
    /// API group of the request (empty for core and non-resource requests).
    pub group: String,
    /// Resource of the request (empty for non-resource requests).
    pub resource: String,
    /// HTTP status code of the response.
    pub code: String,
}

/// Labels of latency metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LatencyLabels {
    /// Request verb (`get`, `list`, `watch`, ...; the lowercased HTTP method for non-resource requests).
    pub verb: String,
    /// API group of the request (empty for core and non-resource requests).
    pub group: String,
    /// Resource of the request (empty for non-resource requests).
    pub resource: String,
}

/// Labels of certificate metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    /// Path of the certificate file.
    pub file: String,
}

/// The metrics of one API server.
pub struct Metrics {
    registry: Registry,
    /// `apiserver_request`: requests served, by verb, group, resource and code.
    pub requests: Family<RequestLabels, Counter>,
    /// `apiserver_request_duration_seconds`: response latency.
    pub duration: Family<LatencyLabels, Histogram>,
    /// `apiserver_current_inflight_requests`: requests being served now.
    pub inflight: Gauge<i64, AtomicI64>,
    /// `apiserver_storage_size_bytes`: size of the storage database on disk.
    pub storage_bytes: Gauge<i64, AtomicI64>,
    /// `kcp_storage_revision`: newest durable storage revision.
    pub storage_revision: Gauge<i64, AtomicI64>,
    /// `kcp_storage_durable_syncs`: group commits made durable so far.
    pub storage_syncs: Gauge<i64, AtomicI64>,
    /// When each certificate the server uses expires (unix seconds).
    pub certificate_expiry: Family<CertificateLabels, Gauge<i64, AtomicI64>>,
    /// Certificate files whose expiry is re-read at every scrape (they may be rotated).
    certificate_files: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<LatencyLabels, Histogram>::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        let inflight = Gauge::<i64, AtomicI64>::default();
        let storage_bytes = Gauge::<i64, AtomicI64>::default();
        let storage_revision = Gauge::<i64, AtomicI64>::default();
        let storage_syncs = Gauge::<i64, AtomicI64>::default();
        registry.register("apiserver_request", "Counter of apiserver requests by verb, group, resource and HTTP code", requests.clone());
        registry.register("apiserver_request_duration_seconds", "Response latency distribution in seconds", duration.clone());
        registry.register("apiserver_current_inflight_requests", "Requests currently being served", inflight.clone());
        registry.register("apiserver_storage_size_bytes", "Size of the storage database file on disk in bytes", storage_bytes.clone());
        registry.register("kcp_storage_revision", "Newest durable storage revision", storage_revision.clone());
        registry.register("kcp_storage_durable_syncs", "Group commits made durable (one sync each) since start", storage_syncs.clone());
        let certificate_expiry = Family::<CertificateLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "kcp_certificate_expiration_timestamp_seconds",
            "When a certificate in use expires, in seconds since the epoch",
            certificate_expiry.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            inflight,
            storage_bytes,
            storage_revision,
            storage_syncs,
            certificate_expiry,
            certificate_files: Default::default(),
        }
    }
}

impl Metrics {
    /// Exports the expiry of the certificate in `file`, read again at every scrape.
    pub fn watch_certificate(&self, file: &std::path::Path) {
        self.certificate_files.lock().unwrap_or_else(|e| e.into_inner()).push(file.to_owned());
    }

    /// The registry, for other components (controllers) to add their metrics before serving.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        for file in self.certificate_files.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let pem = std::fs::read_to_string(file).unwrap_or_default();
            if let Ok(not_after) = crate::pki::not_after(&pem) {
                self.certificate_expiry.get_or_create(&CertificateLabels { file: file.display().to_string() }).set(not_after);
            }
        }
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
