//! `coordination.k8s.io/v1`: leases for leader election.

pub mod lease;

pub use lease::Lease;
