//! Authentication of a request: client certificate or bearer token, else 401.

use crate::auth::{self, TokenFile, UserInfo};

/// The configured authenticators.
#[derive(Default)]
pub struct Authenticator {
    pub tokens: Option<TokenFile>,
}

impl Authenticator {
    /// Identifies the caller from the TLS client certificate subject or the Authorization header.
    pub fn authenticate(&self, authorization: Option<&str>, peer_subject: Option<&(String, Vec<String>)>) -> Option<UserInfo> {
        if let Some(token) = auth::bearer_token(authorization) {
            // A presented token that does not authenticate is a failure, not a fallback.
            return self.authenticate_token(token);
        }
        peer_subject.map(|(cn, orgs)| auth::user_from_certificate(cn.clone(), orgs.clone()))
    }

    /// Identifies a bearer token (TokenReview uses this too).
    pub fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        self.tokens.as_ref().and_then(|t| t.authenticate(token))
    }
}
