//! `authorization.k8s.io/v1`: access reviews, computed per request and never stored.

pub mod localsubjectaccessreview;
pub mod selfsubjectaccessreview;
pub mod selfsubjectrulesreview;
pub mod subjectaccessreview;

pub use localsubjectaccessreview::LocalSubjectAccessReview;
pub use selfsubjectaccessreview::SelfSubjectAccessReview;
pub use selfsubjectrulesreview::SelfSubjectRulesReview;
pub use subjectaccessreview::SubjectAccessReview;
