use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConnection, Connection, ServerConnection};

use super::*;

fn groups(names: &[&str]) -> Vec<String> {
    names.iter().map(|g| (*g).to_owned()).collect()
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("generated PEM parses")
}

struct Fixture {
    ca: CertPair,
    serving: CertPair,
}

fn fixture() -> Fixture {
    let ca = new_ca("kcp-ca").expect("CA");
    let serving = new_serving_cert(&ca, "kcp", &groups(&["localhost"]), &[IpAddr::V4(Ipv4Addr::LOCALHOST)]).expect("serving cert");
    Fixture { ca, serving }
}

/// Runs a TLS handshake in memory; returns the server side (for its peer certificates).
fn handshake(client: rustls::ClientConfig, server: rustls::ServerConfig, name: &str) -> Result<ServerConnection, rustls::Error> {
    let name = ServerName::try_from(name.to_owned()).expect("valid server name");
    let mut client = Connection::from(ClientConnection::new(Arc::new(client), name)?);
    let mut server = Connection::from(ServerConnection::new(Arc::new(server))?);
    // TLS 1.3 needs two round trips (three flights) plus the server's post-handshake tickets.
    for _ in 0..4 {
        transfer(&mut client, &mut server)?;
        transfer(&mut server, &mut client)?;
        if !client.is_handshaking() && !server.is_handshaking() && !client.wants_write() && !server.wants_write() {
            return match server {
                Connection::Server(server) => Ok(server),
                Connection::Client(_) => unreachable!("built as a server connection"),
            };
        }
    }
    panic!("handshake did not finish");
}

fn transfer(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    while from.wants_write() {
        let mut buf = Vec::new();
        from.write_tls(&mut buf).expect("writes to a Vec succeed");
        let mut slice = buf.as_slice();
        while !slice.is_empty() {
            to.read_tls(&mut slice).expect("reads from a slice succeed");
        }
    }
    to.process_new_packets().map(|_| ())
}

#[test]
fn client_certificates_from_the_client_ca_are_accepted_and_identify_the_user() {
    let f = fixture();
    let alice = new_client_cert(&f.ca, "alice", &groups(&["system:masters", "devs", "ops"])).expect("client cert");
    let server = server_config(&f.serving, std::slice::from_ref(&f.ca.cert_pem)).expect("server config");
    let client = client_config(&f.ca.cert_pem, Some(&alice)).expect("client config");
    let conn = handshake(client, server, "localhost").expect("mTLS handshake");
    let peer = conn.peer_certificates().and_then(|c| c.first()).expect("client presented its certificate");
    assert_eq!(subject_of(peer).expect("subject"), ("alice".to_owned(), groups(&["system:masters", "devs", "ops"])));
}

#[test]
fn client_certificates_from_another_ca_authenticate_nobody() {
    let f = fixture();
    let other_ca = new_ca("other").expect("CA");
    let mallory = new_client_cert(&other_ca, "mallory", &groups(&["system:masters"])).expect("client cert");
    let server = server_config(&f.serving, std::slice::from_ref(&f.ca.cert_pem)).expect("server config");
    let client = client_config(&f.ca.cert_pem, Some(&mallory)).expect("client config");
    // The handshake completes (the answer is a 401, not a broken connection) ...
    let conn = handshake(client, server, "localhost").expect("handshake");
    let chain = conn.peer_certificates().expect("certificate presented");
    // ... but the chain does not reach a client CA, so it identifies nobody.
    let authority = ClientCertAuthority::new(std::slice::from_ref(&f.ca.cert_pem)).expect("authority");
    assert!(!authority.verify(chain));
    let alice = new_client_cert(&f.ca, "alice", &[]).expect("client cert");
    let der = rustls::pki_types::CertificateDer::from_pem_slice(alice.cert_pem.as_bytes()).expect("pem");
    assert!(authority.verify(&[der]));
}

