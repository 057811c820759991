//! Kubernetes API machinery shared by every kcp-rs process.
//!
//! The bottom layers (status, validation, selectors, patching, schemas, tables) are pure and
//! do no I/O; storage, auth and the REST server build on them. Of workspaces it knows only how
//! a path (`root:org:team`) resolves to a logical cluster; their lifecycle, like everything
//! about shards, lives in the binaries' crates.

pub mod auth;
pub mod client;
pub mod openapi;
pub mod patch;
pub mod pki;
pub mod protobuf;
pub mod registry;
pub mod request;
pub mod rest;
pub mod schema;
pub mod selector;
pub mod server;
pub mod status;
pub mod storage;
pub mod table;
pub mod validation;
