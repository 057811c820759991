//! The authenticators: client certificates (users, and the front-proxy whose identity headers
//! are then trusted), static tokens and service-account tokens.

use crate::pki::ClientCertAuthority;
use crate::storage::{Key, SharedStorage, StorageError};
use apimachinery::auth::{self, AuthError, TokenFile, TokenSigner, UserInfo};

/// The verified client certificate's (CN, O values), put on requests by the connection.
#[derive(Debug, Clone)]
pub struct PeerSubject(pub String, pub Vec<String>);

/// Put on requests arriving over a connection from an authenticating proxy (its certificate
/// chains to the request-header CA): only there are `X-Remote-*` identity headers believed.
#[derive(Debug, Clone)]
pub struct TrustedProxy(pub String);

/// Who is at the other end of a connection, by the CA its client certificate chains to.
pub struct Peers {
    /// CAs of users' and components' client certificates.
    pub clients: ClientCertAuthority,
    /// The request-header CA, which signs only front-proxy client certificates.
    pub proxies: Option<ClientCertAuthority>,
    /// Common names a request-header certificate may carry (empty: any).
    pub proxy_names: Vec<String>,
}

/// What a verified client certificate makes of a connection.
#[derive(Debug, Clone)]
pub enum Peer {
    /// A user or component, identified by its certificate's subject.
    User(PeerSubject),
    /// An authenticating proxy, whose `X-Remote-*` headers name the user.
    Proxy(TrustedProxy),
}

impl Peers {
    /// Peers authenticated by client certificates of `client_ca_pems` only (no proxy in front).
    pub fn clients_only(client_ca_pems: &[String]) -> Result<Peers, crate::pki::PkiError> {
        Ok(Peers { clients: ClientCertAuthority::new(client_ca_pems)?, proxies: None, proxy_names: Vec::new() })
    }

    /// Classifies a presented chain (leaf first); None when it chains to no trusted CA, which
    /// authenticates nobody.
    pub fn classify(&self, chain: &[rustls_pki_types::CertificateDer<'_>]) -> Option<Peer> {
        let (cn, orgs) = crate::pki::subject_of(chain.first()?.as_ref()).ok()?;
        if self.proxies.as_ref().is_some_and(|p| p.verify(chain)) {
            // A request-header certificate with a name not allowed identifies nobody.
            return (self.proxy_names.is_empty() || self.proxy_names.contains(&cn)).then_some(Peer::Proxy(TrustedProxy(cn)));
        }
        self.clients.verify(chain).then_some(Peer::User(PeerSubject(cn, orgs)))
    }
}

/// Header carrying the user name a trusted proxy authenticated.
pub const REMOTE_USER: &str = "x-remote-user";
/// Header carrying one group of that user (repeated).
pub const REMOTE_GROUP: &str = "x-remote-group";
/// Prefix of headers carrying the user's extra values: `X-Remote-Extra-<url-escaped key>`.
pub const REMOTE_EXTRA_PREFIX: &str = "x-remote-extra-";

/// How the caller addressed the cluster before the front-proxy resolved its path; trusted, like
/// the identity headers, only from the proxy.
pub const REMOTE_CLUSTER: &str = "x-remote-cluster";

/// The identity a trusted proxy forwarded, as kube's request-header authenticator reads it.
pub fn user_from_headers(headers: &http::HeaderMap) -> Option<UserInfo> {
    let name = headers.get(REMOTE_USER)?.to_str().ok().filter(|n| !n.is_empty())?.to_string();
    let groups = headers.get_all(REMOTE_GROUP).iter().filter_map(|g| g.to_str().ok().map(String::from)).collect();
    let mut extra: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (header, value) in headers {
        let Some(key) = header.as_str().strip_prefix(REMOTE_EXTRA_PREFIX) else { continue };
        if let Ok(v) = value.to_str() {
            extra.entry(apimachinery::request::percent_decode(key).to_ascii_lowercase()).or_default().push(v.to_string());
        }
    }
    Some(UserInfo { name, uid: String::new(), groups, extra }.with_authenticated_group())
}

/// The configured authenticators.
#[derive(Default)]
pub struct Authenticator {
    /// Static bearer tokens from `--token-auth-file`, if given.
    pub tokens: Option<TokenFile>,
    /// Service-account token verification, if the server has a signing key.
    pub service_accounts: Option<ServiceAccountTokens>,
}

/// Service-account tokens: the signer, and the storage that says whether the account still exists.
pub struct ServiceAccountTokens {
    /// Verifies a token's signature, issuer, expiry and audience.
    pub signer: TokenSigner,
    /// Where the token's ServiceAccount is looked up.
    pub store: SharedStorage,
}

impl ServiceAccountTokens {
    /// The identity of a valid token whose service account still exists with the same uid; an
    /// error when storage cannot say whether it does.
    async fn authenticate(&self, token: &str, audiences: &[String]) -> Result<Option<UserInfo>, StorageError> {
        let Some(claims) = self.signer.verify(token, audiences) else { return Ok(None) };
        let sa = &claims.kubernetes;
        let key = Key { group: "", resource: "serviceaccounts", cluster: &sa.cluster, namespace: &sa.namespace, name: &sa.account.name };
        let stored = match self.store.get(&key.encode()).await {
            Ok(stored) => stored,
            // Not here: deleted, or it lives on another shard. In the second case nothing here
            // can check that it still exists; but no request here reaches its workspace
            // either, so it only ever acts as a stranger from it (see `auth::as_seen_in`).
            Err(StorageError::NotFound { .. }) => {
                return match self.store.get(&Key::logical_cluster(&sa.cluster).encode()).await {
                    Ok(_) => Ok(None),
                    Err(StorageError::NotFound { .. }) => Ok(Some(claims.user())),
                    Err(unreadable) => Err(unreadable),
                };
            }
            // Unreadable is not absent: a token whose account cannot be checked may be revoked.
            Err(unreadable) => return Err(unreadable),
        };
        if !alive(&stored.value, &sa.account.uid) {
            return Ok(None);
        }
        if let Some(secret) = &sa.secret {
            let key = Key { group: "", resource: "secrets", cluster: &sa.cluster, namespace: &sa.namespace, name: &secret.name };
            match self.store.get(&key.encode()).await {
                Ok(stored) if alive(&stored.value, &secret.uid) => {}
                Ok(_) | Err(StorageError::NotFound { .. }) => return Ok(None),
                Err(unreadable) => return Err(unreadable),
            }
        }
        Ok(Some(claims.user()))
    }
}

/// Whether stored bytes are the object a token names (same uid) and not being deleted.
fn alive(stored: &[u8], uid: &str) -> bool {
    apimachinery::meta::StoredMeta::parse(stored).is_ok_and(|found| found.uid() == Some(uid) && !found.deleting())
}

/// Reads and parses a static token file (`--token-auth-file`).
pub fn load_token_file(path: impl AsRef<std::path::Path>) -> Result<TokenFile, AuthError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| AuthError::TokenFileRead { path: path.display().to_string(), source })?;
    TokenFile::parse_from(&path.display().to_string(), &text)
}

