//! The `kcp` command line: `kcp start` runs a complete single-process install (a shard with
//! generated certificates and an admin kubeconfig); `kcp pki` writes the PKI of a sharded
//! install; `kcp storage migrate` copies a shard from sled to etcd; `kubectl-ws` is the kubectl
//! plugin for workspaces.

pub mod kubeconfig;
pub mod migrate;
pub mod pki;
pub mod start;
pub mod ws;
