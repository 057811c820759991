//! `rbac.authorization.k8s.io/v1`: roles and bindings, with the printer both bindings share.
//! Escalation checks read the caller's grants, so they are admission, not strategy.

pub mod clusterrole;
pub mod clusterrolebinding;
pub mod role;
pub mod rolebinding;

pub use clusterrole::ClusterRole;
pub use clusterrolebinding::ClusterRoleBinding;
pub use role::Role;
pub use rolebinding::RoleBinding;

use k8s_openapi::api::rbac::v1 as api;
use serde_json::Value;

use crate::table::cell::{age_column, column, doc, row_with_age, text};
use crate::table::{name_column, Column, Row};

/// The group of every RBAC kind.
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// The columns of a binding; `what` names it in the subject columns' descriptions.
fn binding_columns(what: &str) -> Vec<Column> {
    vec![
        name_column(),
        column("Role", "string", doc::<api::RoleBinding>("roleRef"), 0),
        age_column(),
        column("Users", "string", format!("Users in the {what}"), 1),
        column("Groups", "string", format!("Groups in the {what}"), 1),
        column("ServiceAccounts", "string", format!("ServiceAccounts in the {what}"), 1),
    ]
}

/// A binding's row: its role and kube's `SubjectsStrings`.
fn binding_row(obj: &Value, now: jiff::Timestamp) -> Row {
    let role = format!("{}/{}", text(obj, &["roleRef", "kind"]), text(obj, &["roleRef", "name"]));
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in obj.get("subjects").and_then(Value::as_array).into_iter().flatten() {
        let name = text(subject, &["name"]);
        match text(subject, &["kind"]) {
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            "ServiceAccount" => sas.push(format!("{}/{name}", text(subject, &["namespace"]))),
            _ => {}
        }
    }
    row_with_age(
        obj,
        now,
        vec![("Role", role.into()), ("Users", users.join(", ").into()), ("Groups", groups.join(", ").into()), ("ServiceAccounts", sas.join(", ").into())],
    )
}
