//! `apiextensions.k8s.io/v1`: CustomResourceDefinitions, which add kinds served by
//! [`crate::registry::crd`].

pub mod customresourcedefinition;

pub use customresourcedefinition::CustomResourceDefinition;
