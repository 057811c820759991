//! `core.kcp.io/v1alpha1`: the LogicalCluster behind each workspace and the Shards hosting them.

pub mod logicalcluster;
pub mod shard;

pub use logicalcluster::LogicalCluster;
pub use shard::Shard;

/// The group of kcp's core kinds.
pub const GROUP: &str = "core.kcp.io";
