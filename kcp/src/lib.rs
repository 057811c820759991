//! The `kcp` command line: `kcp start` runs a complete single-process install (a shard with
//! generated certificates and an admin kubeconfig); `kcp pki` writes the PKI of a sharded
//! install; `kubectl-ws` is the kubectl plugin for workspaces, built on the kubeconfig and
//! client code in `plugin`.

pub mod kubeconfig;
pub mod pki;
pub mod plugin;
pub mod start;
pub mod ws;
