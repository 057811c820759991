//! rustls configurations built from [`CertPair`]s.
//!
//! Every config names the ring provider explicitly instead of relying on a process-wide default,
//! which would panic or pick differently depending on which crates are linked; TLS 1.2 and 1.3
//! only. Servers ask for, but do not require, a client certificate, and — like kube-apiserver —
//! do not refuse the handshake for one they cannot verify: the TLS layer checks only that the
//! client holds the certificate's key, and [`ClientCertAuthority::verify`] decides afterwards
//! whether the chain reaches a client CA. An untrusted certificate thus authenticates nobody
//! and the request gets 401, instead of a broken connection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::UnixTime;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::{CertPair, PkiError};

/// A server config presenting `serving`, accepting client certificates issued by any of
/// `client_ca_pems` (or none at all), speaking HTTP/2 or HTTP/1.1.
pub fn server_config(serving: &CertPair, client_ca_pems: &[String]) -> Result<ServerConfig, PkiError> {
    let config = server_builder(client_ca_pems)?.with_single_cert(certificates(&serving.cert_pem)?, private_key(&serving.key_pem)?)?;
    Ok(with_alpn(config))
}

/// Like [`server_config`], presenting the certificate and key in two files and picking up a
/// replaced pair without a restart (see [`ReloadingCert`]).
pub fn server_config_from_files(cert: &Path, key: &Path, client_ca_pems: &[String]) -> Result<ServerConfig, PkiError> {
    let resolver = ReloadingCert::new(cert, key)?;
    Ok(with_alpn(server_builder(client_ca_pems)?.with_cert_resolver(Arc::new(resolver))))
}

fn with_alpn(mut config: ServerConfig) -> ServerConfig {
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

fn server_builder(client_ca_pems: &[String]) -> Result<rustls::ConfigBuilder<ServerConfig, rustls::server::WantsServerCert>, PkiError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    if client_ca_pems.is_empty() {
        // rustls cannot build a verifier without roots; with no client CA nobody can present one.
        return Ok(builder.with_no_client_auth());
    }
    let mut roots = RootCertStore::empty();
    for pem in client_ca_pems {
        for cert in certificates(pem)? {
            roots.add(cert)?;
        }
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).allow_unauthenticated().build()?;
    Ok(builder.with_client_cert_verifier(Arc::new(DeferredChainCheck { inner: verifier })))
}

/// How often a handshake may look at the certificate files again.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// A serving certificate read from files and re-read when they change (checked at most once a
/// second, on a handshake), so `kcp pki rotate` takes effect without a restart. A pair that
/// does not load — a half-written rotation, a key that does not match — leaves the previous
/// certificate in service.
#[derive(Debug)]
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    modified: (Option<SystemTime>, Option<SystemTime>),
    checked: Instant,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ReloadingCert {
    /// Loads the pair now; an unusable pair is an error at start.
    pub fn new(cert: &Path, key: &Path) -> Result<ReloadingCert, PkiError> {
        let modified = (modified(cert), modified(key));
        let loaded = load_pair(cert, key)?;
        Ok(ReloadingCert { cert: cert.to_owned(), key: key.to_owned(), state: Mutex::new(Loaded { key: loaded, modified, checked: Instant::now() }) })
    }

    pub(super) fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.checked.elapsed() >= RELOAD_CHECK {
            state.checked = Instant::now();
            let now = (modified(&self.cert), modified(&self.key));
            if now != state.modified {
                match load_pair(&self.cert, &self.key) {
                    Ok(fresh) => {
                        tracing::info!(cert = %self.cert.display(), "serving certificate reloaded");
                        state.key = fresh;
                        state.modified = now;
                    }
                    Err(e) => {
                        tracing::warn!(cert = %self.cert.display(), error = %crate::process::report(&e), "new serving certificate not usable yet; keeping the current one")
                    }
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

fn load_pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, PkiError> {
    let read = |p: &Path| std::fs::read_to_string(p).map_err(|source| PkiError::Io { path: p.to_owned(), source });
    let signing = provider().key_provider.load_private_key(private_key(&read(key)?)?)?;
    let certified = CertifiedKey::new(certificates(&read(cert)?)?, signing);
    certified.keys_match()?;
    Ok(Arc::new(certified))
}

/// Checks client certificate chains against the client CAs, after the handshake.
#[derive(Debug)]
pub struct ClientCertAuthority {
    verifier: Arc<dyn ClientCertVerifier>,
}

impl ClientCertAuthority {
    /// The authority of `client_ca_pems`.
    pub fn new(client_ca_pems: &[String]) -> Result<ClientCertAuthority, PkiError> {
        let mut roots = RootCertStore::empty();
        for pem in client_ca_pems {
            for cert in certificates(pem)? {
                roots.add(cert)?;
            }
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider()).build()?;
        Ok(ClientCertAuthority { verifier })
    }

    /// True when the presented chain (leaf first) reaches one of the client CAs and is valid now.
    pub fn verify(&self, chain: &[CertificateDer<'_>]) -> bool {
        match chain.split_first() {
            Some((leaf, intermediates)) => self.verifier.verify_client_cert(leaf, intermediates, UnixTime::now()).is_ok(),
            None => false,
        }
    }
}

/// A client verifier that checks the handshake signatures (the client holds the key) but
/// leaves chain verification to [`ClientCertAuthority`].
#[derive(Debug)]
struct DeferredChainCheck {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for DeferredChainCheck {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client config trusting only `ca_pem`, presenting `client` when given. ALPN is left empty:
/// the caller offers the protocols its HTTP client actually speaks.
pub fn client_config(ca_pem: &str, client: Option<&CertPair>) -> Result<ClientConfig, PkiError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_pem)? {
        roots.add(cert)?;
    }
    let builder = ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?.with_root_certificates(roots);
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
    let certs =
        CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>().map_err(|source| PkiError::Pem { what: "certificate", source })?;
    if certs.is_empty() {
        return Err(PkiError::Pem { what: "certificate", source: rustls::pki_types::pem::Error::NoItemsFound });
    }
    Ok(certs)
}

fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|source| PkiError::Pem { what: "private key", source })
}
