//! The `.proto` contracts of kcp-rs's internal gRPC APIs and their generated tonic/prost code.
//!
//! Only types and stubs live here: the cache server, its client library and the etcd storage
//! backend give them meaning.

/// Cache replication: shards publish to replicas, readers subscribe (`kcp.cache.v1`).
pub mod cache {
    #![allow(missing_docs)]
    tonic::include_proto!("kcp.cache.v1");
}

/// The subset of etcd's v3 API the etcd storage backend uses (`etcdserverpb`).
pub mod etcd {
    #![allow(missing_docs)]
    tonic::include_proto!("etcdserverpb");
}
