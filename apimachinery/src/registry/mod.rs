//! What a logical cluster serves: one [`Strategy`] per kind, built in or from a CRD.
//!
//! Discovery, OpenAPI, Table printing, request routing, validation, field selectors, patching
//! and protobuf decoding all read a kind's strategy, so adding a resource means adding one file
//! under `registry/<group>/` and one line in [`builtin`]. The modules below this one (table,
//! selector, patch, protobuf, validation) are libraries the strategies call; none of them
//! knows any kind.

use serde_json::Value;

pub use crate::table::Column;
pub use strategy::{ConversionError, Definition, Strategy};

/// The description of one served resource in one version.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    /// API group (empty for the core group).
    pub group: String,
    /// API version (`v1`).
    pub version: String,
    /// Kind of the objects (`ConfigMap`).
    pub kind: String,
    /// Kind of a list of them (`ConfigMapList`).
    pub list_kind: String,
    /// Plural resource name used in URLs.
    pub plural: String,
    /// Singular resource name, lowercase (`configmap`).
    pub singular: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names kubectl accepts (`cm`).
    pub short_names: Vec<String>,
    /// Categories the resource belongs to (`all`).
    pub categories: Vec<String>,
    /// Verbs served, as discovery lists them.
    pub verbs: Vec<String>,
    /// Subresources served (`status`).
    pub subresources: Vec<String>,
    /// Printer columns after `Name`; empty means the generic `Created At`.
    pub columns: Vec<Column>,
    /// OpenAPI v3 schema of the kind (CRDs); built-ins take theirs from k8s-openapi.
    pub schema: Option<Value>,
    /// True for CRD-backed resources: no strategic merge patch, schema-driven validation.
    pub custom: bool,
    /// Whether objects are stored or computed per request.
    pub backing: builtin::Backing,
    /// The identity hash of the APIExport a binding serves this resource from; its objects are
    /// stored apart from those of any other export of the same group and resource.
    pub identity: Option<String>,
}

impl ResourceInfo {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The resource as storage keys and wildcard requests spell it: the plural, followed by
    /// `:<identity hash>` for a resource bound from an export.
    pub fn storage_resource(&self) -> String {
        storage_resource(&self.plural, self.identity.as_deref())
    }
}

/// A resource as storage keys and wildcard requests spell it: `plural`, followed by
/// `:<identity hash>` when it is bound from an export with that identity.
pub fn storage_resource(plural: &str, identity: Option<&str>) -> String {
    match identity.filter(|i| !i.is_empty()) {
        Some(identity) => format!("{plural}:{identity}"),
        None => plural.to_string(),
    }
}

/// A resolved kind's strategy: a built-in's static one, or one built from a CRD version.
#[derive(Debug, Clone)]
pub enum StrategyRef {
    /// A built-in kind's strategy from [`builtin`].
    Builtin(&'static dyn Strategy),
    /// The strategy of one served CRD version.
    Custom(std::sync::Arc<crd::CustomResource>),
}

impl StrategyRef {
    /// The strategy of a CRD-served resource.
    pub fn custom(info: ResourceInfo) -> Self {
        StrategyRef::Custom(std::sync::Arc::new(crd::CustomResource::new(info)))
    }
}

impl std::ops::Deref for StrategyRef {
    type Target = dyn Strategy;

    fn deref(&self) -> &Self::Target {
        match self {
            StrategyRef::Builtin(s) => *s,
            StrategyRef::Custom(s) => s.as_ref(),
        }
    }
}

/// Decodes a Kubernetes protobuf request body with the converter of the kind it names.
pub fn decode_protobuf(body: &[u8]) -> Result<Value, crate::protobuf::ProtoError> {
    crate::protobuf::decode(body, |api_version, kind, raw| builtin::by_kind(api_version, kind)?.decode_protobuf(raw))
}

pub mod apiextensions;
pub mod apis;
pub mod authentication;
pub mod authorization;
pub mod builtin;
pub mod coordination;
pub mod core;
pub mod crd;
pub mod events;
pub mod kcpcore;
#[cfg(test)]
mod protobuf_tests;
pub mod rbac;
pub mod strategy;
pub mod tenancy;
#[cfg(test)]
mod tests;
