//! Service-account tokens: ES256-signed JWTs in the shape of kube's bound tokens, carrying the
//! logical cluster of the service account so a token is only ever honoured in its own workspace.
//!
//! Signing and checking the signature, issuer, audience and lifetime happen here; whether the
//! service account still exists is the server's business (it needs storage).

use std::collections::BTreeMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::user::{service_account_username, UserInfo};
use super::AuthError;

/// Group of every service account.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";

/// Extra key naming the logical cluster a service account lives in.
pub const CLUSTER_NAME_EXTRA: &str = "authentication.kubernetes.io/cluster-name";

/// Extra key identifying the token used, as kube records it.
pub const CREDENTIAL_ID_EXTRA: &str = "authentication.kubernetes.io/credential-id";

/// Shortest lifetime a TokenRequest may ask for, as in kube.
pub const MIN_EXPIRATION_SECONDS: i64 = 600;

/// Lifetime when a TokenRequest does not say.
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// Longest lifetime a TokenRequest may ask for (kube's limit is 2^32 seconds).
pub const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// The service account a token names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAccountRef {
    /// Logical cluster (not path) of the service account.
    #[serde(rename = "clusterName")]
    pub cluster: String,
    /// Namespace of the service account.
    pub namespace: String,
    /// `{name, uid}` of the service account.
    #[serde(rename = "serviceaccount")]
    pub account: AccountId,
    /// `{name, uid}` of the Secret the token is bound to, if any: deleting the Secret revokes
    /// the token (kube's secret-bound tokens, and the long-lived ones of
    /// `kubernetes.io/service-account-token` Secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<AccountId>,
}

/// Name and uid of a service account (or of the Secret a token is bound to); the uid makes a
/// recreated object's old tokens invalid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountId {
    /// Service account name.
    pub name: String,
    /// Service account uid.
    pub uid: String,
}

/// The claims of a service-account token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// `system:serviceaccount:<ns>:<name>`.
    pub sub: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Token id.
    pub jti: String,
    /// What the token is bound to.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: ServiceAccountRef,
}

impl Claims {
    /// The identity the token stands for.
    pub fn user(&self) -> UserInfo {
        let sa = &self.kubernetes;
        let extra =
            BTreeMap::from([(CLUSTER_NAME_EXTRA.to_string(), vec![sa.cluster.clone()]), (CREDENTIAL_ID_EXTRA.to_string(), vec![format!("JTI={}", self.jti)])]);
        UserInfo {
            name: service_account_username(&sa.namespace, &sa.account.name),
            uid: sa.account.uid.clone(),
            groups: vec![SERVICE_ACCOUNTS_GROUP.to_string(), format!("{SERVICE_ACCOUNTS_GROUP}:{}", sa.namespace)],
            extra,
        }
        .with_authenticated_group()
    }
}

/// The logical cluster a user's service-account identity belongs to, if it is one.
pub fn service_account_cluster(user: &UserInfo) -> Option<&str> {
    if !user.name.starts_with(super::user::SERVICE_ACCOUNT_PREFIX) {
        return None;
    }
    user.extra.get(CLUSTER_NAME_EXTRA).and_then(|v| v.first()).map(String::as_str)
}

/// The clusters a service-account identity names; None for users that are not service accounts.
fn named_clusters(user: &UserInfo) -> Option<&[String]> {
    user.name.starts_with(super::user::SERVICE_ACCOUNT_PREFIX).then(|| user.extra.get(CLUSTER_NAME_EXTRA).map_or(&[][..], Vec::as_slice))
}

/// Whether a service account naming `named` belongs to `cluster`. One that names no cluster
/// counts as local, as in kcp: a SubjectAccessReview or an impersonation naming a service
/// account asks about the workspace's own (only tokens carry a cluster, and they always do).
/// One that names several clusters is nobody's.
fn belongs(named: &[String], cluster: &str) -> bool {
    match named {
        [] => true,
        [home] => home == cluster,
        _ => false,
    }
}

