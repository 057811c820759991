//! The initializingworkspaces virtual workspace on `kcp start`, as an initializer controller
//! meets it with kubectl: the URL its WorkspaceType publishes lists and watches the workspaces
//! waiting for it, lets it work inside them as their creator, and lets it go by removing
//! itself, nothing more; only callers granted `initialize` on the type get in.

use std::time::Duration;

use e2e::views::{grant_on_type, service_account_token, type_view_url};
use e2e::{eventually, Install};

const GATED: &str = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata:\n  name: gated\nspec:\n  initializer: true\n";
const HELD: &str = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: held\nspec:\n  type:\n    name: gated\n";

#[test]
fn an_initializer_sees_works_in_and_releases_its_workspaces() {
    let k = Install::start();
    let url = type_view_url(&k, GATED, "gated", "initializing");
    assert!(url.ends_with("/services/initializingworkspaces/root:gated"), "{url}");
    let all = format!("{url}/clusters/*");

    // The initializer's controller runs as a service account of the type's workspace, and
    // gets in only with verb initialize on the type.
    let token = service_account_token(&k, "initializer");
    let as_initializer = |args: &[&str]| k.kubectl_token(&token, "", args);
    let denied = as_initializer(&["--server", &all, "get", "logicalclusters", "-o", "name"]);
    assert!(denied.fails().contains("Forbidden"), "{}", denied.stderr);
    grant_on_type(&k, "initializer", "gated", "initialize");
    eventually("the grant to apply", Duration::from_secs(10), || {
        (as_initializer(&["--server", &all, "get", "logicalclusters", "-o", "name"]).code == 0).then_some(())
    });

    // The admin watches too (system:masters passes every check).
    let watch = k.background("", &["--server", &all, "get", "logicalclusters", "-w", "--output-watch-events", "--no-headers"]);
    k.kubectl_stdin(&["create", "-f", "-"], Some(HELD)).ok();
    let cluster = eventually("the workspace to wait for its initializer", Duration::from_secs(10), || {
        let r = k.kubectl(&["get", "workspace", "held", "-o", "jsonpath={.status.phase} {.spec.cluster}"]);
        r.stdout.trim().strip_prefix("Initializing ").map(String::from)
    });
    watch.wait_for("the waiting workspace", |lines| lines.iter().any(|l| l.starts_with("ADDED")));
    let listed = as_initializer(&["--server", &all, "get", "logicalclusters", "-o", "json"]).json();
    let names: Vec<&str> =
        listed["items"].as_array().expect("items").iter().filter_map(|lc| lc["metadata"]["annotations"]["kcp.io/cluster"].as_str()).collect();
    assert_eq!(names, [cluster.as_str()], "only the workspace waiting for this initializer: {listed}");

    // Inside, it works as the workspace's creator.
    let inside = format!("{url}/clusters/{cluster}");
    as_initializer(&["--server", &inside, "create", "configmap", "seeded", "--from-literal=by=initializer"]).ok();
    assert_eq!(k.kubectl_in("root:held", &["get", "configmap", "seeded", "-o", "jsonpath={.data.by}"]).ok(), "initializer");

    // It may only take itself out of the LogicalCluster's initializers.
    let other = as_initializer(&[
        "--server",
        &inside,
        "patch",
        "logicalcluster",
        "cluster",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"initializers":["root:someone-else"]}}"#,
    ]);
    assert!(other.fails().contains("only removing the initializer \"root:gated\" is supported"), "{}", other.stderr);
    let release = r#"[{"op":"remove","path":"/status/initializers/0"}]"#;
    as_initializer(&["--server", &inside, "patch", "logicalcluster", "cluster", "--subresource=status", "--type=json", "-p", release]).ok();
    eventually("the workspace to turn Ready", Duration::from_secs(10), || {
        (k.kubectl(&["get", "workspace", "held", "-o", "jsonpath={.status.phase}"]).stdout.trim() == "Ready").then_some(())
    });
    watch.wait_for("the released workspace to leave the view", |lines| lines.iter().any(|l| l.starts_with("DELETED")));
    watch.stop();

    // Once released, the workspace is out of its reach.
    let gone = as_initializer(&["--server", &inside, "get", "logicalcluster", "cluster"]);
    assert!(gone.fails().contains("NotFound"), "{}", gone.stderr);
    let content = as_initializer(&["--server", &inside, "get", "configmap", "seeded"]);
    assert!(content.fails().contains("Forbidden"), "{}", content.stderr);
    assert!(as_initializer(&["--server", &all, "get", "logicalclusters", "-o", "name"]).ok().trim().is_empty());
}

#[test]
fn initializer_permissions_replace_the_creators() {
    let k = Install::start();
    let seeded = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata:\n  name: seeded\nspec:\n  initializer: true\n  initializerPermissions:\n  - {apiGroups: [\"\"], resources: [configmaps], verbs: [get, create]}\n";
    let url = type_view_url(&k, seeded, "seeded", "initializing");
    let token = service_account_token(&k, "seeder");
    grant_on_type(&k, "seeder", "seeded", "initialize");
    k.kubectl_stdin(&["create", "-f", "-"], Some(&HELD.replace("gated", "seeded"))).ok();
    let cluster = eventually("the workspace to wait for its initializer", Duration::from_secs(10), || {
        let r = k.kubectl(&["get", "workspace", "held", "-o", "jsonpath={.status.phase} {.spec.cluster}"]);
        r.stdout.trim().strip_prefix("Initializing ").map(String::from)
    });
    let inside = format!("{url}/clusters/{cluster}");
    let as_seeder = |args: &[&str]| k.kubectl_token(&token, "", &[&["--server", inside.as_str()], args].concat());
    eventually("the grant to apply", Duration::from_secs(10), || (as_seeder(&["create", "configmap", "seed"]).code == 0).then_some(()));
    assert_eq!(as_seeder(&["get", "configmap", "seed", "-o", "name"]).ok().trim(), "configmap/seed");
    // Only what the type grants: not secrets, not deletes, not the creator's cluster-admin.
    let secret = as_seeder(&["get", "secret", "anything"]);
    assert!(secret.fails().contains("not among the initializerPermissions of WorkspaceType root:seeded"), "{}", secret.stderr);
    assert!(as_seeder(&["delete", "configmap", "seed"]).fails().contains("Forbidden"));
}
