//! Certificates and TLS configuration for kcp-rs processes.
//!
//! `kcp start` and `kcp pki` generate a small PKI (CA, serving and client certificates, ECDSA
//! P-256) and every listener and inter-process client builds its rustls config from it. This
//! module owns issuing ([`new_ca`], [`new_serving_cert`], [`new_client_cert`]), reading the
//! identity the authenticator needs back out of a certificate ([`subject_of`], [`not_after`]),
//! the on-disk layout (`files`) and the rustls configs (`tls`). Certificates travel as PEM
//! strings in a [`CertPair`] because that is how they are stored, written into kubeconfigs and
//! handed to rustls; only this module parses them.

mod files;
mod subject;
mod tls;

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedKey, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use x509_parser::error::{PEMError, X509Error};

pub use files::{ensure_pair, read_pair, write_file, write_pair};
pub use tls::{client_config, server_config, server_config_from_files, ClientCertAuthority, ReloadingCert};

/// A PEM certificate and its PEM (PKCS#8) private key.
#[derive(Clone, PartialEq, Eq)]
pub struct CertPair {
    /// The certificate, PEM-encoded.
    pub cert_pem: String,
    /// The private key, PEM-encoded; never logged (see the `Debug` impl).
    pub key_pem: String,
}

/// Keeps private keys out of logs and panic messages.
impl std::fmt::Debug for CertPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertPair").field("cert_pem", &self.cert_pem).field("key_pem", &"<redacted>").finish()
    }
}

/// Why a certificate could not be issued, stored, loaded or turned into a TLS config.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused to generate a key or certificate (bad name, bad key PEM, …).
    #[error("generating certificate")]
    Generate(#[from] rcgen::Error),
    /// rustls rejected a certificate, key or configuration.
    #[error("TLS configuration")]
    Tls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built from the given CAs.
    #[error("client certificate verifier")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// A PEM block was missing or unreadable.
    #[error("reading {what} PEM")]
    Pem {
        /// What the PEM should have held: `certificate` or `private key`.
        what: &'static str,
        /// The PEM decoder's error.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate's PEM armour could not be parsed.
    #[error("parsing certificate PEM")]
    CertPem(#[from] x509_parser::nom::Err<PEMError>),
    /// A certificate's DER could not be parsed as X.509.
    #[error("parsing certificate")]
    X509(#[from] x509_parser::nom::Err<X509Error>),
    /// A subject attribute is not a string x509-parser can read.
    #[error("reading certificate subject")]
    Subject(#[source] X509Error),
    /// A certificate's DER structure was not what X.509 prescribes.
    #[error("malformed certificate DER: {0}")]
    Der(&'static str),
    /// A client certificate without a common name identifies nobody.
    #[error("certificate subject has no common name")]
    NoCommonName,
    /// Reading or writing a certificate file failed.
    #[error("{path}")]
    Io {
        /// The file read or written.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// CAs live long so that the kubeconfigs that embed them keep working.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Leaf certificates are re-issued by `kcp pki`/`kcp start` well before a year is out.
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Certificates start an hour in the past so small clock differences between machines
/// (or a VM resumed from a snapshot) do not make a fresh certificate "not yet valid".
const BACKDATE: Duration = Duration::from_secs(3600);

/// A self-signed CA certificate and key, valid for ten years.
pub fn new_ca(common_name: &str) -> Result<CertPair, PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = params(common_name, CA_VALIDITY);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key)?;
    Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A TLS server certificate for the given DNS names and IP addresses, signed by `ca`, valid a year.
pub fn new_serving_cert(ca: &CertPair, cn: &str, dns: &[String], ips: &[IpAddr]) -> Result<CertPair, PkiError> {
    let mut params = leaf(cn, ExtendedKeyUsagePurpose::ServerAuth);
    params.subject_alt_names = dns
        .iter()
        .map(|name| Ok(SanType::DnsName(name.as_str().try_into()?)))
        .chain(ips.iter().map(|ip| Ok(SanType::IpAddress(*ip))))
        .collect::<Result<_, rcgen::Error>>()?;
    let issued = sign(&params, &issuer(ca)?)?;
    Ok(CertPair { cert_pem: issued.cert.pem(), key_pem: issued.signing_key.serialize_pem() })
}

/// A client certificate for `user` in `groups` (CN=user, one O per group, as Kubernetes reads
/// them), signed by `ca`, valid a year.
pub fn new_client_cert(ca: &CertPair, user: &str, groups: &[String]) -> Result<CertPair, PkiError> {
    let issuer = issuer(ca)?;
    let issued = sign(&leaf(user, ExtendedKeyUsagePurpose::ClientAuth), &issuer)?;
    let cert_pem = subject::replace_subject(issued.cert.der(), user, groups, issuer.key())?;
    Ok(CertPair { cert_pem, key_pem: issued.signing_key.serialize_pem() })
}

/// The common name and organizations of a certificate's subject: the user name and groups the
/// x509 authenticator assigns, as Kubernetes does.
pub fn subject_of(cert_der: &[u8]) -> Result<(String, Vec<String>), PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)?;
    let subject = cert.subject();
    let cn = match subject.iter_common_name().next() {
        Some(attr) => attr.as_str().map_err(PkiError::Subject)?.to_owned(),
        None => return Err(PkiError::NoCommonName),
    };
    let groups = subject.iter_organization().map(|attr| attr.as_str().map(str::to_owned).map_err(PkiError::Subject)).collect::<Result<_, _>>()?;
    Ok((cn, groups))
}

/// When the (first) certificate in a PEM string expires, in Unix seconds.
pub fn not_after(cert_pem: &str) -> Result<i64, PkiError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())?;
    let cert = pem.parse_x509()?;
    Ok(cert.validity().not_after.timestamp())
}

/// What a certificate (PEM) says about its holder, for re-issuing it: subject CN and O values,
/// DNS and IP subject alternative names.
pub fn holder_of(cert_pem: &str) -> Result<Holder, PkiError> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())?;
    let (cn, groups) = subject_of(&pem.contents)?;
    let cert = pem.parse_x509()?;
    let mut holder = Holder { cn, groups, dns: Vec::new(), ips: Vec::new() };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(d) => holder.dns.push(d.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                    4 => holder.ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default())),
                    16 => holder.ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default())),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    Ok(holder)
}

