//! What shards use to talk to the cache: a [`Publisher`] feeding every replica, and a
//! [`Subscriber`] reading from one replica at a time and failing over to the next.
//!
//! Both accept [`Target`]s: a replica's URL (gRPC over mutual TLS), or a [`Replica`] in the
//! same process (`kcp start`), reached without a network hop through the same streams.

mod connect;
mod publisher;
mod subscriber;

use std::sync::Arc;

pub use connect::ClientError;
pub use publisher::Publisher;
pub use subscriber::{CachedObject, Subscriber, Update};

use crate::replica::Replica;

/// One replica to publish to or read from.
#[derive(Clone)]
pub enum Target {
    /// A replica served by a `kcp-cache-server`, reached at `url` with this TLS configuration.
    Remote {
        /// `https://host:port`.
        url: String,
        /// Trusts the replica's serving CA and presents a `system:masters` client certificate.
        tls: Arc<rustls::ClientConfig>,
    },
    /// A replica in this process.
    Local(Replica),
}

impl Target {
    /// A remote replica trusted through `ca_pem`, presenting `identity`.
    pub fn remote(url: impl Into<String>, ca_pem: &str, identity: &apiserver::pki::CertPair) -> Result<Target, ClientError> {
        let mut tls = apiserver::pki::client_config(ca_pem, Some(identity))?;
        // gRPC needs HTTP/2.
        tls.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Target::Remote { url: url.into(), tls: Arc::new(tls) })
    }

    /// What logs call this target.
    pub fn name(&self) -> &str {
        match self {
            Target::Remote { url, .. } => url,
            Target::Local(_) => "in-process",
        }
    }
}

/// Helpers of the client tests.
#[cfg(test)]
mod testing {
    use std::time::Duration;

    use crate::store::Key;

    /// An APIExport's key in cluster `c1`.
    pub fn key(name: &str) -> Key {
        Key { group: "apis.kcp.io".into(), resource: "apiexports".into(), cluster: "c1".into(), namespace: String::new(), name: name.into() }
    }

    /// Waits (up to five seconds) until `check` holds.
    pub async fn until(what: &str, mut check: impl FnMut() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
