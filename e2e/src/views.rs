//! Fixtures for the lifecycle virtual workspaces: a WorkspaceType's published view, and a
//! service account granted a verb on the type.

use std::time::Duration;

use crate::{eventually, Install};

/// Creates the WorkspaceType `manifest` (named `name`) in root and waits until it publishes the
/// URL of its view of `kind` (`initializing`, `terminating`) on the first shard.
pub fn type_view_url(k: &Install, manifest: &str, name: &str, kind: &str) -> String {
    k.kubectl_stdin(&["create", "-f", "-"], Some(manifest)).ok();
    let path = format!("jsonpath={{.status.virtualWorkspaces[?(@.type==\"{kind}\")].url}}");
    eventually("the type to publish its view", Duration::from_secs(10), || {
        let r = k.kubectl(&["get", "workspacetype", name, "-o", &path]);
        r.stdout.split_whitespace().next().map(String::from)
    })
}

/// A ClusterRole named `<type>-<verb>` granting `verb` on WorkspaceType `type_name`.
pub fn type_role(type_name: &str, verb: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {type_name}-{verb}}}\nrules:\n- {{apiGroups: [tenancy.kcp.io], resources: [workspacetypes], resourceNames: [{type_name}], verbs: [{verb}]}}\n"
    )
}

/// Creates service account `sa` in root's `default` namespace and returns a token for it.
pub fn service_account_token(k: &Install, sa: &str) -> String {
    k.kubectl(&["create", "serviceaccount", sa]).ok();
    k.kubectl(&["create", "token", sa]).ok().trim().to_string()
}

/// Grants root's service account `sa` verb `verb` on WorkspaceType `type_name`.
pub fn grant_on_type(k: &Install, sa: &str, type_name: &str, verb: &str) {
    let role = format!("{type_name}-{verb}");
    k.kubectl_stdin(&["create", "-f", "-"], Some(&type_role(type_name, verb))).ok();
    k.kubectl(&["create", "clusterrolebinding", &role, &format!("--clusterrole={role}"), &format!("--serviceaccount=default:{sa}")]).ok();
}
