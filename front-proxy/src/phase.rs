//! The phases of a proxied request and the one error they fail with. Each failure records the
//! phase it happened in (for logs) and becomes the Kubernetes `Status` answer in exactly one
//! place, [`From<ProxyRequestError> for ApiError`](ProxyRequestError), so the wire answers stay
//! what clients and the e2e tests expect whichever phase produced them.

use apimachinery::status::{ApiError, Reason};

/// The steps of a request through the proxy, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Who is calling (401 for invalid or absent credentials).
    Authenticate,
    /// Which shard and logical cluster the path belongs to.
    Resolve,
    /// The request the shard receives: target URL, identity headers, body limit.
    Rewrite,
    /// Sending it to the shard.
    Forward,
    /// Relaying the shard's answer.
    Finish,
}

impl Phase {
    /// Tags a failure with this phase, for `map_err`.
    pub fn failed(self) -> impl FnOnce(Failure) -> ProxyRequestError {
        move |kind| ProxyRequestError { phase: self, kind }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Authenticate => "authenticate",
            Phase::Resolve => "resolve",
            Phase::Rewrite => "rewrite",
            Phase::Forward => "forward",
            Phase::Finish => "finish",
        })
    }
}

/// What went wrong; the causes stay in `source()` so logs get the whole chain.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Credentials were invalid, or absent (anonymous requests are off).
    #[error("unauthorized")]
    Unauthorized,
    /// `/clusters/*/...` is for system identities talking to a shard directly.
    #[error("request across all workspaces")]
    AcrossWorkspaces,
    /// A cluster segment no workspace can have.
    #[error("invalid workspace name")]
    InvalidName,
    /// The routing index has not seen the root shard yet.
    #[error("the root shard is not known yet")]
    RootShardUnknown,
    /// The declared body is above the limit.
    #[error("request body over {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The rewritten URL is not a URL (a path the client wrote that no URI can carry).
    #[error("cannot forward to {target}")]
    BadTarget {
        /// The URL the request would have gone to.
        target: String,
        /// Why it does not parse.
        source: http::uri::InvalidUri,
    },
    /// The shard could not be reached or did not answer.
    #[error("shard {shard:?} unreachable")]
    Unreachable {
        /// The shard's name.
        shard: String,
        /// The connection or protocol failure.
        source: apiserver::client::ClientError,
    },
    /// The shard's (small, buffered) answer broke off.
    #[error("reading the answer of shard {shard:?}")]
    ReadingAnswer {
        /// The shard's name.
        shard: String,
        /// The body failure.
        source: hyper::Error,
    },
}

/// A request that failed, and the phase it failed in.
#[derive(Debug, thiserror::Error)]
#[error("{phase} phase")]
pub struct ProxyRequestError {
    /// Where the request stopped.
    pub phase: Phase,
    /// Why.
    #[source]
    pub kind: Failure,
}

impl From<ProxyRequestError> for ApiError {
    fn from(e: ProxyRequestError) -> ApiError {
        match e.kind {
            Failure::Unauthorized => ApiError::unauthorized(),
            Failure::AcrossWorkspaces => ApiError::new(Reason::Forbidden, "forbidden: requests across all workspaces are not served through the front-proxy"),
            // The same answer as a shard's for a workspace the caller may not access: an
            // invalid name says nothing about what exists.
            Failure::InvalidName => ApiError::new(Reason::Forbidden, "forbidden: workspace access not permitted"),
            Failure::RootShardUnknown => ApiError::unavailable("the root shard is not known yet"),
            Failure::TooLarge { limit } => ApiError::too_large(limit),
            Failure::BadTarget { target, source } => ApiError::bad_request(format!("cannot forward to {target}: {source}")),
            // Internal causes stay in the log; the client learns which shard, not why.
            Failure::Unreachable { shard, .. } => ApiError::unavailable(format!("the shard {shard:?} hosting this workspace is unavailable")),
            Failure::ReadingAnswer { shard, source } => ApiError::unavailable(format!("reading the answer of shard {shard:?}: {source}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_keep_their_phase_and_answer_as_before() {
        let e = Phase::Resolve.failed()(Failure::InvalidName);
        assert_eq!(apiserver::process::report(&e), "resolve phase: invalid workspace name");
        let answer = ApiError::from(e);
        assert_eq!((answer.reason, answer.message.as_str()), (Reason::Forbidden, "forbidden: workspace access not permitted"));
        let answer = ApiError::from(Phase::Authenticate.failed()(Failure::Unauthorized));
        assert_eq!((answer.reason, answer.message.as_str()), (Reason::Unauthorized, "Unauthorized"));
        let answer = ApiError::from(Phase::Rewrite.failed()(Failure::TooLarge { limit: 10 }));
        assert_eq!(answer.message, "Request entity too large: limit is 10");
    }
}
