//! Series computed when scraped rather than updated as things happen: figures that already live
//! elsewhere (an index's size, a census of phases) or in the kernel (process metrics).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// Reads one labelled gauge family: (label value, gauge value) pairs.
type Read = Box<dyn Fn() -> Vec<(String, f64)> + Send + Sync>;

/// A gauge family with one label, read at every scrape.
pub struct ComputedGauges {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    read: Read,
}

impl ComputedGauges {
    /// A family `name` whose series are `label="<value>"`, as `read` says at scrape time. The
    /// caller keeps the label's values bounded (phases, kinds, shards: never workspaces).
    pub fn new(name: &'static str, help: &'static str, label: &'static str, read: impl Fn() -> Vec<(String, f64)> + Send + Sync + 'static) -> Self {
        ComputedGauges { name, help, label, read: Box::new(read) }
    }
}

impl std::fmt::Debug for ComputedGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputedGauges").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Collector for ComputedGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(self.name, self.help, None, MetricType::Gauge)?;
        for (value, gauge) in (self.read)() {
            let labels = [(self.label, value)];
            ConstGauge::new(gauge).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

/// The standard process series (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_open_fds`, `process_start_time_seconds`), read from `/proc/self` at every scrape.
/// Elsewhere than Linux there is no `/proc`, and no series.
#[derive(Debug, Default)]
pub struct ProcessMetrics;

/// Linux reports times in `/proc` in USER_HZ, which is 100 on every architecture it runs on.
const USER_HZ: f64 = 100.0;

/// What `/proc` says about this process.
#[derive(Debug, PartialEq)]
struct ProcessFigures {
    cpu_seconds: f64,
    resident_bytes: f64,
    open_fds: f64,
    start_time_seconds: f64,
}

/// The figures from `/proc/self/stat`, `/proc/self/status`, `/proc/stat` and `/proc/self/fd`.
fn read_proc() -> Option<ProcessFigures> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let system = std::fs::read_to_string("/proc/stat").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    parse_proc(&stat, &status, &system, open_fds)
}

fn parse_proc(stat: &str, status: &str, system: &str, open_fds: f64) -> Option<ProcessFigures> {
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
    let cpu_seconds = (field(14)? + field(15)?) / USER_HZ;
    let boot_time: f64 = system.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    let start_time_seconds = boot_time + field(22)? / USER_HZ;
    let resident_kib: f64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(ProcessFigures { cpu_seconds, resident_bytes: resident_kib * 1024.0, open_fds, start_time_seconds })
}

impl Collector for ProcessMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = read_proc() else { return Ok(()) };
        ConstCounter::new(p.cpu_seconds).encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            MetricType::Counter,
        )?)?;
        let gauges = [
            ("process_resident_memory_bytes", "Resident memory size in bytes", p.resident_bytes),
            ("process_open_fds", "Number of open file descriptors", p.open_fds),
            ("process_start_time_seconds", "Start time of the process since unix epoch in seconds", p.start_time_seconds),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn parses_proc_files_with_spaces_in_the_command_name() {
        let stat = "4242 (kcp shard) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 12 0 12345 1000000 900 18446744073709551615";
        let status = "Name:\tkcp\nVmPeak:\t  99999 kB\nVmRSS:\t   2048 kB\nThreads:\t12\n";
        let system = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
        let figures = parse_proc(stat, status, system, 7.0).expect("parses");
        assert_eq!(figures, ProcessFigures { cpu_seconds: 3.0, resident_bytes: 2048.0 * 1024.0, open_fds: 7.0, start_time_seconds: 1_700_000_000.0 + 123.45 });
        assert_eq!(parse_proc("garbage", status, system, 1.0), None);
    }

    #[test]
    fn encodes_this_process_and_computed_families() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ProcessMetrics));
        registry.register_collector(Box::new(ComputedGauges::new("demo_things", "Things by colour", "colour", || vec![("red".into(), 2.0)])));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for series in [
            "process_cpu_seconds_total ",
            "process_resident_memory_bytes ",
            "process_open_fds ",
            "process_start_time_seconds ",
            "demo_things{colour=\"red\"} 2.0",
        ] {
            assert!(text.contains(series), "{series} missing from {text}");
        }
    }
}
