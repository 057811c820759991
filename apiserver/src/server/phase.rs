//! The building block of the request path: a [`Phase`] inspects or enriches a request (typed
//! values go into its extensions), answers it itself, or rejects it with an [`ApiError`].
//! [`PhaseLayer`] turns a phase into a tower layer, so `stack.rs` composes the path with
//! `ServiceBuilder` and each phase stays a small piece with its own tests.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::combinators::UnsyncBoxBody;
use tower::{Layer, Service, ServiceExt};

use crate::rest::body::{self, Response};
use apimachinery::status::ApiError;

/// Request body inside the stack (still streaming; only the endpoint reads it, bounded). The
/// error is hyper's concrete type: a boxed `dyn Error` here trips higher-ranked lifetime
/// inference in the connection future.
pub type ReqBody = UnsyncBoxBody<Bytes, hyper::Error>;
/// A request inside the stack.
pub type Req = http::Request<ReqBody>;

/// A request body with nothing in it.
pub fn empty_body() -> ReqBody {
    use http_body_util::BodyExt;
    http_body_util::Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync()
}

/// A bodiless request to `uri`, parsed as `Handler::call` parses it, for phases' unit tests.
#[cfg(test)]
pub(crate) fn parsed(method: http::Method, uri: &str) -> Req {
    let mut req = http::Request::builder().method(method).uri(uri).body(empty_body()).expect("request");
    let info = apimachinery::request::RequestInfo::parse(req.method(), req.uri().path(), req.uri().query()).expect("parsed");
    req.extensions_mut().insert(info);
    req
}

/// What a phase decided.
pub enum Outcome {
    /// Pass the request on.
    Next,
    /// Answer it here.
    Respond(Response),
}

/// One step of the request path.
pub trait Phase: Send + Sync + 'static {
    /// Runs the step; errors become the response's `Status`.
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>>;
}

/// Phases a binary adds to the path (for example home workspaces in the shard), run in order
/// until one answers.
#[derive(Clone, Default)]
pub struct Phases(pub Vec<Arc<dyn Phase>>);

impl Phase for Phases {
    fn run<'a>(&'a self, req: &'a mut Req) -> BoxFuture<'a, Result<Outcome, ApiError>> {
        Box::pin(async move {
            for phase in &self.0 {
                if let Outcome::Respond(r) = phase.run(req).await? {
                    return Ok(Outcome::Respond(r));
                }
            }
            Ok(Outcome::Next)
        })
    }
}

/// A tower layer running a phase before the inner service.
pub struct PhaseLayer<P>(Arc<P>);

impl<P> PhaseLayer<P> {
    /// Wraps a phase.
    pub fn new(phase: P) -> Self {
        PhaseLayer(Arc::new(phase))
    }
}

impl<S, P> Layer<S> for PhaseLayer<P> {
    type Service = PhaseService<S, P>;
    fn layer(&self, inner: S) -> Self::Service {
        PhaseService { inner, phase: self.0.clone() }
    }
}

/// The service a [`PhaseLayer`] produces.
pub struct PhaseService<S, P> {
    inner: S,
    phase: Arc<P>,
}

impl<S: Clone, P> Clone for PhaseService<S, P> {
    fn clone(&self) -> Self {
        PhaseService { inner: self.inner.clone(), phase: self.phase.clone() }
    }
}

impl<S, P> Service<Req> for PhaseService<S, P>
where
    S: Service<Req, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
    P: Phase,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Readiness of the inner service is awaited per call (oneshot) on a clone.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Req) -> Self::Future {
        let (inner, phase) = (self.inner.clone(), self.phase.clone());
        Box::pin(async move {
            let outcome = phase.run(&mut req).await;
            if !matches!(outcome, Ok(Outcome::Next)) {
                // The request ends here: its audit event describes it as it stands now.
                crate::audit::Trail::observe(&req);
            }
            match outcome {
                Ok(Outcome::Next) => inner.oneshot(req).await,
                Ok(Outcome::Respond(r)) => Ok(r),
                Err(e) => Ok(body::error(&e)),
            }
        })
    }
}
