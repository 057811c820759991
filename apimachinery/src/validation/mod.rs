//! Kubernetes' validation rules, with kube-apiserver's exact messages.
//!
//! Messages are what users grep and what `kubectl` prints verbatim, so the string helpers here
//! reproduce `k8s.io/apimachinery/pkg/util/validation` word for word. The layers above them:
//! [`meta`] checks `metadata` (the same for every kind); [`core`], [`rbac`] and [`kcp`] hold the
//! body rules that the kinds' strategies call, and [`secret`] folds `stringData` before
//! validation. Checking metadata and body separately lets the generic create/update path own
//! metadata rules once for all kinds, CRDs included, while a strategy only knows what is
//! specific to its kind.

pub mod core;
pub mod kcp;
mod meta;
mod names;
pub mod rbac;
mod secret;

pub use meta::{validate_label_selector, validate_object_meta, NameRule};
pub use names::{
    is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_label_value, is_valid_path_segment_name, quantity_errors,
};
pub use secret::normalize_secret;

use serde_json::Value;

/// `obj[key]` as a string, treating absent and non-string alike (kube's zero value).
fn str_at<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `obj[key]` as a map, treating absent and `null` as empty (Go's nil map).
fn map_at<'a>(obj: &'a Value, key: &str) -> Option<&'a serde_json::Map<String, Value>> {
    obj.get(key).and_then(Value::as_object)
}

/// `obj[key]` as an array of values, treating absent and `null` as empty.
fn list_at<'a>(obj: &'a Value, key: &str) -> &'a [Value] {
    obj.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// Field errors as the text users see, for tests.
#[cfg(test)]
fn messages(errs: &[crate::status::FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}