#[test]
fn client_certificates_are_optional_and_any_listed_ca_may_issue_them() {
    let f = fixture();
    let second_ca = new_ca("front-proxy-ca").expect("CA");
    let proxy = new_client_cert(&second_ca, "front-proxy", &[]).expect("client cert");
    let server = server_config(&f.serving, &[f.ca.cert_pem.clone(), second_ca.cert_pem.clone()]).expect("server config");

    let anonymous = client_config(&f.ca.cert_pem, None).expect("client config");
    let conn = handshake(anonymous, server.clone(), "127.0.0.1").expect("no client cert is fine");
    assert!(conn.peer_certificates().is_none());
    assert_eq!(conn.alpn_protocol(), None, "the client offered no ALPN");

    let with_proxy_cert = client_config(&f.ca.cert_pem, Some(&proxy)).expect("client config");
    let conn = handshake(with_proxy_cert, server, "localhost").expect("second CA accepted");
    let peer = conn.peer_certificates().and_then(|c| c.first()).expect("peer cert");
    assert_eq!(subject_of(peer).expect("subject"), ("front-proxy".to_owned(), vec![]));
}

#[test]
fn clients_check_the_serving_certificate() {
    let f = fixture();
    let other_ca = new_ca("other").expect("CA");
    let server = || server_config(&f.serving, &[]).expect("server config");
    let cases = [
        ("trusted CA, DNS SAN", f.ca.cert_pem.as_str(), "localhost", true),
        ("trusted CA, IP SAN", f.ca.cert_pem.as_str(), "127.0.0.1", true),
        ("name not in the certificate", f.ca.cert_pem.as_str(), "kcp.example.com", false),
        ("other CA", other_ca.cert_pem.as_str(), "localhost", false),
    ];
    for (name, ca, host, ok) in cases {
        let client = client_config(ca, None).expect("client config");
        assert_eq!(handshake(client, server(), host).is_ok(), ok, "{name}");
    }
}

#[test]
fn server_config_offers_h2_and_http11() {
    let f = fixture();
    let config = server_config(&f.serving, std::slice::from_ref(&f.ca.cert_pem)).expect("server config");
    assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    let mut client = client_config(&f.ca.cert_pem, None).expect("client config");
    client.alpn_protocols = vec![b"h2".to_vec()];
    let conn = handshake(client, config, "localhost").expect("handshake");
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
}

#[test]
fn subject_of_reads_cn_and_every_o() {
    let ca = new_ca("ca").expect("CA");
    for wanted in [vec![], groups(&["g1"]), groups(&["system:masters", "system:authenticated", "é-unicode"])] {
        let pair = new_client_cert(&ca, "bob", &wanted).expect("client cert");
        assert_eq!(subject_of(&der(&pair.cert_pem)).expect("subject"), ("bob".to_owned(), wanted.clone()));
    }
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
    let anonymous = params.self_signed(&key).expect("cert");
    assert!(matches!(subject_of(anonymous.der()), Err(PkiError::NoCommonName)));
    assert!(matches!(subject_of(b"not a certificate"), Err(PkiError::X509(_))));
}

#[test]
fn certificates_carry_the_intended_usages_and_lifetimes() {
    let f = fixture();
    let client = new_client_cert(&f.ca, "alice", &groups(&["a", "b"])).expect("client cert");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs() as i64;
    let day = 24 * 3600;
    let cases = [
        ("ca", &f.ca, 3650 * day, true, None),
        ("serving", &f.serving, 365 * day, false, Some((true, false))),
        ("client", &client, 365 * day, false, Some((false, true))),
    ];
    for (name, pair, lifetime, is_ca, eku) in cases {
        let expires = not_after(&pair.cert_pem).expect("not_after");
        assert!((expires - (now + lifetime)).abs() < 60, "{name}: expires {expires}, now {now}");
        let cert_der = der(&pair.cert_pem);
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).expect("parses");
        assert_eq!(cert.is_ca(), is_ca, "{name}");
        let usages = cert.extended_key_usage().expect("valid extensions").map(|e| (e.value.server_auth, e.value.client_auth));
        assert_eq!(usages, eku, "{name}");
        assert!(cert.validity().not_before.timestamp() <= now, "{name}: valid already");
    }
    assert!(not_after("garbage").is_err());
}

