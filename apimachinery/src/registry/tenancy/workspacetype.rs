//! `tenancy.kcp.io/v1alpha1` WorkspaceType: what a workspace of that type starts with.

use super::GROUP;
use crate::registry::strategy::{Definition, Strategy};
use crate::registry::ResourceInfo;

const DEFINITION: Definition = Definition { subresources: &["status"], ..Definition::stored(GROUP, "v1alpha1", "WorkspaceType", "workspacetypes", false) };

/// The WorkspaceType strategy.
pub struct WorkspaceType;

impl Strategy for WorkspaceType {
    fn info(&self) -> ResourceInfo {
        DEFINITION.info()
    }
}
