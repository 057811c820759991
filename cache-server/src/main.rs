//! `kcp-cache-server`: one in-memory replica of kcp-rs's replicated cache.

apiserver::jemalloc!();

use cache_server::{CacheConfig, CacheFile, CacheFlags};
use clap::Parser;

/// One replica of the kcp-rs cache server.
#[derive(Parser)]
#[command(name = "kcp-cache-server", version)]
struct Cli {
    #[command(flatten)]
    flags: CacheFlags,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    apiserver::process::init_logging();
    let flags = Cli::parse().flags;
    let file = match &flags.config {
        Some(path) => CacheFile::load(path),
        None => Ok(CacheFile::default()),
    };
    let config = match file.and_then(|f| CacheConfig::resolve(f, flags)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kcp-cache-server: {}", apiserver::process::report(&e));
            return std::process::ExitCode::from(64);
        }
    };
    match cache_server::run(config, apiserver::process::shutdown_on_signals(), |_| {}).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcp-cache-server: {}", apiserver::process::report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
