//! The `kcp` command line: `kcp start` runs a complete single-process install (a shard with
//! generated certificates and an admin kubeconfig).

pub mod kubeconfig;
pub mod start;
