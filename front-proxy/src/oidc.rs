//! OpenID Connect bearer tokens, checked as kube-apiserver's OIDC authenticator does: the
//! issuer, the audience (client id), the expiry and the signature against the issuer's keys
//! (a JWKS file, or its `jwks_uri` fetched and refreshed). A tenant's identity provider must
//! never mint platform identities, so tokens naming a `system:` user or group are refused.

use std::sync::RwLock;
use std::time::{Duration, Instant};

use apimachinery::auth::UserInfo;
use apiserver::client::{Client, ClientError};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

/// How an OIDC issuer's tokens map to users.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Issuer URL; a token's `iss` claim must equal it.
    pub issuer: String,
    /// Expected audience.
    pub client_id: String,
    /// Claim holding the username, e.g. `sub` or `email`.
    pub username_claim: String,
    /// Prefix of usernames; kube's default is `<issuer>#` unless the claim is `email`.
    pub username_prefix: String,
    /// Claim holding the groups (a string or a list of them); no groups when unset.
    pub groups_claim: Option<String>,
    /// Prefix put in front of every group from the token.
    pub groups_prefix: String,
}

/// Where the signing keys come from.
pub enum Keys {
    /// A JWKS document read at start.
    Fixed(JwkSet),
    /// The issuer's `jwks_uri`, fetched with `client` and refreshed at most every minute
    /// when a token names a key not yet known.
    Fetched {
        /// Client trusting the issuer's CA.
        client: Box<Client>,
        /// The `jwks_uri` from the issuer's discovery document.
        url: String,
        /// The last key set fetched and when; `None` until the first fetch.
        cached: RwLock<(JwkSet, Option<Instant>)>,
    },
}

/// An OIDC authenticator.
pub struct Oidc {
    /// The issuer, audience and claim mapping.
    pub config: OidcConfig,
    /// The issuer's signing keys.
    pub keys: Keys,
}

/// Why a token was refused (logged, never sent: the caller gets a plain 401).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The token's header could not be decoded.
    #[error("not a JWT: {0}")]
    Malformed(String),
    /// The token is signed with a symmetric or unknown algorithm.
    #[error("unsupported signing algorithm {0:?}")]
    Algorithm(Algorithm),
    /// The token's `kid` names no key the issuer has published.
    #[error("no key {0:?} in the issuer's key set")]
    UnknownKey(String),
    /// Signature, issuer, audience or expiry check failed, or the email is unverified.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The key set needed refreshing and could not be fetched.
    #[error("refreshing the issuer's key set")]
    KeySet(#[from] KeySetError),
    /// The username claim is missing, empty or not a string.
    #[error("claim {0:?} is missing or not a string")]
    Claim(String),
    /// The token names a `system:` user or group.
    #[error("{0:?} is reserved for the platform")]
    Reserved(String),
}

const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl Oidc {
    /// Whether a token claims to come from this issuer (so other authenticators can be tried
    /// for tokens that do not).
    pub fn is_mine(&self, token: &str) -> bool {
        let Some(payload) = token.split('.').nth(1) else { return false };
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|c| c["iss"] == self.config.issuer)
    }

    /// The user a token stands for.
    pub async fn authenticate(&self, token: &str) -> Result<UserInfo, OidcError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| OidcError::Malformed(e.to_string()))?;
        if !ASYMMETRIC.contains(&header.alg) {
            return Err(OidcError::Algorithm(header.alg));
        }
        let kid = header.kid.clone().unwrap_or_default();
        let key = self.key(&kid).await?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.config.issuer]);
        v.set_audience(&[&self.config.client_id]);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| OidcError::Invalid(e.to_string()))?.claims;
        self.user(&claims)
    }

    fn user(&self, claims: &Value) -> Result<UserInfo, OidcError> {
        let c = &self.config;
        let raw = claims[&c.username_claim].as_str().filter(|s| !s.is_empty()).ok_or_else(|| OidcError::Claim(c.username_claim.clone()))?;
        if c.username_claim == "email" && claims.get("email_verified").is_some_and(|v| v != &Value::Bool(true)) {
            return Err(OidcError::Invalid("email is not verified".into()));
        }
        let name = format!("{}{raw}", c.username_prefix);
        if name.starts_with("system:") {
            return Err(OidcError::Reserved(name));
        }
        let groups: Vec<String> = match c.groups_claim.as_deref().map(|g| &claims[g]) {
            Some(Value::String(g)) => vec![g.clone()],
            Some(Value::Array(gs)) => gs.iter().filter_map(Value::as_str).map(String::from).collect(),
            _ => Vec::new(),
        };
        let groups: Vec<String> = groups.into_iter().map(|g| format!("{}{g}", c.groups_prefix)).collect();
        if let Some(bad) = groups.iter().find(|g| g.starts_with("system:")) {
            return Err(OidcError::Reserved(bad.clone()));
        }
        Ok(UserInfo { name, uid: String::new(), groups, extra: Default::default() }.with_authenticated_group())
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, OidcError> {
        let find = |set: &JwkSet| -> Option<DecodingKey> {
            let jwk = if kid.is_empty() && set.keys.len() == 1 { set.keys.first() } else { set.find(kid) }?;
            DecodingKey::from_jwk(jwk).ok()
        };
        match &self.keys {
            Keys::Fixed(set) => find(set).ok_or_else(|| OidcError::UnknownKey(kid.to_string())),
            Keys::Fetched { client, url, cached } => {
                let (found, stale) = {
                    let guard = cached.read().unwrap_or_else(|e| e.into_inner());
                    (find(&guard.0), guard.1.is_none_or(|at| at.elapsed() > Duration::from_secs(60)))
                };
                if let Some(k) = found {
                    return Ok(k);
                }
                if !stale {
                    return Err(OidcError::UnknownKey(kid.to_string()));
                }
                let fresh = fetch_jwks(client, url).await?;
                let k = find(&fresh);
                *cached.write().unwrap_or_else(|e| e.into_inner()) = (fresh, Some(Instant::now()));
                k.ok_or_else(|| OidcError::UnknownKey(kid.to_string()))
            }
        }
    }
}