impl Authenticator {
    /// Identifies the caller from the Authorization header or the client certificate; an error
    /// when a token's service account cannot be checked.
    pub async fn authenticate(&self, authorization: Option<&str>, peer: Option<&PeerSubject>) -> Result<Option<UserInfo>, StorageError> {
        if let Some(token) = auth::bearer_token(authorization) {
            // A presented token that does not authenticate is a failure, not a fallback.
            return self.authenticate_token(token, &[]).await;
        }
        Ok(peer.map(|p| auth::user_from_certificate(p.0.clone(), p.1.clone())))
    }

    /// Identifies a bearer token meant for one of `audiences` (the API server when empty);
    /// TokenReview uses this too.
    pub async fn authenticate_token(&self, token: &str, audiences: &[String]) -> Result<Option<UserInfo>, StorageError> {
        if let Some(user) = self.tokens.as_ref().and_then(|t| t.authenticate(token)) {
            return Ok(Some(user));
        }
        let Some(accounts) = &self.service_accounts else { return Ok(None) };
        accounts.authenticate(token, audiences).await
    }
}

/// Removes `X-Remote-*` identity headers.
pub fn strip_identity_headers(headers: &mut http::HeaderMap) {
    let extras: Vec<http::HeaderName> = headers.keys().filter(|k| k.as_str().starts_with(REMOTE_EXTRA_PREFIX)).cloned().collect();
    for name in extras.iter().map(http::HeaderName::as_str).chain([REMOTE_USER, REMOTE_GROUP, REMOTE_CLUSTER]) {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token is trusted only as far as its account can be checked: with the store gone, a
    /// token of this shard's account, or of one whose cluster cannot be read, is an error (503),
    /// never an identity.
    #[cfg(feature = "etcd")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_token_whose_account_cannot_be_read_is_refused() {
        use apimachinery::auth::service_account::{AccountId, ServiceAccountRef};
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut etcd, store) = crate::storage::etcd::local_store(dir.path(), "/kcp-rs/authn/").await;
        let uid = apimachinery::uid::new_v4().to_string();
        let account = Key { group: "", resource: "serviceaccounts", cluster: "c1", namespace: "default", name: "robot" }.encode();
        store.create(&account, format!(r#"{{"metadata":{{"name":"robot","uid":"{uid}"}}}}"#).into()).await.expect("account");
        store.create(&Key::logical_cluster("c1").encode(), bytes::Bytes::from_static(b"{}")).await.expect("cluster");
        let signer = TokenSigner::from_pem("https://kcp.test", &TokenSigner::generate_key_pem().expect("key")).expect("signer");
        let token = |cluster: &str| {
            let account = ServiceAccountRef {
                cluster: cluster.into(),
                namespace: "default".into(),
                account: AccountId { name: "robot".into(), uid: uid.clone() },
                secret: None,
            };
            signer.issue(account, Vec::new(), jiff::Timestamp::now().as_second(), 600).expect("token")
        };
        let (here, elsewhere) = (token("c1"), token("c2"));
        let tokens = ServiceAccountTokens { signer, store };
        assert!(tokens.authenticate(&here, &[]).await.expect("read").is_some(), "an account that exists");
        assert!(tokens.authenticate(&elsewhere, &[]).await.expect("read").is_some(), "an account of a cluster on another shard");

        etcd.stop();
        assert!(matches!(tokens.authenticate(&here, &[]).await, Err(StorageError::Unreachable(_))), "this shard's account cannot be checked");
        assert!(matches!(tokens.authenticate(&elsewhere, &[]).await, Err(StorageError::Unreachable(_))), "nor can where its cluster lives");
    }

    fn chain(pair: &crate::pki::CertPair) -> Vec<rustls_pki_types::CertificateDer<'static>> {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes()).map(|c| c.expect("cert")).collect()
    }

    #[test]
    fn connections_are_classified_by_their_certificate() {
        let (users, proxies) = (crate::pki::new_ca("users").expect("CA"), crate::pki::new_ca("proxies").expect("CA"));
        let peers = Peers {
            clients: ClientCertAuthority::new(std::slice::from_ref(&users.cert_pem)).expect("CA"),
            proxies: Some(ClientCertAuthority::new(std::slice::from_ref(&proxies.cert_pem)).expect("CA")),
            proxy_names: vec!["kcp-front-proxy".into()],
        };
        let alice = crate::pki::new_client_cert(&users, "alice", &["dev".into()]).expect("cert");
        assert!(matches!(peers.classify(&chain(&alice)), Some(Peer::User(PeerSubject(n, g))) if n == "alice" && g == ["dev"]));
        let proxy = crate::pki::new_client_cert(&proxies, "kcp-front-proxy", &[]).expect("cert");
        assert!(matches!(peers.classify(&chain(&proxy)), Some(Peer::Proxy(_))));
        let unnamed = crate::pki::new_client_cert(&proxies, "someone-else", &[]).expect("cert");
        assert!(peers.classify(&chain(&unnamed)).is_none(), "a request-header certificate with a name not allowed");
        let stranger = crate::pki::new_client_cert(&crate::pki::new_ca("other").expect("CA"), "mallory", &[]).expect("cert");
        assert!(peers.classify(&chain(&stranger)).is_none());
    }

    #[test]
    fn token_files_are_read_and_named_in_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("tokens.csv");
        std::fs::write(&good, "secret,admin,0,system:admins\n").expect("write");
        let file = load_token_file(&good).expect("load");
        assert!(file.authenticate("secret").is_some());
        assert!(!format!("{file:?}").contains("secret"), "Debug must not leak tokens");

        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "onlytoken\n").expect("write");
        let msg = load_token_file(&bad).map(|_| ()).unwrap_err().to_string();
        assert!(msg.contains("bad.csv") && msg.contains("line 1"), "{msg}");

        assert!(matches!(load_token_file(dir.path().join("missing")), Err(AuthError::TokenFileRead { .. })));
    }

    #[test]
    fn forwarded_identity_is_read_from_headers() {
        let mut h = http::HeaderMap::new();
        assert!(user_from_headers(&h).is_none());
        h.insert(REMOTE_USER, "alice".parse().expect("header"));
        h.append(REMOTE_GROUP, "dev".parse().expect("header"));
        h.append(REMOTE_GROUP, "ops".parse().expect("header"));
        h.insert("x-remote-extra-authentication.kcp.io%2fscopes", "cluster:abc".parse().expect("header"));
        let u = user_from_headers(&h).expect("user");
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(u.extra["authentication.kcp.io/scopes"], ["cluster:abc"]);
        strip_identity_headers(&mut h);
        assert!(h.is_empty(), "{h:?}");
    }
}