/// Whether `user` is one of `cluster`'s own service accounts (see [`as_seen_in`] for the rest).
pub fn is_local_service_account(user: &UserInfo, cluster: &str) -> bool {
    named_clusters(user).is_some_and(|named| belongs(named, cluster))
}

/// The identity a request carries into `cluster`: a service account of another logical
/// cluster is only an authenticated stranger there, known by its cluster's group
/// `system:cluster:<its cluster>`, so a workspace can grant to "anyone from workspace X" but
/// never mistakes another workspace's `default/robot` for its own.
pub fn as_seen_in(user: UserInfo, cluster: &str) -> UserInfo {
    let Some(named) = named_clusters(&user).filter(|named| !belongs(named, cluster)) else { return user };
    let mut groups = vec![super::AUTHENTICATED_GROUP.to_string()];
    // A workspace's group only for an account that names exactly one.
    if let [home] = named {
        groups.push(format!("{}{home}", super::user::CLUSTER_GROUP_PREFIX));
    }
    UserInfo { name: ANONYMOUS_USER.to_string(), uid: String::new(), groups, extra: BTreeMap::new() }
}

/// The name foreign service accounts get.
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// Checks service-account tokens with the public half of the signing key (what a front-proxy
/// holds; it cannot issue tokens).
pub struct TokenVerifier {
    issuer: String,
    decoding: DecodingKey,
    /// Tokens whose signature, issuer and audience checked out, so that a client sending the
    /// same token on every request pays for the ECDSA verification once (it cost more than the
    /// rest of a create). Keyed by a SHA-256 of the audiences and the token; the time claims
    /// are checked again on every use.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], Claims>>,
}

/// How far `exp` and `nbf` may be off the local clock (jsonwebtoken's default leeway).
const CLOCK_SKEW_SECONDS: i64 = 60;

/// Verified tokens remembered at most; the cache starts over when it is full.
const VERIFIED_CAPACITY: usize = 4096;

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// A verifier from a PEM key: the SPKI public key, or the PKCS#8 private key it belongs to.
    pub fn from_pem(issuer: &str, pem: &str) -> Result<TokenVerifier, AuthError> {
        let bad = |e: String| AuthError::SigningKey(e);
        let public = if pem.contains("PRIVATE KEY") {
            let pair = rcgen::KeyPair::from_pem(pem).map_err(|e| bad(e.to_string()))?;
            if !pair.is_compatible(&rcgen::PKCS_ECDSA_P256_SHA256) {
                return Err(bad("the service-account signing key must be an ECDSA P-256 key".into()));
            }
            pair.public_key_pem()
        } else {
            pem.to_string()
        };
        Ok(TokenVerifier {
            issuer: issuer.to_string(),
            decoding: DecodingKey::from_ec_pem(public.as_bytes()).map_err(|e| bad(e.to_string()))?,
            verified: Default::default(),
        })
    }

    /// The issuer, which is also the audience tokens get when a request names none.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The claims of a token signed by this key, unexpired, from this issuer and meant for one
    /// of `audiences` (the issuer itself when empty); None otherwise.
    pub fn verify(&self, token: &str, audiences: &[String]) -> Option<Claims> {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        let in_time = |c: &Claims| c.exp >= now - CLOCK_SKEW_SECONDS && c.nbf <= now + CLOCK_SKEW_SECONDS;
        let key = {
            let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
            for audience in audiences {
                digest.update(audience.as_bytes());
                digest.update(b"\0");
            }
            digest.update(b"\0");
            digest.update(token.as_bytes());
            <[u8; 32]>::try_from(digest.finish().as_ref()).ok()?
        };
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(claims) = verified.get(&key) {
            return in_time(claims).then(|| claims.clone());
        }
        drop(verified);
        let mut v = Validation::new(Algorithm::ES256);
        v.leeway = CLOCK_SKEW_SECONDS as u64;
        v.set_issuer(&[&self.issuer]);
        if audiences.is_empty() {
            v.set_audience(&[&self.issuer]);
        } else {
            v.set_audience(audiences);
        }
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).ok()?.claims;
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(key, claims.clone());
        Some(claims)
    }
}