#[test]
fn pairs_are_written_with_private_keys_readable_only_by_the_owner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = fixture();
    // A stale, world-readable key must not keep its mode when replaced.
    std::fs::write(dir.path().join("serving.key"), "old").expect("write stale key");
    std::fs::set_permissions(dir.path().join("serving.key"), std::fs::Permissions::from_mode(0o644)).expect("chmod");

    write_pair(dir.path(), "serving", &f.serving).expect("write");
    let mode = |file: &str| std::fs::metadata(dir.path().join(file)).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode("serving.key"), 0o600);
    assert_eq!(mode("serving.crt"), 0o644);
    assert_eq!(read_pair(dir.path(), "serving").expect("read back"), f.serving);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn ensure_pair_reuses_existing_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("pki");
    let mut made = 0;
    let first = ensure_pair(&nested, "ca", || {
        made += 1;
        new_ca("kcp-ca")
    })
    .expect("created");
    let second = ensure_pair(&nested, "ca", || {
        made += 1;
        new_ca("kcp-ca")
    })
    .expect("reused");
    assert_eq!((made, &first), (1, &second));

    // Half a pair (a crash between the two writes) is replaced, not reused.
    std::fs::remove_file(nested.join("ca.crt")).expect("rm");
    let third = ensure_pair(&nested, "ca", || new_ca("kcp-ca")).expect("recreated");
    assert_ne!(third, first);

    std::fs::write(nested.join("ca.crt"), "not a certificate").expect("corrupt");
    assert!(ensure_pair(&nested, "ca", || new_ca("kcp-ca")).is_err(), "corrupt files are reported, not replaced");
}

#[test]
fn bad_pem_is_reported() {
    let f = fixture();
    let cases = [
        ("no certificate", CertPair { cert_pem: String::new(), key_pem: f.serving.key_pem.clone() }),
        ("no key", CertPair { cert_pem: f.serving.cert_pem.clone(), key_pem: "junk".into() }),
    ];
    for (name, pair) in cases {
        assert!(matches!(server_config(&pair, &[]), Err(PkiError::Pem { .. })), "{name}");
    }
    assert!(matches!(client_config("", None), Err(PkiError::Pem { what: "certificate", .. })));
    assert!(new_client_cert(&CertPair { cert_pem: f.ca.cert_pem.clone(), key_pem: "junk".into() }, "x", &[]).is_err());
}

#[test]
fn reloading_certificate_follows_the_files_and_survives_a_half_rotation() {
    let f = fixture();
    let dir = tempfile::tempdir().expect("dir");
    write_pair(dir.path(), "serving", &f.serving).expect("write");
    let (cert, key) = (dir.path().join("serving.crt"), dir.path().join("serving.key"));
    let resolver = ReloadingCert::new(&cert, &key).expect("loads");
    let served = |r: &ReloadingCert| r.current().cert[0].as_ref().to_vec();
    let first = served(&resolver);
    // Replaced pair: served after the next check (at most once a second).
    let next = new_serving_cert(&f.ca, "next", &["localhost".into()], &[]).expect("cert");
    write_pair(dir.path(), "serving", &next).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let second = served(&resolver);
    assert_ne!(first, second, "the new certificate is served");
    // A certificate whose key has not been written yet keeps the current pair in service.
    let third = new_serving_cert(&f.ca, "third", &["localhost".into()], &[]).expect("cert");
    write_file(&cert, third.cert_pem.as_bytes(), 0o644).expect("write");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(served(&resolver), second, "mismatched pair ignored");
}
