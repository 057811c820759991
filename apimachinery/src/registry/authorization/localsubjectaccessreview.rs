//! `authorization.k8s.io/v1` LocalSubjectAccessReview: a SubjectAccessReview confined to one namespace.

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;

const DEFINITION: Definition = Definition::review("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", true);

/// The LocalSubjectAccessReview strategy.
pub struct LocalSubjectAccessReview;

impl Strategy for LocalSubjectAccessReview {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::review::local_subject_access_review))
    }
}
