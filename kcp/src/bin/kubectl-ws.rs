//! `kubectl-ws`: the kubectl plugin for kcp workspaces (`kubectl ws ...`).

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = kcp::ws::WsArgs::parse();
    match kcp::ws::run(args).await {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
