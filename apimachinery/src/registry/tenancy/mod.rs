//! `tenancy.kcp.io/v1alpha1`: Workspaces and the WorkspaceTypes that shape them.

pub mod workspace;
pub mod workspacetype;

pub use workspace::Workspace;
pub use workspacetype::WorkspaceType;

/// The group of kcp's tenancy kinds.
pub const GROUP: &str = "tenancy.kcp.io";
