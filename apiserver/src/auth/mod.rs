//! Authentication and authorization at run time: the authenticators that turn credentials into
//! a user, and the authorizer chain that decides what that user may do in a logical cluster.
//! The rules themselves (RBAC evaluation, token formats) are pure and live in `apimachinery`.

pub mod authn;
pub mod authz;
