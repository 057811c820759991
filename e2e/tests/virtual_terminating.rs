//! The terminatingworkspaces virtual workspace on `kcp start`, as a terminator controller meets
//! it with kubectl: a deleted workspace of its type waits, `Terminating`, with its content
//! intact; the URL the WorkspaceType publishes lists and watches it, lets the terminator read
//! and change that content, and lets it go by removing itself from the LogicalCluster's
//! `status.terminators`, nothing more; then the workspace and its content are deleted. Only
//! callers granted `terminate` on the type get in.

use std::time::Duration;

use e2e::sharded::{label_shards, Sharded};
use e2e::views::{grant_on_type, service_account_token, type_view_url};
use e2e::{eventually, Install};

const CLEANUP: &str = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata:\n  name: cleanup\nspec:\n  terminator: true\n";
const DOOMED: &str = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: doomed\nspec:\n  type:\n    name: cleanup\n";

#[test]
fn a_terminator_sees_works_in_and_releases_deleted_workspaces() {
    let k = Install::start();
    let url = type_view_url(&k, CLEANUP, "cleanup", "terminating");
    assert!(url.ends_with("/services/terminatingworkspaces/root:cleanup"), "{url}");
    let all = format!("{url}/clusters/*");

    k.kubectl_stdin(&["create", "-f", "-"], Some(DOOMED)).ok();
    let cluster = eventually("the workspace to be Ready", Duration::from_secs(10), || {
        let r = k.kubectl(&["get", "workspace", "doomed", "-o", "jsonpath={.status.phase} {.spec.cluster}"]);
        r.stdout.trim().strip_prefix("Ready ").map(String::from)
    });
    assert_eq!(k.kubectl(&["get", "workspace", "doomed", "-o", "jsonpath={.status.terminators}"]).ok().trim(), r#"["root:cleanup"]"#);
    k.kubectl_in("root:doomed", &["create", "configmap", "records", "--from-literal=owner=team-a"]).ok();

    // The terminator's controller runs as a service account of the type's workspace, and
    // gets in only with verb terminate on the type.
    let token = service_account_token(&k, "terminator");
    let as_terminator = |args: &[&str]| k.kubectl_token(&token, "", args);
    let denied = as_terminator(&["--server", &all, "get", "logicalclusters", "-o", "name"]);
    assert!(denied.fails().contains("Forbidden"), "{}", denied.stderr);
    grant_on_type(&k, "terminator", "cleanup", "terminate");
    eventually("the grant to apply", Duration::from_secs(10), || {
        (as_terminator(&["--server", &all, "get", "logicalclusters", "-o", "name"]).code == 0).then_some(())
    });
    // A Ready workspace is not the terminator's business yet.
    assert!(as_terminator(&["--server", &all, "get", "logicalclusters", "-o", "name"]).ok().trim().is_empty());
    let inside = format!("{url}/clusters/{cluster}");
    let early = as_terminator(&["--server", &inside, "get", "configmap", "records"]);
    assert!(early.fails().contains("Forbidden"), "{}", early.stderr);

    let watch = k.background("", &["--server", &all, "get", "logicalclusters", "-w", "--output-watch-events", "--no-headers"]);
    k.kubectl(&["delete", "workspace", "doomed", "--wait=false"]).ok();
    eventually("the workspace to wait for its terminator", Duration::from_secs(10), || {
        (k.kubectl(&["get", "workspace", "doomed", "-o", "jsonpath={.status.phase}"]).stdout.trim() == "Terminating").then_some(())
    });
    watch.wait_for("the deleted workspace", |lines| lines.iter().any(|l| l.starts_with("ADDED")));
    let listed = as_terminator(&["--server", &all, "get", "logicalclusters", "-o", "json"]).json();
    let names: Vec<&str> =
        listed["items"].as_array().expect("items").iter().filter_map(|lc| lc["metadata"]["annotations"]["kcp.io/cluster"].as_str()).collect();
    assert_eq!(names, [cluster.as_str()], "only the workspace waiting for this terminator: {listed}");
    assert_eq!(listed["items"][0]["status"]["phase"], "Terminating");

    // Inside, the content is still there, and the terminator works as the workspace's creator.
    assert_eq!(as_terminator(&["--server", &inside, "get", "configmap", "records", "-o", "jsonpath={.data.owner}"]).ok(), "team-a");
    as_terminator(&["--server", &inside, "create", "configmap", "archived", "--from-literal=by=terminator"]).ok();

    // It may change only the LogicalCluster's status, and there only take itself out.
    let main = as_terminator(&["--server", &inside, "annotate", "logicalcluster", "cluster", "wrong=wrong"]);
    assert!(main.fails().contains("MethodNotAllowed") || main.stderr.contains("does not allow this method"), "{}", main.stderr);
    let other = as_terminator(&[
        "--server",
        &inside,
        "patch",
        "logicalcluster",
        "cluster",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"terminators":["wrong:wrong"]}}"#,
    ]);
    assert!(other.fails().contains("only removing the terminator \"root:cleanup\" is supported"), "{}", other.stderr);
    assert_eq!(k.kubectl(&["get", "workspace", "doomed", "-o", "jsonpath={.status.phase}"]).ok().trim(), "Terminating");

    let release = r#"[{"op":"remove","path":"/status/terminators/0"}]"#;
    as_terminator(&["--server", &inside, "patch", "logicalcluster", "cluster", "--subresource=status", "--type=json", "-p", release]).ok();
    eventually("the workspace to be deleted", Duration::from_secs(20), || {
        let r = k.kubectl(&["get", "workspace", "doomed"]);
        (r.code != 0 && r.stderr.contains("NotFound")).then_some(())
    });
    watch.wait_for("the released workspace to leave the view", |lines| lines.iter().any(|l| l.starts_with("DELETED")));
    watch.stop();

    // Once released, the workspace is out of its reach, as it is now gone.
    let gone = as_terminator(&["--server", &inside, "get", "logicalcluster", "cluster"]);
    assert!(gone.fails().contains("NotFound"), "{}", gone.stderr);
    let content = as_terminator(&["--server", &inside, "get", "configmap", "records"]);
    assert!(content.fails().contains("Forbidden"), "{}", content.stderr);
}

