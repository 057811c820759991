//! `kcp-shard`: one shard's API server.

apiserver::jemalloc!();

use clap::Parser;
use shard::{ShardConfig, ShardFile, ShardFlags};

/// The API server of one kcp-rs shard.
#[derive(Parser)]
#[command(name = "kcp-shard", version)]
struct Cli {
    #[command(flatten)]
    flags: ShardFlags,
}

fn main() -> std::process::ExitCode {
    apiserver::process::run_server("kcp-shard", serve())
}

async fn serve() -> std::process::ExitCode {
    apiserver::process::init_logging();
    let cli = Cli::parse();
    let file = match &cli.flags.config {
        Some(p) => ShardFile::load(p),
        None => Ok(ShardFile::default()),
    };
    let config = match file.and_then(|f| ShardConfig::resolve(f, cli.flags.clone())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kcp-shard: {}", apiserver::process::report(&e));
            return std::process::ExitCode::from(64);
        }
    };
    match shard::run(config, apiserver::process::shutdown_on_signals(), |_| {}).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcp-shard: {}", apiserver::process::report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
