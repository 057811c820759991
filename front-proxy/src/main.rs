//! `kcp-front-proxy`: see the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    apiserver::process::init_logging();
    let flags = front_proxy::Flags::parse();
    match front_proxy::run(flags, apiserver::process::shutdown_on_signals()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcp-front-proxy: {}", apiserver::process::report(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
