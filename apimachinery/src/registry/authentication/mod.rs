//! `authentication.k8s.io/v1`: identity reviews and service-account token requests, computed
//! per request and never stored.

pub mod selfsubjectreview;
pub mod tokenrequest;
pub mod tokenreview;

pub use selfsubjectreview::SelfSubjectReview;
pub use tokenrequest::TokenRequest;
pub use tokenreview::TokenReview;
