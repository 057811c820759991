//! `authorization.k8s.io/v1` SubjectAccessReview: may this user do this, across the logical cluster.

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;

const DEFINITION: Definition = Definition::review("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", false);

/// The SubjectAccessReview strategy.
pub struct SubjectAccessReview;

impl Strategy for SubjectAccessReview {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::review::subject_access_review))
    }
}
