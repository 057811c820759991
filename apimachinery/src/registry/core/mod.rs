//! The core group (`v1`): namespaces and the namespaced basics every workspace serves.

pub mod configmap;
pub mod event;
pub mod limitrange;
pub mod namespace;
pub mod resourcequota;
pub mod secret;
pub mod serviceaccount;

pub use configmap::ConfigMap;
pub use event::Event;
pub use limitrange::LimitRange;
pub use namespace::Namespace;
pub use resourcequota::ResourceQuota;
pub use secret::Secret;
pub use serviceaccount::ServiceAccount;
