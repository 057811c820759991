//! How every component answers a scrape: OpenMetrics when the scraper asks for it (Prometheus
//! does by default), the Prometheus text format 0.0.4 otherwise (curl, older scrapers).
//!
//! prometheus-client only encodes OpenMetrics; the 0.0.4 text is derived from it, which differs
//! in three ways: a counter's family is named with its `_total` suffix, there are no `# UNIT`
//! lines, and there is no `# EOF` terminator.

use bytes::Bytes;
use prometheus_client::registry::Registry;

use crate::rest::body::{self, Response};

/// Content type of the OpenMetrics text format.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the Prometheus text format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header asks for OpenMetrics (with a non-zero quality).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.unwrap_or_default().split(',').any(|range| {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or_default();
        let refused = params.any(|p| p.strip_prefix("q=").and_then(|q| q.parse::<f32>().ok()) == Some(0.0));
        media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
    })
}

/// The scrape answer for `registry`, in the format `accept` asks for.
pub fn answer(registry: &Registry, accept: Option<&str>) -> Response {
    let mut openmetrics = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut openmetrics, registry) {
        tracing::warn!(%error, "encoding metrics failed");
    }
    let (content_type, text) = if wants_openmetrics(accept) { (OPENMETRICS, openmetrics) } else { (PROMETHEUS_TEXT, prometheus_text(&openmetrics)) };
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(body::full(Bytes::from(text)))
        .unwrap_or_else(|_| http::Response::new(body::full(Bytes::new())))
}

/// The Prometheus 0.0.4 text of an OpenMetrics exposition.
pub fn prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|rest| rest.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| line.strip_prefix(prefix).map(|rest| (prefix, rest)));
        match meta.and_then(|(prefix, rest)| rest.split_once(' ').map(|(name, tail)| (prefix, name, tail))) {
            Some((prefix, name, tail)) if counters.contains(name) => out.push_str(&format!("{prefix}{name}_total {tail}")),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    fn registry() -> Registry {
        let mut registry = Registry::default();
        let requests: Counter = Counter::default();
        requests.inc();
        registry.register("demo_requests", "Requests", requests);
        registry.register("demo_open", "Open things", Gauge::<i64>::default());
        registry
    }

    #[test]
    fn openmetrics_only_when_asked() {
        let prometheus =
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(wants_openmetrics(Some(prometheus)));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0, text/plain")));
        assert!(!wants_openmetrics(None));
        assert_eq!(answer(&registry(), Some(prometheus)).headers()[http::header::CONTENT_TYPE], OPENMETRICS);
        assert_eq!(answer(&registry(), Some("*/*")).headers()[http::header::CONTENT_TYPE], PROMETHEUS_TEXT);
    }

    #[test]
    fn text_names_counter_families_with_total_and_has_no_eof() {
        let mut openmetrics = String::new();
        prometheus_client::encoding::text::encode(&mut openmetrics, &registry()).expect("encodes");
        assert!(openmetrics.contains("# TYPE demo_requests counter\n") && openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        let text = prometheus_text(&openmetrics);
        assert_eq!(
            text,
            "# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\ndemo_requests_total 1\n\
             # HELP demo_open Open things.\n# TYPE demo_open gauge\ndemo_open 0\n"
        );
    }
}