#[test]
fn terminator_permissions_replace_the_creators() {
    let k = Install::start();
    let scoped = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata:\n  name: cleanup\nspec:\n  terminator: true\n  terminatorPermissions:\n  - {apiGroups: [\"\"], resources: [configmaps], verbs: [get, list, delete]}\n";
    let url = type_view_url(&k, scoped, "cleanup", "terminating");
    let token = service_account_token(&k, "terminator");
    grant_on_type(&k, "terminator", "cleanup", "terminate");
    k.kubectl_stdin(&["create", "-f", "-"], Some(DOOMED)).ok();
    let cluster = eventually("the workspace to be Ready", Duration::from_secs(10), || {
        let r = k.kubectl(&["get", "workspace", "doomed", "-o", "jsonpath={.status.phase} {.spec.cluster}"]);
        r.stdout.trim().strip_prefix("Ready ").map(String::from)
    });
    k.kubectl_in("root:doomed", &["create", "configmap", "records"]).ok();
    k.kubectl(&["delete", "workspace", "doomed", "--wait=false"]).ok();
    let inside = format!("{url}/clusters/{cluster}");
    let as_terminator = |args: &[&str]| k.kubectl_token(&token, "", &[&["--server", inside.as_str()], args].concat());
    eventually("the grant to apply", Duration::from_secs(10), || (as_terminator(&["delete", "configmap", "records"]).code == 0).then_some(()));
    // Only what the type grants: not creating, not secrets.
    let create = as_terminator(&["create", "configmap", "more"]);
    assert!(create.fails().contains("not among the terminatorPermissions of WorkspaceType root:cleanup"), "{}", create.stderr);
    assert!(as_terminator(&["get", "secrets"]).fails().contains("Forbidden"));
}

#[test]
fn a_workspace_on_another_shard_waits_for_its_terminator_too() {
    let s = Sharded::up("");
    let k = &s.kcp;
    label_shards(&s);
    k.kubectl_stdin(&["create", "-f", "-"], Some(CLEANUP)).ok();
    let token = service_account_token(k, "terminator");
    grant_on_type(k, "terminator", "cleanup", "terminate");
    let as_terminator = |args: &[&str]| k.kubectl_token(&token, "", args);
    let placed = format!("{DOOMED}  location:\n    selector:\n      matchLabels:\n        region: eu\n");
    k.kubectl_stdin(&["create", "-f", "-"], Some(&placed)).ok();
    let cluster = eventually("the workspace to be Ready", Duration::from_secs(20), || {
        let r = k.kubectl(&["get", "workspace", "doomed", "-o", "jsonpath={.status.phase} {.spec.cluster}"]);
        r.stdout.trim().strip_prefix("Ready ").map(String::from)
    });
    let shard = k.kubectl(&["get", "workspace", "doomed", "-o", r"jsonpath={.metadata.annotations.internal\.tenancy\.kcp\.io/shard}"]);
    assert_eq!(shard.ok().trim(), "shard-2", "placed on the other shard");
    assert_eq!(k.kubectl(&["get", "workspace", "doomed", "-o", "jsonpath={.status.terminators}"]).ok().trim(), r#"["root:cleanup"]"#);
    k.kubectl_in("root:doomed", &["create", "configmap", "records", "--from-literal=owner=team-a"]).ok();
    let urls = eventually("one terminating URL per shard", Duration::from_secs(20), || {
        let out = k.kubectl(&["get", "workspacetype", "cleanup", "-o", "jsonpath={.status.virtualWorkspaces[?(@.type==\"terminating\")].url}"]).stdout;
        let urls: Vec<String> = out.split_whitespace().map(String::from).collect();
        (urls.len() == 2).then_some(urls)
    });

    k.kubectl(&["delete", "workspace", "doomed", "--wait=false"]).ok();
    eventually("the workspace to wait for its terminator", Duration::from_secs(20), || {
        (k.kubectl(&["get", "workspace", "doomed", "-o", "jsonpath={.status.phase}"]).stdout.trim() == "Terminating").then_some(())
    });
    // Only the view of the shard hosting it shows it (once the grant reached that shard).
    let hosting = eventually("the hosting shard's view to list it", Duration::from_secs(20), || {
        let listed = |url: &String| as_terminator(&["--server", &format!("{url}/clusters/*"), "get", "logicalclusters", "-o", "name"]);
        let runs: Vec<_> = urls.iter().map(|url| (url, listed(url))).collect();
        let hosting: Vec<&String> = runs.iter().filter(|(_, r)| r.code == 0 && !r.stdout.trim().is_empty()).map(|(url, _)| *url).collect();
        let all_answer = runs.iter().all(|(_, r)| r.code == 0);
        (all_answer && hosting.len() == 1).then(|| hosting[0].clone())
    });
    let inside = format!("{hosting}/clusters/{cluster}");
    assert_eq!(as_terminator(&["--server", &inside, "get", "configmap", "records", "-o", "jsonpath={.data.owner}"]).ok(), "team-a");

    let release = r#"[{"op":"remove","path":"/status/terminators/0"}]"#;
    as_terminator(&["--server", &inside, "patch", "logicalcluster", "cluster", "--subresource=status", "--type=json", "-p", release]).ok();
    eventually("the workspace to be deleted", Duration::from_secs(30), || {
        let r = k.kubectl(&["get", "workspace", "doomed"]);
        (r.code != 0 && r.stderr.contains("NotFound")).then_some(())
    });
    let gone = as_terminator(&["--server", &inside, "get", "logicalcluster", "cluster"]);
    assert!(gone.fails().contains("NotFound"), "{}", gone.stderr);
}
