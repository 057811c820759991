//! Prometheus metrics with kube-apiserver's names where the meaning is the same.
//!
//! Labels never carry logical cluster names: per-workspace series would grow without bound.
//! [`RequestMetrics`] are the request series every component (shard, front-proxy, cache
//! server) serves under the same names and labels; `docs/metrics.md` lists every series.

use std::sync::atomic::AtomicI64;
use std::time::Instant;

use http_body_util::BodyExt;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::rest::body::Response;
use apimachinery::request::{RequestInfo, Verb, SERVICES_PREFIX};

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

impl LatencyLabels {
    /// The labels of a parsed request.
    pub fn of(info: &RequestInfo) -> LatencyLabels {
        LatencyLabels { verb: info.verb.to_string(), group: info.api_group.clone(), resource: info.resource.clone() }
    }

    /// The labels of a request that did not parse: its method only.
    pub fn of_method(method: &http::Method) -> LatencyLabels {
        LatencyLabels { verb: method.as_str().to_ascii_lowercase(), group: String::new(), resource: String::new() }
    }
}

/// The request series of every component, recorded around its whole request path.
#[derive(Clone)]
pub struct RequestMetrics {
    /// `apiserver_request_total`: requests answered, by verb, group, resource and code.
    pub requests: Family<RequestLabels, Counter>,
    /// `apiserver_request_duration_seconds`: time to the response's head.
    pub duration: Family<LatencyLabels, Histogram>,
    /// `apiserver_current_inflight_requests`: requests being served now, long-running ones aside.
    pub inflight: Gauge<i64, AtomicI64>,
    /// `apiserver_longrunning_requests`: open watches and streams, by verb, group and resource.
    pub longrunning: Family<LatencyLabels, Gauge<i64, AtomicI64>>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        RequestMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))),
            inflight: Gauge::default(),
            longrunning: Family::default(),
        }
    }
}

impl RequestMetrics {
    /// Adds the series to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("apiserver_request", "Counter of apiserver requests by verb, group, resource and HTTP code", self.requests.clone());
        registry.register("apiserver_request_duration_seconds", "Response latency distribution in seconds", self.duration.clone());
        registry.register("apiserver_current_inflight_requests", "Requests currently being served, long-running ones aside", self.inflight.clone());
        registry.register("apiserver_longrunning_requests", "Open long-running requests (watches, streams)", self.longrunning.clone());
    }

    /// Starts observing a request; `long_running` ones (watches, gRPC streams) count as open
    /// until their response body ends instead of as in flight.
    pub fn begin(&self, labels: LatencyLabels, long_running: bool) -> Observation {
        if !long_running {
            self.inflight.inc();
        }
        Observation { metrics: self.clone(), labels, long_running, started: Instant::now(), done: false }
    }
}

/// One request being observed; [`Observation::finish`] records it.
pub struct Observation {
    metrics: RequestMetrics,
    labels: LatencyLabels,
    long_running: bool,
    started: Instant,
    done: bool,
}

impl Observation {
    /// Counts the answer and its latency; a long-running answer stays open in
    /// `apiserver_longrunning_requests` until its body ends.
    pub fn finish(mut self, response: Response) -> Response {
        self.done = true;
        let code = response.status().as_u16();
        let m = &self.metrics;
        let labels = std::mem::replace(&mut self.labels, LatencyLabels { verb: String::new(), group: String::new(), resource: String::new() });
        m.requests
            .get_or_create(&RequestLabels { verb: labels.verb.clone(), group: labels.group.clone(), resource: labels.resource.clone(), code: code.to_string() })
            .inc();
        m.duration.get_or_create(&labels).observe(self.started.elapsed().as_secs_f64());
        if !self.long_running {
            m.inflight.dec();
            return response;
        }
        if !response.status().is_success() {
            return response;
        }
        let open = m.longrunning.get_or_create(&labels).clone();
        open.inc();
        response.map(|body| super::bodies::Guarded::new(body, Open(open)).boxed_unsync())
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        // A request abandoned before its answer (the client went away) is no longer in flight.
        if !self.done && !self.long_running {
            self.metrics.inflight.dec();
        }
    }
}