/// Issues and checks service-account tokens with one key pair.
pub struct TokenSigner {
    encoding: EncodingKey,
    verifier: TokenVerifier,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").field("issuer", &self.verifier.issuer).finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer from a PKCS#8 PEM P-256 private key.
    pub fn from_pem(issuer: &str, private_key_pem: &str) -> Result<TokenSigner, AuthError> {
        let verifier = TokenVerifier::from_pem(issuer, private_key_pem)?;
        let encoding = EncodingKey::from_ec_pem(private_key_pem.as_bytes()).map_err(|e| AuthError::SigningKey(e.to_string()))?;
        Ok(TokenSigner { encoding, verifier })
    }

    /// A new PKCS#8 PEM P-256 private key.
    pub fn generate_key_pem() -> Result<String, AuthError> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| AuthError::SigningKey(e.to_string()))?;
        Ok(pair.serialize_pem())
    }

    /// The issuer, which is also the audience tokens get when a request names none.
    pub fn issuer(&self) -> &str {
        self.verifier.issuer()
    }

    /// Signs a token for `account`, valid from `now` for `lifetime` seconds.
    pub fn issue(&self, account: ServiceAccountRef, audiences: Vec<String>, now: i64, lifetime: i64) -> Result<String, AuthError> {
        let issuer = self.issuer().to_string();
        let claims = Claims {
            sub: service_account_username(&account.namespace, &account.account.name),
            aud: if audiences.is_empty() { vec![issuer.clone()] } else { audiences },
            iss: issuer,
            exp: now + lifetime,
            iat: now,
            nbf: now,
            jti: crate::uid::new_v4().to_string(),
            kubernetes: account,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.encoding).map_err(|e| AuthError::SigningKey(e.to_string()))
    }

    /// See [`TokenVerifier::verify`].
    pub fn verify(&self, token: &str, audiences: &[String]) -> Option<Claims> {
        self.verifier.verify(token, audiences)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> ServiceAccountRef {
        ServiceAccountRef {
            cluster: "abc123".into(),
            namespace: "default".into(),
            account: AccountId { name: "robot".into(), uid: "u-1".into() },
            secret: None,
        }
    }

    fn now() -> i64 {
        jiff::Timestamp::now().as_second()
    }

    fn signer() -> TokenSigner {
        TokenSigner::from_pem("kcp-rs", &TokenSigner::generate_key_pem().expect("key")).expect("signer")
    }

    #[test]
    fn issued_token_verifies_and_names_its_cluster() {
        let s = signer();
        let token = s.issue(account(), vec![], now(), 600).expect("issue");
        let claims = s.verify(&token, &[]).expect("valid");
        let user = claims.user();
        assert_eq!(user.name, "system:serviceaccount:default:robot");
        assert_eq!(user.uid, "u-1");
        assert_eq!(user.groups, ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]);
        assert_eq!(service_account_cluster(&user), Some("abc123"));
    }

    #[test]
    fn wrong_key_expired_and_wrong_audience_are_refused() {
        let (a, b) = (signer(), signer());
        let token = a.issue(account(), vec![], now(), 600).expect("issue");
        assert!(b.verify(&token, &[]).is_none(), "another key's signature");
        let old = a.issue(account(), vec![], now() - 7200, 600).expect("issue");
        assert!(a.verify(&old, &[]).is_none(), "expired");
        let other = a.issue(account(), vec!["vault".into()], now(), 600).expect("issue");
        assert!(a.verify(&other, &[]).is_none(), "audience not the api");
        assert!(a.verify(&other, &["vault".into()]).is_some(), "asked-for audience");
        assert!(a.verify(&other, &[]).is_none(), "a remembered success holds for its audiences only");
        let mut tampered = token.clone();
        tampered.insert(tampered.len() / 2, 'x');
        assert!(a.verify(&tampered, &[]).is_none(), "tampered");
    }

    #[test]
    fn a_remembered_token_is_refused_once_it_expires() {
        let s = signer();
        let token = s.issue(account(), vec![], now(), 600).expect("issue");
        assert!(s.verify(&token, &[]).is_some());
        for claims in s.verifier.verified.lock().expect("lock").values_mut() {
            claims.exp = now() - 3600;
        }
        assert!(s.verify(&token, &[]).is_none(), "expiry is checked on every use, not only the first");
    }

    #[test]
    fn service_accounts_are_strangers_outside_their_cluster() {
        let s = signer();
        let user = s.verify(&s.issue(account(), vec![], now(), 600).expect("issue"), &[]).expect("valid").user();
        assert_eq!(as_seen_in(user.clone(), "abc123"), user);
        let away = as_seen_in(user, "other");
        assert_eq!(away.name, "system:anonymous");
        assert_eq!(away.groups, ["system:authenticated", "system:cluster:abc123"]);
        assert!(away.extra.is_empty());
        let alice = UserInfo { name: "alice".into(), ..Default::default() };
        assert_eq!(as_seen_in(alice.clone(), "other"), alice);
        // One naming several clusters is a stranger everywhere, of no workspace's group.
        let mut split = UserInfo { name: "system:serviceaccount:default:robot".into(), ..Default::default() };
        split.extra.insert(CLUSTER_NAME_EXTRA.into(), vec!["abc123".into(), "other".into()]);
        let seen = as_seen_in(split, "abc123");
        assert_eq!((seen.name.as_str(), seen.groups), ("system:anonymous", vec!["system:authenticated".to_string()]));
    }

    #[test]
    fn a_service_account_naming_no_cluster_is_local_everywhere() {
        let robot = |clusters: &[&str]| {
            let mut u = UserInfo { name: "system:serviceaccount:default:robot".into(), ..Default::default() };
            if !clusters.is_empty() {
                u.extra.insert(CLUSTER_NAME_EXTRA.into(), clusters.iter().map(|c| c.to_string()).collect());
            }
            u
        };
        assert!(is_local_service_account(&robot(&[]), "abc"), "a review's or an impersonated account");
        assert!(is_local_service_account(&robot(&["abc"]), "abc"));
        assert!(!is_local_service_account(&robot(&["other"]), "abc"));
        assert!(!is_local_service_account(&robot(&["abc", "other"]), "abc"));
        assert!(!is_local_service_account(&UserInfo { name: "alice".into(), ..Default::default() }, "abc"));
    }

    #[test]
    fn other_users_have_no_service_account_cluster() {
        let mut u = UserInfo { name: "alice".into(), ..Default::default() };
        u.extra.insert(CLUSTER_NAME_EXTRA.into(), vec!["abc".into()]);
        assert_eq!(service_account_cluster(&u), None);
    }

    #[test]
    fn public_key_verifies_what_the_private_key_signed() {
        let pem = TokenSigner::generate_key_pem().expect("key");
        let s = TokenSigner::from_pem("kcp-rs", &pem).expect("signer");
        let public = rcgen::KeyPair::from_pem(&pem).expect("pair").public_key_pem();
        let v = TokenVerifier::from_pem("kcp-rs", &public).expect("verifier");
        assert!(v.verify(&s.issue(account(), vec![], now(), 600).expect("issue"), &[]).is_some());
    }

    #[test]
    fn non_p256_keys_are_refused() {
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("key").serialize_pem();
        assert!(matches!(TokenSigner::from_pem("i", &ed), Err(AuthError::SigningKey(_))));
    }
}
