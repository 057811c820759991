//! Certificates (rcgen, ECDSA P-256) and rustls configurations for servers and clients.
//!
//! Every config is built with an explicit ring provider and TLS 1.2+, never the process default,
//! so no feature leak elsewhere in the dependency graph can change which crypto is used.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Errors creating, reading or using certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("generating certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("invalid PEM: {0}")]
    Pem(String),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("invalid certificate: {0}")]
    Certificate(String),
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct CertPair {
    pub cert_pem: String,
    pub key_pem: String,
}

fn params(cn: &str, orgs: &[String], days: i64) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    for o in orgs {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    p.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    // A little slack in the past tolerates clock skew between machines.
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
    Ok(p)
}

fn sign(p: CertificateParams, ca: Option<&CertPair>) -> Result<CertPair, PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let cert = match ca {
        None => p.self_signed(&key)?,
        Some(ca) => {
            let ca_key = KeyPair::from_pem(&ca.key_pem)?;
            let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)?;
            p.signed_by(&key, &issuer)?
        }
    };
    Ok(CertPair { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A new self-signed CA, valid for 10 years.
pub fn new_ca(common_name: &str) -> Result<CertPair, PkiError> {
    let mut p = params(common_name, &[], 3650)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    sign(p, None)
}

/// A serving certificate for the given names, valid for one year.
pub fn new_serving_cert(ca: &CertPair, cn: &str, dns: &[String], ips: &[IpAddr]) -> Result<CertPair, PkiError> {
    let mut p = params(cn, &[], 365)?;
    for d in dns {
        p.subject_alt_names.push(SanType::DnsName(d.clone().try_into()?));
    }
    p.subject_alt_names.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign(p, Some(ca))
}

/// A client certificate: CN is the user, O the group; valid for one year.
///
/// rcgen keeps one value per subject attribute type, so at most one group fits; asking for more
/// is an error rather than a certificate that silently drops groups.
pub fn new_client_cert(ca: &CertPair, user: &str, groups: &[String]) -> Result<CertPair, PkiError> {
    if groups.len() > 1 {
        return Err(PkiError::Certificate(format!("a generated client certificate carries at most one group, got {}", groups.len())));
    }
    let mut p = params(user, groups, 365)?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign(p, Some(ca))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.display().to_string(), source }
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    // Created with its final mode: a key is never readable by others, not even briefly.
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp).map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Writes `<stem>.crt` (0644) and `<stem>.key` (0600) under `dir`.
pub fn write_pair(dir: &Path, stem: &str, pair: &CertPair) -> Result<(), PkiError> {
    write_file(&dir.join(format!("{stem}.key")), &pair.key_pem, 0o600)?;
    write_file(&dir.join(format!("{stem}.crt")), &pair.cert_pem, 0o644)
}

/// Reads `<stem>.crt` and `<stem>.key` from `dir`.
pub fn read_pair(dir: &Path, stem: &str) -> Result<CertPair, PkiError> {
    let (c, k) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
    Ok(CertPair {
        cert_pem: std::fs::read_to_string(&c).map_err(io(&c))?,
        key_pem: std::fs::read_to_string(&k).map_err(io(&k))?,
    })
}

/// Reads a pair if both files exist, otherwise makes and writes a new one.
pub fn ensure_pair(dir: &Path, stem: &str, make: impl FnOnce() -> Result<CertPair, PkiError>) -> Result<CertPair, PkiError> {
    if dir.join(format!("{stem}.crt")).exists() && dir.join(format!("{stem}.key")).exists() {
        return read_pair(dir, stem);
    }
    let pair = make()?;
    write_pair(dir, stem, &pair)?;
    Ok(pair)
}

fn certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::Pem(e.to_string()))?;
    if certs.is_empty() {
        return Err(PkiError::Pem("no certificate found".into()));
    }
    Ok(certs)
}

fn key(pem: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Pem(e.to_string()))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config: client certificates optional, but verified against `client_ca_pems` when
/// presented; ALPN h2 and http/1.1.
pub fn server_config(serving: &CertPair, client_ca_pems: &[String]) -> Result<rustls::ServerConfig, PkiError> {
    let mut roots = rustls::RootCertStore::empty();
    for pem in client_ca_pems {
        for c in certs(pem)? {
            roots.add(c).map_err(|e| PkiError::Tls(e.to_string()))?;
        }
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(&serving.cert_pem)?, key(&serving.key_pem)?)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// A client config trusting `ca_pem`, optionally presenting a client certificate.
pub fn client_config(ca_pem: &str, client: Option<&CertPair>) -> Result<rustls::ClientConfig, PkiError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca_pem)? {
        roots.add(c).map_err(|e| PkiError::Tls(e.to_string()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    match client {
        Some(pair) => builder
            .with_client_auth_cert(certs(&pair.cert_pem)?, key(&pair.key_pem)?)
            .map_err(|e| PkiError::Tls(e.to_string())),
        None => Ok(builder.with_no_client_auth()),
    }
}

/// CN and O values of a certificate: the user and groups of a client certificate.
pub fn subject_of(cert_der: &[u8]) -> Result<(String, Vec<String>), PkiError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| PkiError::Certificate(e.to_string()))?;
    let subject = cert.subject();
    let cn = subject.iter_common_name().next().and_then(|a| a.as_str().ok()).unwrap_or_default().to_string();
    let orgs = subject.iter_organization().filter_map(|a| a.as_str().ok().map(String::from)).collect();
    Ok((cn, orgs))
}

/// Expiry of a PEM certificate, in Unix seconds.
pub fn not_after(cert_pem: &str) -> Result<i64, PkiError> {
    let der = certs(cert_pem)?.remove(0);
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| PkiError::Certificate(e.to_string()))?;
    Ok(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_carry_user_and_groups() {
        let ca = new_ca("test CA").expect("ca");
        let client = new_client_cert(&ca, "alice", &["dev".into()]).expect("client");
        let der = certs(&client.cert_pem).expect("pem").remove(0);
        assert_eq!(subject_of(der.as_ref()).expect("subject"), ("alice".to_string(), vec!["dev".to_string()]));
        assert!(new_client_cert(&ca, "bob", &["a".into(), "b".into()]).is_err());
        assert!(not_after(&client.cert_pem).expect("expiry") > 0);
    }

    #[test]
    fn configs_build_and_keys_are_private() {
        let ca = new_ca("test CA").expect("ca");
        let serving = new_serving_cert(&ca, "srv", &["localhost".into()], &["127.0.0.1".parse().expect("ip")]).expect("serving");
        server_config(&serving, std::slice::from_ref(&ca.cert_pem)).expect("server config");
        client_config(&ca.cert_pem, Some(&new_client_cert(&ca, "u", &[]).expect("client"))).expect("client config");
        let dir = tempfile::tempdir().expect("dir");
        write_pair(dir.path(), "x", &serving).expect("write");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("x.key")).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_pair(dir.path(), "x").expect("read").cert_pem, serving.cert_pem);
    }
}