/// Why an issuer's keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeySetError {
    /// The request did not get an answer.
    #[error("requesting {url}")]
    Request {
        /// URL requested.
        url: String,
        /// Why the request failed.
        source: ClientError,
    },
    /// The JWKS URL answered with a status other than 200.
    #[error("{url} answered {code}")]
    Status {
        /// The JWKS URL.
        url: String,
        /// HTTP status code of the answer.
        code: u16,
    },
    /// The JWKS URL answered with something that is not a key set.
    #[error("{url} is not a JWKS document")]
    NotJwks {
        /// The JWKS URL.
        url: String,
        /// Why the answer did not parse as a JWKS.
        source: serde_json::Error,
    },
    /// The discovery document could not be had or names no `jwks_uri`.
    #[error("{url} answered {code} without a jwks_uri")]
    NoJwksUri {
        /// URL of the discovery document.
        url: String,
        /// HTTP status code of the answer.
        code: u16,
    },
}

/// GETs `url` as JSON.
async fn get_json(client: &Client, url: &str) -> Result<(u16, serde_json::Value), KeySetError> {
    client.json("GET", url, None).await.map_err(|source| KeySetError::Request { url: url.to_string(), source })
}

/// Reads a JWKS document from `url`.
pub async fn fetch_jwks(client: &Client, url: &str) -> Result<JwkSet, KeySetError> {
    let (code, body) = get_json(client, url).await?;
    if code != 200 {
        return Err(KeySetError::Status { url: url.to_string(), code });
    }
    serde_json::from_value(body).map_err(|source| KeySetError::NotJwks { url: url.to_string(), source })
}

/// The `jwks_uri` of an issuer, from its discovery document.
pub async fn discover_jwks_uri(client: &Client, issuer: &str) -> Result<String, KeySetError> {
    let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
    let (code, doc) = get_json(client, &url).await?;
    match (code, doc["jwks_uri"].as_str()) {
        (200, Some(uri)) => Ok(uri.to_string()),
        _ => Err(KeySetError::NoJwksUri { url, code }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    /// A test issuer: an ES256 key as PKCS#8 PEM and its JWKS.
    fn issuer() -> (EncodingKey, JwkSet) {
        let pair = rcgen_pair();
        let encoding = EncodingKey::from_ec_pem(pair.0.as_bytes()).expect("key");
        (encoding, pair.1)
    }

    fn rcgen_pair() -> (String, JwkSet) {
        let key = apimachinery::auth::TokenSigner::generate_key_pem().expect("key");
        // The JWK carries the raw point: 0x04, then x and y.
        let raw = rcgen::KeyPair::from_pem(&key).expect("pair").public_key_raw().to_vec();
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let set = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "x": b64(&raw[1..33]), "y": b64(&raw[33..])}]});
        (key, serde_json::from_value(set).expect("jwks"))
    }

    fn oidc(set: JwkSet) -> Oidc {
        Oidc {
            config: OidcConfig {
                issuer: "https://idp.test".into(),
                client_id: "kcp".into(),
                username_claim: "email".into(),
                username_prefix: "oidc:".into(),
                groups_claim: Some("groups".into()),
                groups_prefix: "oidc:".into(),
            },
            keys: Keys::Fixed(set),
        }
    }

    fn token(key: &EncodingKey, claims: Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("k1".into());
        jsonwebtoken::encode(&h, &claims, key).expect("token")
    }

    fn claims(extra: Value) -> Value {
        let exp = jiff::Timestamp::now().as_second() + 600;
        let mut c = json!({"iss": "https://idp.test", "aud": "kcp", "exp": exp, "email": "ann@example.com", "email_verified": true, "groups": ["dev"]});
        for (k, v) in extra.as_object().into_iter().flatten() {
            c[k] = v.clone();
        }
        c
    }

    #[tokio::test]
    async fn tokens_map_to_prefixed_users() {
        let (key, set) = issuer();
        let o = oidc(set);
        let t = token(&key, claims(json!({})));
        assert!(o.is_mine(&t));
        let u = o.authenticate(&t).await.expect("valid");
        assert_eq!(u.name, "oidc:ann@example.com");
        assert_eq!(u.groups, ["oidc:dev", "system:authenticated"]);
        for bad in [json!({"aud": "other"}), json!({"iss": "https://evil"}), json!({"exp": 1}), json!({"email_verified": false})] {
            assert!(o.authenticate(&token(&key, claims(bad.clone()))).await.is_err(), "{bad}");
        }
        let (other, _) = issuer();
        assert!(o.authenticate(&token(&other, claims(json!({})))).await.is_err(), "foreign key");
    }

    #[tokio::test]
    async fn platform_identities_are_refused() {
        let (key, set) = issuer();
        let mut o = oidc(set);
        o.config.groups_prefix.clear();
        o.config.username_prefix.clear();
        let masters = token(&key, claims(json!({"groups": ["system:masters"]})));
        assert!(matches!(o.authenticate(&masters).await, Err(OidcError::Reserved(_))));
        let admin = token(&key, claims(json!({"email": "system:admin"})));
        assert!(matches!(o.authenticate(&admin).await, Err(OidcError::Reserved(_))));
    }
}
