//! Virtual workspaces: Kubernetes-shaped endpoints under `/services/` that are computed from
//! many logical clusters instead of being one. Each is a request phase the shard runs after
//! authentication, answering its own URL space with its own authorization, and writing through
//! the shard's REST handlers so validation, defaulting and admission apply as usual. It is not
//! a proxy: a shard serves the view of its own logical clusters only.

pub mod apiexport;
