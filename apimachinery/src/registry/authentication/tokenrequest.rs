//! `authentication.k8s.io/v1` TokenRequest: the body of `serviceaccounts/<name>/token`
//! (`kubectl create token`); a subresource's kind, not a resource of its own.

use crate::protobuf::{self, Fields};
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;

const DEFINITION: Definition = Definition::review("authentication.k8s.io", "TokenRequest", "token", true);

/// The TokenRequest strategy.
pub struct TokenRequest;

impl Strategy for TokenRequest {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }

    fn decode_protobuf(&self, raw: &[u8]) -> Option<Fields> {
        Some(protobuf::message(DEFINITION.kind, raw, protobuf::review::token_request))
    }
}
