//! kcp-rs's cache server: in-memory replicas of the objects every shard must see.
//!
//! Shards publish their replicated objects to every replica over gRPC (a snapshot per
//! connection, then changes); readers subscribe to any replica with a revision vector and fail
//! over between replicas. A read-only REST view serves the same objects in kcp's URL shape.
//! Replicas keep nothing on disk: they are a pure function of what shards publish. The client
//! side ([`client`]) is what shards use, against remote replicas or one in the same process.

pub mod client;
pub mod config;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod replica;
pub mod rest;
pub mod server;
pub mod store;

pub use config::{CacheConfig, CacheFile, CacheFlags};
pub use error::CacheError;
pub use replica::Replica;
pub use server::run;
