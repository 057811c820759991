//! The embedded cache's read-only view on the shard's own port, at kcp's
//! `/services/cache/shards/<shard|*>/clusters/<cluster|*>/...`, for `system:masters` only (as
//! a standalone `kcp-cache-server` serves it).

use apimachinery::auth::UserInfo;
use apimachinery::status::{ApiError, Reason};
use apiserver::server::phase::{Outcome, Phase, Req};
use cache_server::Replica;
use futures::future::BoxFuture;

/// Where the view is served.
pub const PREFIX: &str = "/services/cache/";

/// The request phase answering the embedded cache's REST view.
pub struct CacheView {
    /// The replica this shard runs in its own process.
    pub replica: Replica,
    /// Ends watches when the shard stops.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl Phase for CacheView {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            if !req.uri().path().starts_with(PREFIX) {
                return Ok(Outcome::Next);
            }
            match req.extensions().get::<UserInfo>() {
                Some(user) if user.is_masters() => {}
                Some(user) => return Err(ApiError::new(Reason::Forbidden, format!("user \"{}\" cannot read the cache: only system:masters may", user.name))),
                None => return Err(ApiError::unauthorized()),
            }
            Ok(Outcome::Respond(cache_server::rest::answer(&self.replica, req.method(), req.uri(), self.shutdown.clone())))
        })
    }
}