/// The holder of a certificate: see [`holder_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Subject common name: the user name of a client certificate.
    pub cn: String,
    /// Subject organizations: the groups of a client certificate.
    pub groups: Vec<String>,
    /// DNS subject alternative names.
    pub dns: Vec<String>,
    /// IP address subject alternative names.
    pub ips: Vec<IpAddr>,
}

/// The SPKI public key (PEM) of a PKCS#8 private key (PEM).
pub fn public_key_pem(private_key_pem: &str) -> Result<String, PkiError> {
    Ok(KeyPair::from_pem(private_key_pem)?.public_key_pem())
}

/// Parameters every certificate shares: a CN, a validity window starting now (backdated).
fn params(common_name: &str, validity: Duration) -> CertificateParams {
    let now = rcgen::date_time_ymd(1970, 1, 1) + SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.not_before = now - BACKDATE;
    params.not_after = now + validity;
    params.use_authority_key_identifier_extension = true;
    params
}

/// Parameters of a one-year end-entity certificate used for `usage`.
fn leaf(common_name: &str, usage: ExtendedKeyUsagePurpose) -> CertificateParams {
    let mut params = params(common_name, LEAF_VALIDITY);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params
}

/// A fresh P-256 key and its certificate for `params`, signed by `issuer`.
fn sign(params: &CertificateParams, issuer: &Issuer<'_, KeyPair>) -> Result<CertifiedKey<KeyPair>, PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    Ok(CertifiedKey { cert: params.signed_by(&key, issuer)?, signing_key: key })
}

/// The CA as an rcgen issuer: its subject and key identifier come from its certificate.
fn issuer(ca: &CertPair) -> Result<Issuer<'static, KeyPair>, PkiError> {
    Ok(Issuer::from_ca_cert_pem(&ca.cert_pem, KeyPair::from_pem(&ca.key_pem)?)?)
}

#[cfg(test)]
mod tests;
