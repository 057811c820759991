//! Cache server configuration: a YAML file and flags, flags winning, named as the shard's
//! settings for the same things.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use apiserver::config::ConfigError;
use apiserver::config::{deserialize_duration, parse_duration};
use apiserver::server::ConnectionLimits;
use serde::Deserialize;

/// The YAML config file (camelCase keys, unknown keys rejected).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CacheFile {
    /// Address to listen on.
    pub bind_address: Option<IpAddr>,
    /// HTTPS and gRPC port.
    pub secure_port: Option<u16>,
    /// Serving certificate (PEM).
    pub tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM).
    pub tls_private_key_file: Option<PathBuf>,
    /// CA bundle that client certificates must chain to.
    pub client_ca_file: Option<PathBuf>,
    /// Recent changes kept for subscribers to resume from.
    pub history_size: Option<usize>,
    /// Time a client has to send a request's headers (`10s`).
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub request_header_timeout: Option<Duration>,
    /// Time a connection with no request in flight stays open (`30s`).
    #[serde(default, deserialize_with = "deserialize_duration")]
    pub idle_connection_timeout: Option<Duration>,
}

impl CacheFile {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<CacheFile, ConfigError> {
        apiserver::config::load(Some(path))
    }
}

/// Command-line flags of `kcp-cache-server`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct CacheFlags {
    /// YAML config file (camelCase keys named after these flags); flags override its settings.
    #[arg(long)]
    pub config: Option<PathBuf>,
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
    /// Time a client has to send a request's headers (the TLS handshake counts); default `10s`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub request_header_timeout: Option<Duration>,
    /// Time a connection with no request in flight stays open (streams are in flight for
    /// their whole life); default `30s`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub idle_connection_timeout: Option<Duration>,
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
    /// When slow or idle connections are closed.
    pub limits: ConnectionLimits,
}

impl CacheConfig {
    /// Merges file and flags (flags win), fills defaults and checks the required settings.
    pub fn resolve(file: CacheFile, flags: CacheFlags) -> Result<CacheConfig, ConfigError> {
        let history_size = flags.history_size.or(file.history_size).unwrap_or(10_000);
        if history_size == 0 {
            return Err(ConfigError::Invalid { setting: "--history-size", message: "must be at least 1".into() });
        }
        Ok(CacheConfig {
            bind_address: flags.bind_address.or(file.bind_address).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            secure_port: flags.secure_port.or(file.secure_port).unwrap_or(6443),
            tls_cert_file: flags.tls_cert_file.or(file.tls_cert_file).ok_or(ConfigError::Missing("--tls-cert-file"))?,
            tls_private_key_file: flags.tls_private_key_file.or(file.tls_private_key_file).ok_or(ConfigError::Missing("--tls-private-key-file"))?,
            client_ca_file: flags.client_ca_file.or(file.client_ca_file).ok_or(ConfigError::Missing("--client-ca-file"))?,
            history_size,
            limits: ConnectionLimits::or_defaults(
                flags.request_header_timeout.or(file.request_header_timeout),
                flags.idle_connection_timeout.or(file.idle_connection_timeout),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        assert!(matches!(CacheConfig::resolve(CacheFile::default(), CacheFlags::default()), Err(ConfigError::Missing("--tls-cert-file"))));
        let file: CacheFile = apiserver::config::parse(
            "tlsCertFile: c\ntlsPrivateKeyFile: k\nclientCaFile: ca\nsecurePort: 7000\nhistorySize: 50\nidleConnectionTimeout: 1m\n",
            Path::new("cache.yaml"),
        )
        .unwrap();
        let config = CacheConfig::resolve(file, CacheFlags { secure_port: Some(0), ..Default::default() }).unwrap();
        assert_eq!((config.secure_port, config.history_size, config.limits.idle_timeout), (0, 50, Duration::from_secs(60)));
        assert_eq!(config.tls_cert_file, PathBuf::from("c"));
        let flags = CacheFlags { history_size: Some(0), tls_cert_file: Some("c".into()), ..Default::default() };
        assert!(matches!(CacheConfig::resolve(CacheFile::default(), flags), Err(ConfigError::Invalid { .. })));
        assert!(apiserver::config::parse::<CacheFile>("unknownKey: 1\n", Path::new("cache.yaml")).is_err());
    }
}
