//! `authentication.k8s.io/v1` SelfSubjectReview: who am I (`kubectl auth whoami`).

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;

const DEFINITION: Definition = Definition::review("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", false);

/// The SelfSubjectReview strategy.
pub struct SelfSubjectReview;

impl Strategy for SelfSubjectReview {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::review::self_subject_review))
    }
}
