//! Cache server configuration: flags named as the shard's for the same things.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

pub use apiserver::config::ConfigError;

/// Command-line flags of `kcp-cache-server`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct CacheFlags {
    /// Address to listen on; all interfaces by default.
    #[arg(long)]
    pub bind_address: Option<IpAddr>,
    /// HTTPS and gRPC port (0 picks a free port); 6443 by default.
    #[arg(long)]
    pub secure_port: Option<u16>,
    /// Serving certificate (PEM).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM).
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA bundle that client certificates must chain to (the shards' client CA).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Recent changes kept for subscribers to resume from; 10000 by default.
    #[arg(long)]
    pub history_size: Option<usize>,
}

/// A complete, validated cache server configuration.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Address to listen on.
    pub bind_address: IpAddr,
    /// Port to listen on (0: any free port).
    pub secure_port: u16,
    /// Serving certificate (PEM).
    pub tls_cert_file: PathBuf,
    /// Serving private key (PEM).
    pub tls_private_key_file: PathBuf,
    /// CA bundle of accepted client certificates.
    pub client_ca_file: PathBuf,
    /// Recent changes kept for resuming subscribers.
    pub history_size: usize,
}

impl CacheConfig {
    /// Fills defaults and checks that the required settings are there.
    pub fn resolve(flags: CacheFlags) -> Result<CacheConfig, ConfigError> {
        let history_size = flags.history_size.unwrap_or(10_000);
        if history_size == 0 {
            return Err(ConfigError::Invalid { setting: "--history-size", message: "must be at least 1".into() });
        }
        Ok(CacheConfig {
            bind_address: flags.bind_address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            secure_port: flags.secure_port.unwrap_or(6443),
            tls_cert_file: flags.tls_cert_file.ok_or(ConfigError::Missing("--tls-cert-file"))?,
            tls_private_key_file: flags.tls_private_key_file.ok_or(ConfigError::Missing("--tls-private-key-file"))?,
            client_ca_file: flags.client_ca_file.ok_or(ConfigError::Missing("--client-ca-file"))?,
            history_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requires_tls_files_and_fills_defaults() {
        assert!(matches!(CacheConfig::resolve(CacheFlags::default()), Err(ConfigError::Missing("--tls-cert-file"))));
        let flags = CacheFlags {
            tls_cert_file: Some("c".into()),
            tls_private_key_file: Some("k".into()),
            client_ca_file: Some("ca".into()),
            secure_port: Some(0),
            ..Default::default()
        };
        let config = CacheConfig::resolve(flags.clone()).unwrap();
        assert_eq!((config.secure_port, config.history_size), (0, 10_000));
        assert!(matches!(CacheConfig::resolve(CacheFlags { history_size: Some(0), ..flags }), Err(ConfigError::Invalid { .. })));
    }
}
