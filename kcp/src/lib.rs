//! The `kcp` command line: `kcp start` runs a complete single-process install (a shard with
//! generated certificates and an admin kubeconfig); `kubectl-ws` is the kubectl plugin for
//! workspaces.

pub mod kubeconfig;
pub mod start;
pub mod ws;
