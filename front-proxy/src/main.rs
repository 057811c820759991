//! `kcp-front-proxy`: see the library.

apiserver::jemalloc!();

use clap::Parser;
use front_proxy::{ProxyConfig, ProxyFlags};

/// Authenticates callers and routes workspace paths to the shards hosting them.
#[derive(Parser)]
#[command(name = "kcp-front-proxy", version)]
struct Cli {
    #[command(flatten)]
    flags: ProxyFlags,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    apiserver::process::init_logging();
    let flags = Cli::parse().flags;
    let config = match apiserver::config::load(flags.config.as_deref()).and_then(|file| ProxyConfig::resolve(file, flags)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kcp-front-proxy: {}", apiserver::process::report(&e));
            return std::process::ExitCode::from(64);
        }
    };
    match front_proxy::run(config, apiserver::process::shutdown_on_signals()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcp-front-proxy: {}", apiserver::process::report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
