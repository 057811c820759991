//! `kcp`: the kcp-rs command line.

apiserver::jemalloc!();

use clap::{Parser, Subcommand};

/// kcp-rs: a horizontally scalable, multi-tenant, Kubernetes-compatible control plane.
#[derive(Parser)]
#[command(name = "kcp", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process; boxing the flags would only obscure them.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a complete install in one process (embedded sled storage, or etcd with --storage
    /// etcd; generated certificates; admin kubeconfig at <root-directory>/admin.kubeconfig).
    Start(kcp::start::StartFlags),
    /// Certificates and keys of a sharded install.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Moving a shard's objects between storage backends.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check audit log files (oldest first) against their hash chain and seals; exit 1 and say
    /// where when an event was deleted, altered or reordered.
    Verify(kcp::audit::VerifyFlags),
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Copy a stopped shard from sled into an empty etcd prefix, then verify counts and checksums.
    Migrate(kcp::migrate::MigrateFlags),
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Write every CA, certificate and key a sharded install needs into --dir.
    Init(kcp::pki::InitFlags),
    /// Re-issue one leaf certificate (new key; same subject, names and CA).
    Rotate(kcp::pki::RotateFlags),
}

fn main() -> std::process::ExitCode {
    apiserver::process::run_server("kcp", run())
}

async fn run() -> std::process::ExitCode {
    apiserver::process::init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Start(flags) => kcp::start::run(flags).await,
        Command::Pki(PkiCommand::Init(flags)) => match kcp::pki::init(&flags) {
            Ok(files) => {
                println!("{}", kcp::pki::summary(&flags.dir, &files));
                Ok(())
            }
            Err(e) => {
                eprintln!("kcp pki init: {}", apiserver::process::report(&e));
                return std::process::ExitCode::FAILURE;
            }
        },
        Command::Pki(PkiCommand::Rotate(flags)) => match kcp::pki::rotate(&flags) {
            Ok(path) => {
                println!("re-issued {}", path.display());
                Ok(())
            }
            Err(e) => {
                eprintln!("kcp pki rotate: {}", apiserver::process::report(&e));
                return std::process::ExitCode::FAILURE;
            }
        },
        Command::Audit(AuditCommand::Verify(flags)) => match kcp::audit::verify(&flags) {
            Ok(report) => {
                println!("{}", kcp::audit::summary(&report, flags.files.len(), flags.key.is_some()));
                return if report.intact() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE };
            }
            Err(e) => {
                eprintln!("kcp audit verify: {}", apiserver::process::report(&e));
                return std::process::ExitCode::from(2);
            }
        },
        Command::Storage(StorageCommand::Migrate(flags)) => match kcp::migrate::migrate(&flags).await {
            Ok(report) => {
                println!("{report}");
                Ok(())
            }
            Err(e) => {
                eprintln!("kcp storage migrate: {}", apiserver::process::report(&e));
                let code = if matches!(e, kcp::migrate::MigrateError::Usage { .. }) { 64 } else { 1 };
                return std::process::ExitCode::from(code);
            }
        },
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kcp: {}", apiserver::process::report(&e));
            // 64 (EX_USAGE) for a configuration that can never work, as kcp-shard does.
            let code = if matches!(e, kcp::start::StartError::Config(_)) { 64 } else { 1 };
            std::process::ExitCode::from(code)
        }
    }
}
