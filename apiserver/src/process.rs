//! What every binary does the same way at start and stop: its allocator, logging, and shutdown
//! on signals.

#[doc(hidden)]
pub use tikv_jemallocator::Jemalloc;

/// Makes jemalloc the binary's allocator, written once at the top of each server's `main.rs`.
/// Under load glibc's allocator took a quarter of a shard's CPU; jemalloc does the same work
/// with about a third less CPU (docs/benchmarks.md). Its settings are built in from
/// `.cargo/config.toml`.
#[macro_export]
macro_rules! jemalloc {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::process::Jemalloc = $crate::process::Jemalloc;
    };
}

/// The runtime of a process that serves and stores objects. Requests run storage calls that
/// can block their thread for a moment (sled's locks and page-ins, the commit path's write
/// lock), so it has twice as many threads as cores, and at least four: with one thread per core,
/// two writers waiting on the commit lock stall every other tenant's request on a two-core
/// machine. `TOKIO_WORKER_THREADS` still decides when set.
fn server_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = std::env::var("TOKIO_WORKER_THREADS").ok().and_then(|n| n.parse().ok()).filter(|n: &usize| *n > 0).unwrap_or((2 * cores).max(4));
    tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
}

/// Runs a server binary's `main` on the [`server_runtime`]; `program` names it if the runtime
/// cannot start.
pub fn run_server(program: &str, main: impl std::future::Future<Output = std::process::ExitCode>) -> std::process::ExitCode {
    match server_runtime() {
        Ok(runtime) => runtime.block_on(main),
        Err(e) => {
            eprintln!("{program}: cannot start the runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Installs the tracing subscriber (RUST_LOG, default `info`).
pub fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: in a log file or a pipe they are escape codes
    // to strip, and every request span's fields would still pay for them when it opens.
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

/// A receiver that turns true on SIGTERM or Ctrl-C, when in-flight requests should drain.
pub fn shutdown_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::info!("shutting down: draining in-flight requests");
        let _ = tx.send(true);
    });
    rx
}

/// An error and every cause below it on one line (`reading x: permission denied`). Error types
/// keep their causes out of their own message (and hyper's own is often just "client error"),
/// so this is how a process prints them.
pub fn report(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading {path}")]
    struct Outer {
        path: &'static str,
        source: std::io::Error,
    }

    #[test]
    fn reports_join_the_causes() {
        let e = Outer { path: "/x", source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file") };
        assert_eq!(report(&e), "reading /x: no such file");
    }
}
