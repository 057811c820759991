//! The `kcp` command line: `kcp start` runs a complete single-process install (a shard with
//! generated certificates and an admin kubeconfig); `kcp pki` writes the PKI of a sharded
//! install; `kcp storage migrate` copies a shard from sled to etcd; `kubectl-ws` is the kubectl
//! plugin for workspaces and `kubectl-kcp` the one with kcp's other subcommands (`bind
//! apiexport`), sharing the kubeconfig and client code.

pub mod audit;
pub mod bind;
pub mod kubeconfig;
pub mod kubectl_kcp;
pub mod migrate;
pub mod pki;
pub mod plugin;
pub mod start;
pub mod ws;
