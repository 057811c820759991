//! `kcp`: the kcp-rs command line.

use clap::{Parser, Subcommand};

/// kcp-rs: a horizontally scalable, multi-tenant, Kubernetes-compatible control plane.
#[derive(Parser)]
#[command(name = "kcp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a complete install in one process (embedded storage, generated certificates,
    /// admin kubeconfig at <root-directory>/admin.kubeconfig).
    Start(kcp::start::StartFlags),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shard::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start(flags) => kcp::start::run(flags).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcp: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
