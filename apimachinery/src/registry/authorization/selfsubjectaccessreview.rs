//! `authorization.k8s.io/v1` SelfSubjectAccessReview: may I do this? (`kubectl auth can-i`), answered from the caller's own grants.

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;

const DEFINITION: Definition = Definition::review("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false);

/// The SelfSubjectAccessReview strategy.
pub struct SelfSubjectAccessReview;

impl Strategy for SelfSubjectAccessReview {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::review::self_subject_access_review))
    }
}
