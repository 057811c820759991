//! Patching of stored objects: the four PATCH content types kube-apiserver accepts, plus the
//! managed-fields bookkeeping that server-side apply needs.
//!
//! Everything here is a pure function over `serde_json::Value`, so the REST layer owns I/O,
//! preconditions and retries, and these functions can be tested table by table.
//! - [`json_patch`]: RFC 6902 (`application/json-patch+json`);
//! - [`merge_patch`]: RFC 7386 (`application/merge-patch+json`);
//! - [`strategic_merge_patch`]: Kubernetes SMP for the built-in kinds, driven by list rules
//!   ([`ListRule`], named by each kind's strategy) instead of Go struct tags;
//! - [`apply`] and [`track_update`]: server-side apply and the `metadata.managedFields` that
//!   every write keeps, so appliers see conflicts with values other writers set.

mod apply;
mod fields;
mod json;
mod lists;
mod merge;
mod strategic;

pub use apply::{apply, managed_fields, track_update, ApplyConflicts, Conflict};
pub use json::json_patch;
pub use lists::{KindLists, ListRule, ListType};
pub use merge::merge_patch;
pub use strategic::strategic_merge_patch;

use crate::status::{ApiError, Reason};

/// The kind of patch named by a PATCH request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch.
    Json,
    /// RFC 7386 JSON merge patch.
    Merge,
    /// Kubernetes strategic merge patch (built-in kinds only).
    Strategic,
    /// Server-side apply of a YAML or JSON configuration.
    Apply,
}

impl PatchType {
    /// Maps a `Content-Type` (parameters such as `; charset=utf-8` ignored) to a patch type;
    /// `None` means the server answers 415.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        match essence.to_ascii_lowercase().as_str() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The media type string of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::Strategic => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Why a patch could not be applied; the variant decides the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The patch document itself is malformed (400 `BadRequest`).
    #[error("{0}")]
    BadRequest(String),
    /// The patch is well-formed but cannot be applied to this object (422 `Invalid`).
    #[error("{0}")]
    Unprocessable(String),
}

impl From<PatchError> for ApiError {
    fn from(e: PatchError) -> Self {
        match e {
            PatchError::BadRequest(m) => ApiError::bad_request(m),
            PatchError::Unprocessable(m) => ApiError::new(Reason::Invalid, m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let cases = [
            ("application/json-patch+json", Some(PatchType::Json)),
            ("application/merge-patch+json", Some(PatchType::Merge)),
            ("application/strategic-merge-patch+json", Some(PatchType::Strategic)),
            ("application/apply-patch+yaml", Some(PatchType::Apply)),
            ("application/merge-patch+json; charset=utf-8", Some(PatchType::Merge)),
            ("application/apply-patch+cbor", None),
            ("application/json", None),
            ("", None),
        ];
        for (ct, want) in cases {
            assert_eq!(PatchType::from_content_type(ct), want, "{ct}");
            if let Some(t) = want {
                assert_eq!(PatchType::from_content_type(t.content_type()), want);
            }
        }
    }

    #[test]
    fn errors_map_to_status_codes() {
        let bad: ApiError = PatchError::BadRequest("invalid JSON document".into()).into();
        assert_eq!((bad.code(), bad.message.as_str()), (400, "invalid JSON document"));
        let invalid: ApiError = PatchError::Unprocessable("unable to apply patch: x".into()).into();
        assert_eq!((invalid.code(), invalid.reason), (422, Reason::Invalid));
    }
}
