//! The in-flight limit: too many concurrent short requests get 429 with `Retry-After`.
//! Watches are long-running and exempt, as in kube-apiserver.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::phase::{Outcome, Phase, Req};
use apimachinery::request::{RequestInfo, Verb};
use apimachinery::status::ApiError;

/// How long clients are told to wait after a 429.
const RETRY_AFTER_SECS: u32 = 1;

/// The limit phase; the permit rides in the request's extensions until the request is done.
pub struct InflightLimit {
    slots: Arc<Semaphore>,
}

impl InflightLimit {
    /// At most `max` concurrent non-watch requests.
    pub fn new(max: usize) -> Self {
        InflightLimit { slots: Arc::new(Semaphore::new(max)) }
    }
}

/// Held while a request is in flight; dropping it frees the slot.
#[derive(Clone)]
pub struct Permit {
    _slot: Arc<OwnedSemaphorePermit>,
}

impl Phase for InflightLimit {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            if req.extensions().get::<RequestInfo>().is_some_and(|i| i.verb == Verb::Watch) {
                return Ok(Outcome::Next);
            }
            let permit = self.slots.clone().try_acquire_owned().map_err(|_| ApiError::too_many_requests(RETRY_AFTER_SECS))?;
            req.extensions_mut().insert(Permit { _slot: Arc::new(permit) });
            Ok(Outcome::Next)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn request(verb: &str) -> Req {
        let mut r = http::Request::new(http_body_util::Empty::new().map_err(|e| match e {}).boxed_unsync());
        let info =
            RequestInfo::parse(&http::Method::GET, "/clusters/root/api/v1/namespaces/d/configmaps", Some(if verb == "watch" { "watch=true" } else { "" }))
                .expect("parses");
        r.extensions_mut().insert(info);
        r
    }

    #[tokio::test]
    async fn rejects_beyond_the_limit_but_not_watches() {
        let limit = InflightLimit::new(1);
        let mut first = request("list");
        assert!(matches!(limit.run(&mut first).await, Ok(Outcome::Next)));
        let mut second = request("list");
        let err = limit.run(&mut second).await.err().expect("429");
        assert_eq!(err.code(), 429);
        assert_eq!(err.retry_after, Some(1));
        assert!(matches!(limit.run(&mut request("watch")).await, Ok(Outcome::Next)));
        drop(first);
        assert!(matches!(limit.run(&mut request("list")).await, Ok(Outcome::Next)));
    }
}
