//! rustls configurations built from [`CertPair`]s.
//!
//! Every config names the ring provider explicitly instead of relying on a process-wide default,
//! which would panic or pick differently depending on which crates are linked; TLS 1.2 and 1.3
//! only. Servers ask for, but do not require, a client certificate: requests without one go on
//! to the token authenticators, while a presented certificate must chain to a client CA.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::{CertPair, PkiError};

/// A server config presenting `serving`, accepting client certificates issued by any of
/// `client_ca_pems` (or none at all), speaking HTTP/2 or HTTP/1.1.
pub fn server_config(serving: &CertPair, client_ca_pems: &[String]) -> Result<ServerConfig, PkiError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = if client_ca_pems.is_empty() {
        // rustls cannot build a verifier without roots; with no client CA nobody can present one.
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for pem in client_ca_pems {
            for cert in certificates(pem)? {
                roots.add(cert)?;
            }
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).allow_unauthenticated().build()?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder.with_single_cert(certificates(&serving.cert_pem)?, private_key(&serving.key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client config trusting only `ca_pem`, presenting `client` when given. ALPN is left empty:
/// the caller offers the protocols its HTTP client actually speaks.
pub fn client_config(ca_pem: &str, client: Option<&CertPair>) -> Result<ClientConfig, PkiError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_pem)? {
        roots.add(cert)?;
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    Ok(match client {
        Some(pair) => builder.with_client_auth_cert(certificates(&pair.cert_pem)?, private_key(&pair.key_pem)?)?,
        None => builder.with_no_client_auth(),
    })
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM bundle; an empty bundle is an error.
fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| PkiError::Pem { what: "certificate", source })?;
    if certs.is_empty() {
        return Err(PkiError::Pem { what: "certificate", source: rustls::pki_types::pem::Error::NoItemsFound });
    }
    Ok(certs)
}

fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|source| PkiError::Pem { what: "private key", source })
}
