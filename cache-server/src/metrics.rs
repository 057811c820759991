//! The cache server's Prometheus metrics. Labels are bounded: resources and shards, never
//! logical clusters (there can be millions).

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use apiserver::server::metrics::RequestMetrics;

use crate::store::Store;

/// Labels of per-resource metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    group: String,
    resource: String,
}

/// Labels of per-shard metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShardLabels {
    shard: String,
}

/// Every metric of one replica.
pub struct CacheMetrics {
    registry: Registry,
    /// The request series every component serves (see `apiserver::server::metrics`).
    pub requests: RequestMetrics,
    objects: Family<ResourceLabels, Gauge>,
    subscribers: Gauge,
    revision: Family<ShardLabels, Gauge>,
    lag: Family<ShardLabels, Gauge<f64, AtomicU64>>,
}

impl Default for CacheMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = RequestMetrics::default();
        requests.register(&mut registry);
        registry.register_collector(Box::new(apiserver::server::computed::ProcessMetrics));
        let objects = Family::<ResourceLabels, Gauge>::default();
        let subscribers = Gauge::<i64, AtomicI64>::default();
        let revision = Family::<ShardLabels, Gauge>::default();
        let lag = Family::<ShardLabels, Gauge<f64, AtomicU64>>::default();
        registry.register("kcp_cache_objects", "Objects held, by group and resource", objects.clone());
        registry.register("kcp_cache_subscribers", "Open subscriptions", subscribers.clone());
        registry.register("kcp_cache_shard_revision", "Last revision applied, by publishing shard", revision.clone());
        registry.register("kcp_cache_shard_lag_seconds", "Time from publish to apply of the shard's last change", lag.clone());
        CacheMetrics { registry, requests, objects, subscribers, revision, lag }
    }
}

/// Keeps a subscription counted while it lives.
pub struct Counted<'a>(&'a Gauge);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl CacheMetrics {
    /// Counts a subscription until the returned guard drops.
    pub fn subscriber(&self) -> Counted<'_> {
        self.subscribers.inc();
        Counted(&self.subscribers)
    }

    /// Records how long a change took from its publisher (clocks of one host, or close enough).
    pub fn observe_change(&self, shard: &str, published_unix_micros: u64) {
        if published_unix_micros == 0 {
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        let lag = now.saturating_sub(published_unix_micros) as f64 / 1e6;
        self.lag.get_or_create(&ShardLabels { shard: shard.to_string() }).set(lag);
    }

    /// The scrape answer in the format `accept` asks for, with the gauges read from `store` now.
    pub fn answer(&self, store: &Store, accept: Option<&str>) -> apiserver::rest::body::Response {
        self.objects.clear();
        for ((group, resource), n) in store.counts() {
            self.objects.get_or_create(&ResourceLabels { group, resource }).set(n as i64);
        }
        for (shard, revision) in store.revisions() {
            self.revision.get_or_create(&ShardLabels { shard }).set(revision as i64);
        }
        apiserver::server::exposition::answer(&self.registry, accept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Key, Snapshot};

    #[tokio::test]
    async fn renders_objects_by_resource_and_revision_by_shard() {
        let metrics = CacheMetrics::default();
        let mut store = Store::new(4);
        let session = store.open("s1");
        let key = Key { group: "apis.kcp.io".into(), resource: "apiexports".into(), cluster: "c".into(), namespace: String::new(), name: "x".into() };
        store.replace(session, Snapshot { shard: "s1".into(), revision: 42, objects: vec![(key, bytes::Bytes::from_static(b"{}"))] }).unwrap();
        let _sub = metrics.subscriber();
        let answer = metrics.answer(&store, None);
        let text = http_body_util::BodyExt::collect(answer.into_body()).await.expect("a full body").to_bytes();
        let text = String::from_utf8_lossy(&text);
        assert!(text.contains(r#"kcp_cache_objects{group="apis.kcp.io",resource="apiexports"} 1"#), "{text}");
        assert!(text.contains(r#"kcp_cache_shard_revision{shard="s1"} 42"#), "{text}");
        assert!(text.contains("kcp_cache_subscribers 1"), "{text}");
    }
}
