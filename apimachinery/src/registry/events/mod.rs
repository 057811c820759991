//! `events.k8s.io/v1`: the newer Event API over the same objects' shape as core events.

pub mod event;

pub use event::Event;
