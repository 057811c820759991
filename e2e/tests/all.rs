//! The e2e suite: one binary, a module per area. Each test starts the real `kcp` binary and
//! drives it with the installed kubectl (or the official Python client) over TLS.

mod apibinding;
mod apis;
mod apis_identity;
mod audit;
mod bad_input;
mod binding;
mod cache;
mod cache_server;
mod connections;
mod crd;
mod deploy;
mod discovery;
mod durability;
mod etcd;
mod fairness;
mod isolation;
mod kube_controller;
mod kubectl_kcp;
mod kubectl_versions;
mod metrics;
mod objects;
mod ops;
mod prometheus;
mod python_client;
mod refusals;
mod sharding;
mod smoke;
mod virtual_apiexport;
mod virtual_initializing;
mod virtual_merged;
mod virtual_terminating;
mod watch;
mod workspaces;
