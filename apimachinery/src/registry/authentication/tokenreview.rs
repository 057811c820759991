//! `authentication.k8s.io/v1` TokenReview: is this bearer token valid, and whose is it.

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;

const DEFINITION: Definition = Definition::review("authentication.k8s.io", "TokenReview", "tokenreviews", false);

/// The TokenReview strategy.
pub struct TokenReview;

impl Strategy for TokenReview {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::review::token_review))
    }
}
