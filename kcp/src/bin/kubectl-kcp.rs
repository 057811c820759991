//! `kubectl-kcp`: the kubectl plugin with kcp's subcommands (`kubectl kcp bind apiexport ...`).

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = kcp::kubectl_kcp::KcpArgs::parse();
    match kcp::kubectl_kcp::run(args, &mut std::io::stdout()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", e.line());
            std::process::ExitCode::FAILURE
        }
    }
}
