//! Kubernetes API machinery shared by every kcp-rs process, without I/O.
//!
//! The object model and everything computed from it: `Status` errors, request parsing,
//! selectors, patching, structural schemas and validation, tables, protobuf decoding, OpenAPI
//! documents, the per-kind registry and RBAC rule evaluation. Nothing here touches the network,
//! the disk or an async runtime; the server side lives in the `apiserver` crate. Of workspaces
//! it knows only how a path (`root:org:team`) is written.

pub mod auth;
pub mod field;
pub mod gotypes;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod protobuf;
pub mod quota;
pub mod registry;
pub mod request;
pub mod schema;
pub mod selector;
pub mod status;
pub mod table;
pub mod uid;
pub mod validation;
