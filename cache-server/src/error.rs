//! What can stop the cache server from starting.

use std::path::PathBuf;

/// Why the cache server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A certificate, key or CA file is missing or unusable.
    #[error("loading TLS material")]
    Pki(#[from] apiserver::pki::PkiError),
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listening socket could not be opened.
    #[error("listening on {address}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}
