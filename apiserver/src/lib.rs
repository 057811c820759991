//! The server side of kcp-rs's Kubernetes API machinery: everything that does I/O.
//!
//! Storage (the trait and its sled backend), the generic REST handlers, the tower request
//! stack with authentication and authorization at run time, discovery, PKI and TLS, the HTTPS
//! client, the controller runtime, and the process helpers every binary shares. The pure model it serves comes from
//! `apimachinery`; what is specific to kcp's tenancy lives in the binaries' crates.

pub mod audit;
pub mod auth;
pub mod client;
pub mod config;
pub mod controller;
pub mod pki;
pub mod process;
pub mod rest;
pub mod server;
pub mod storage;