/// Keeps a long-running request counted open while its body lives.
struct Open(Gauge<i64, AtomicI64>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Whether a request is long-running (a watch). A view's request under `/services/` is
/// judged by the ordinary API path below the view's own segments (from `/clusters/` on).
pub fn long_running(method: &http::Method, uri: &http::Uri, info: &RequestInfo) -> bool {
    match uri.path().split_once("/clusters/") {
        Some((_, below)) if uri.path().starts_with(SERVICES_PREFIX) => {
            RequestInfo::parse(method, &format!("/clusters/{below}"), uri.query()).is_ok_and(|i| i.verb == Verb::Watch)
        }
        _ => info.verb == Verb::Watch,
    }
}

/// Labels of certificate metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertificateLabels {
    /// Path of the certificate file.
    pub file: String,
}

/// The metrics of one API server (shard or front-proxy).
pub struct Metrics {
    registry: Registry,
    /// Request counts, latencies, in-flight requests and open watches.
    pub requests: RequestMetrics,
    /// Requests per logical cluster, for `/debug/workspaces/top`; never exported as series.
    pub clusters: super::top::ClusterActivity,
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
        let requests = RequestMetrics::default();
        requests.register(&mut registry);
        registry.register_collector(Box::new(super::computed::ProcessMetrics));
        let certificate_expiry = Family::<CertificateLabels, Gauge<i64, AtomicI64>>::default();
        registry.register(
            "kcp_certificate_expiration_timestamp_seconds",
            "When a certificate in use expires, in seconds since the epoch",
            certificate_expiry.clone(),
        );
        Metrics {
            registry,
            requests,
            clusters: Default::default(),
            storage_bytes: Gauge::default(),
            storage_revision: Gauge::default(),
            storage_syncs: Gauge::default(),
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

    /// Adds the storage series of `store` (a process that stores objects: the shard).
    pub fn register_storage(&mut self, store: &dyn crate::storage::Storage) {
        self.registry.register(
            "kcp_storage_sync_duration_seconds",
            "Time to make a group of writes durable (sled: flush and fdatasync; etcd: a write transaction)",
            store.sync_durations(),
        );
        self.registry.register("apiserver_storage_size_bytes", "Size of the storage database file on disk in bytes", self.storage_bytes.clone());
        self.registry.register("kcp_storage_revision", "Newest durable storage revision", self.storage_revision.clone());
        self.registry.register("kcp_storage_durable_syncs", "Group commits made durable (one sync each) since start", self.storage_syncs.clone());
    }

    /// Adds a gauge family computed at every scrape.
    pub fn register_computed(&mut self, gauges: super::computed::ComputedGauges) {
        self.registry.register_collector(Box::new(gauges));
    }

    /// The registry, for other components (controllers) to add their metrics before serving.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The scrape answer, in the format `accept` asks for (see [`super::exposition`]).
    pub fn answer(&self, accept: Option<&str>) -> Response {
        for file in self.certificate_files.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let pem = std::fs::read_to_string(file).unwrap_or_default();
            if let Ok(not_after) = crate::pki::not_after(&pem) {
                self.certificate_expiry.get_or_create(&CertificateLabels { file: file.display().to_string() }).set(not_after);
            }
        }
        super::exposition::answer(&self.registry, accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &RequestMetrics) -> String {
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encodes");
        out
    }

    fn labels(verb: &str) -> LatencyLabels {
        LatencyLabels { verb: verb.into(), group: String::new(), resource: "configmaps".into() }
    }

    #[test]
    fn requests_are_in_flight_until_answered_and_watches_open_until_their_body_ends() {
        let m = RequestMetrics::default();
        let get = m.begin(labels("get"), false);
        let abandoned = m.begin(labels("get"), false);
        assert_eq!(m.inflight.get(), 2);
        drop(abandoned);
        let answer = get.finish(crate::rest::body::json(200, &serde_json::Value::Null));
        assert_eq!(m.inflight.get(), 0);
        drop(answer);
        let watch = m.begin(labels("watch"), true).finish(crate::rest::body::json(200, &serde_json::Value::Null));
        assert_eq!(m.inflight.get(), 0);
        let out = text(&m);
        assert!(out.contains(r#"apiserver_longrunning_requests{verb="watch",group="",resource="configmaps"} 1"#), "{out}");
        assert!(out.contains(r#"apiserver_request_total{verb="get",group="",resource="configmaps",code="200"} 1"#), "{out}");
        drop(watch);
        assert!(text(&m).contains(r#"apiserver_longrunning_requests{verb="watch",group="",resource="configmaps"} 0"#));
        drop(m.begin(labels("watch"), true).finish(crate::rest::body::json(410, &serde_json::Value::Null)));
        assert!(text(&m).contains(r#"apiserver_longrunning_requests{verb="watch",group="",resource="configmaps"} 0"#), "a refused watch never opens");
    }
}
