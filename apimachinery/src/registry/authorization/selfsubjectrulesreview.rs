//! `authorization.k8s.io/v1` SelfSubjectRulesReview: what may I do in a namespace (`kubectl auth can-i --list`).

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;

const DEFINITION: Definition = Definition::review("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false);

/// The SelfSubjectRulesReview strategy.
pub struct SelfSubjectRulesReview;

impl Strategy for SelfSubjectRulesReview {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::review::self_subject_rules_review))
    }
}
