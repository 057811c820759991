//! Workspaces: creation onto fresh logical clusters, use by path, types, and subtree deletion.

use std::time::Duration;

use e2e::{eventually, Install};

fn workspace(name: &str, type_: Option<&str>) -> String {
    let spec = type_.map(|t| format!("spec:\n  type:\n    name: {t}\n")).unwrap_or_default();
    format!("apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: {name}\n{spec}")
}

fn ready(kcp: &Install, parent: &str, name: &str) -> String {
    eventually(&format!("workspace {name} Ready"), Duration::from_secs(10), || {
        let r = kcp.kubectl_in(parent, &["get", "workspace", name, "-o", "jsonpath={.status.phase} {.spec.cluster}"]);
        let out = r.stdout.trim().to_string();
        out.strip_prefix("Ready ").map(String::from)
    })
}

#[test]
fn tree_of_workspaces_is_created_used_and_deleted() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("org", None))).ok();
    let org_cluster = ready(&kcp, "root", "org");
    assert_eq!(org_cluster.len(), 16, "{org_cluster}");
    let row = kcp.kubectl(&["get", "ws", "org", "--no-headers"]);
    let cells: Vec<&str> = row.ok().split_whitespace().collect();
    assert_eq!(&cells[..3], ["org", "organization", "Ready"]);
    assert!(cells[3].ends_with("/clusters/root:org"), "{cells:?}");

    kcp.kubectl_stdin(&["--server", &kcp.server("root:org"), "create", "-f", "-"], Some(&workspace("team-a", Some("team")))).ok();
    let team_cluster = ready(&kcp, "root:org", "team-a");
    assert_ne!(team_cluster, org_cluster);
    // Used by path exactly like any cluster, and isolated from its parent.
    kcp.kubectl_in("root:org:team-a", &["create", "configmap", "inside"]).ok();
    assert_eq!(kcp.kubectl_in("root:org:team-a", &["get", "configmaps", "-o", "name"]).ok().trim(), "configmap/inside\nconfigmap/kube-root-ca.crt");
    assert_eq!(kcp.kubectl_in("root:org", &["get", "configmaps", "-o", "name"]).ok().trim(), "configmap/kube-root-ca.crt");
    assert_eq!(kcp.kubectl_in(&team_cluster, &["get", "configmap", "inside", "-o", "name"]).ok().trim(), "configmap/inside");

    // Types: unknown and misplaced types are refused with the rule in the message.
    let unknown = kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("x", Some("nope"))));
    assert!(unknown.fails().contains("workspace type root:nope does not exist"), "{}", unknown.stderr);
    let misplaced = kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("x", Some("team"))));
    assert!(misplaced.fails().contains("workspace type root:team is not allowed in a workspace of type root:root"), "{}", misplaced.stderr);
    let moved = kcp.kubectl(&["annotate", "--overwrite", "workspace", "org", "internal.tenancy.kcp.io/shard=elsewhere"]);
    assert!(moved.fails().contains("field is immutable"), "{}", moved.stderr);
    let repathed = kcp.kubectl_in("root:org", &["annotate", "--overwrite", "logicalcluster", "cluster", "kcp.io/path=root:other"]);
    assert!(repathed.fails().contains("field is immutable"), "{}", repathed.stderr);
    let bad_name = kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("Org", None)));
    assert!(bad_name.fails().contains("a lowercase RFC 1123 label"), "{}", bad_name.stderr);

    // Unknown paths reveal nothing; malformed ones are rejected.
    assert!(kcp.kubectl_in("root:nope", &["get", "configmaps"]).fails().contains("Forbidden"));
    assert!(kcp.kubectl(&["get", "--raw", "/clusters/root::x/api"]).fails().contains("BadRequest"));

    // Deleting the organization removes the subtree and its content; the name can be reused
    // and gets a new logical cluster.
    kcp.kubectl(&["delete", "workspace", "org", "--timeout=60s"]).ok();
    assert!(kcp.kubectl_in("root:org:team-a", &["get", "configmaps"]).fails().contains("Forbidden"));
    let everywhere = kcp.kubectl(&["--context", "system:admin", "get", "--raw", "/clusters/*/api/v1/configmaps"]);
    let list: serde_json::Value = serde_json::from_str(everywhere.ok()).expect("list");
    let names: Vec<&str> = list["items"].as_array().map(|a| a.iter().filter_map(|i| i["metadata"]["name"].as_str()).collect()).unwrap_or_default();
    assert!(names.iter().all(|n| *n == "kube-root-ca.crt"), "{names:?}");
    let clusters: Vec<&str> = list["items"].as_array().map(|a| a.iter().filter_map(|i| i["metadata"]["namespace"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names.len(), clusters.len());
    assert!(!everywhere.stdout.contains(&team_cluster) && !everywhere.stdout.contains(&org_cluster), "content of the deleted workspaces is left");
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("org", None))).ok();
    let again = ready(&kcp, "root", "org");
    assert_ne!(again, org_cluster);
}

#[test]
fn workspace_access_and_admins() {
    let kcp = Install::with_tokens("alice-token,alice,1\nbob-token,bob,2\n");
    let as_user = |token: &str, path: &str, args: &[&str]| kcp.kubectl_token(token, path, args);

    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("org", None))).ok();
    ready(&kcp, "root", "org");
    // alice may enter root:org and create workspaces there.
    kcp.kubectl_in("root:org", &["create", "clusterrole", "ws-creator", "--verb=create,get,list,watch", "--resource=workspaces.tenancy.kcp.io"]).ok();
    kcp.kubectl_in("root:org", &["create", "clusterrolebinding", "alice-ws", "--clusterrole=ws-creator", "--user=alice"]).ok();
    kcp.kubectl_in("root:org", &["create", "clusterrolebinding", "alice-access", "--clusterrole=system:kcp:workspace:access", "--user=alice"]).ok();
    let file = tempfile::NamedTempFile::new().expect("manifest");
    std::fs::write(file.path(), workspace("team-a", Some("team"))).expect("write");
    as_user("alice-token", "root:org", &["create", "-f", file.path().to_str().expect("utf-8")]).ok();
    ready(&kcp, "root:org", "team-a");
    kcp.kubectl_stdin(&["--server", &kcp.server("root:org"), "create", "-f", "-"], Some(&workspace("team-b", Some("team")))).ok();
    ready(&kcp, "root:org", "team-b");

    // The creator is admin of her workspace, but cannot make herself an admin of the shard by
    // impersonating a privileged group, by path or by logical cluster name.
    as_user("alice-token", "root:org:team-a", &["create", "namespace", "apps"]).ok();
    let team_a = ready(&kcp, "root:org", "team-a");
    for target in ["root:org:team-a", team_a.as_str()] {
        let raw = format!("/clusters/{target}/api/v1/namespaces");
        let escalate = as_user("alice-token", target, &["get", "--raw", &raw, "--as=alice", "--as-group=system:masters"]);
        assert!(escalate.fails().contains("only system:masters may impersonate privileged groups"), "{target}: {}", escalate.stderr);
        let admin = as_user("alice-token", target, &["get", "--raw", &raw, "--as=alice", "--as-group=system:kcp:admin"]);
        assert!(admin.fails().contains("Forbidden"), "{target}: {}", admin.stderr);
    }
    // Nor become one of the shard's controllers, say to delete `default` while marking her
    // logical cluster Deleting.
    let raw = "/clusters/root:org:team-a/api/v1/namespaces/default";
    let controller = as_user("alice-token", "root:org:team-a", &["delete", "--raw", raw, "--as=system:kcp:controller:logicalcluster"]);
    assert!(controller.fails().contains("only system:masters may impersonate the system's own users"), "{}", controller.stderr);
    as_user(
        "alice-token",
        "root:org:team-a",
        &["patch", "logicalcluster", "cluster", "--subresource=status", "--type=merge", "-p", r#"{"status":{"phase":"Deleting"}}"#],
    );
    let default = as_user("alice-token", "root:org:team-a", &["delete", "namespace", "default"]);
    assert!(default.fails().contains("this namespace may not be deleted"), "{}", default.stderr);
    kcp.kubectl_in("root:org:team-a", &["get", "namespace", "default"]).ok();
    as_user("alice-token", "root:org:team-a", &["create", "clusterrolebinding", "bob-access", "--clusterrole=system:kcp:workspace:access", "--user=bob"]).ok();
    as_user("alice-token", "root:org:team-a", &["-n", "apps", "create", "role", "secret-reader", "--verb=get,list", "--resource=secrets"]).ok();
    as_user("alice-token", "root:org:team-a", &["-n", "apps", "create", "rolebinding", "bob-secrets", "--role=secret-reader", "--user=bob"]).ok();

    // bob: access plus a Role for secrets.
    as_user("bob-token", "root:org:team-a", &["-n", "apps", "get", "secrets"]).ok();
    let ns = as_user("bob-token", "root:org:team-a", &["create", "namespace", "nope"]);
    assert!(ns.fails().contains("Forbidden"), "{}", ns.stderr);

    // Neither sees anything in team-b; access to the parent grants nothing in the child.
    kcp.kubectl_in("root:org", &["create", "clusterrolebinding", "bob-org-access", "--clusterrole=system:kcp:workspace:access", "--user=bob"]).ok();
    for token in ["alice-token", "bob-token"] {
        for args in [&["get", "configmaps"][..], &["get", "namespace", "default"], &["api-resources"]] {
            let r = as_user(token, "root:org:team-b", args);
            assert_ne!(r.code, 0, "{token} {args:?}: {}", r.stdout);
            assert!(r.stderr.contains("Forbidden") || r.stderr.contains("forbidden"), "{token} {args:?}: {}", r.stderr);
        }
        let watch = as_user(token, "root:org:team-b", &["get", "--raw", "/clusters/root:org:team-b/api/v1/configmaps?watch=true&timeoutSeconds=1"]);
        assert!(watch.fails().contains("Forbidden"), "{}", watch.stderr);
        assert_eq!(as_user(token, "root:org:team-b", &["auth", "can-i", "list", "configmaps"]).stdout.trim(), "no");
    }
}

#[test]
fn kubectl_ws_plugin() {
    let kcp = Install::start();
    let ws = |args: &[&str]| {
        let mut full = vec!["ws"];
        full.extend_from_slice(args);
        kcp.kubectl_plugin(&full)
    };
    assert_eq!(ws(&[]).ok().trim(), "Current workspace is \"root\".");
    let created = ws(&["create", "org", "--enter"]);
    assert_eq!(created.ok().trim(), "Workspace \"org\" (type root:organization) is ready to use.\nCurrent workspace is \"root:org\".");
    assert!(created.stderr.contains("Waiting for it to be ready..."), "{}", created.stderr);
    ws(&["create", "team-a", "--type", "team"]).ok();
    ws(&["create", "team-b", "--type", "team"]).ok();
    let again = ws(&["create", "team-b", "--type", "team"]);
    assert!(again.fails().contains("already exists"), "{}", again.stderr);
    ws(&["create", "team-b", "--type", "team", "--ignore-existing"]).ok();
    assert_eq!(ws(&["tree"]).ok().trim(), ".\n└── root:org\n    ├── team-a\n    └── team-b");
    assert_eq!(ws(&["team-a"]).ok().trim(), "Current workspace is \"root:org:team-a\".");
    // Plain kubectl now talks to the workspace.
    kcp.kubectl(&["create", "configmap", "here"]).ok();
    assert_eq!(kcp.kubectl_in("root:org:team-a", &["get", "configmap", "here", "-o", "name"]).ok().trim(), "configmap/here");
    assert_eq!(ws(&[".."]).ok().trim(), "Current workspace is \"root:org\".");
    assert_eq!(ws(&["-"]).ok().trim(), "Current workspace is \"root:org:team-a\".");
    assert_eq!(ws(&[":root"]).ok().trim(), "Current workspace is \"root\".");
    assert_eq!(ws(&["nope"]).fails().trim(), "error: workspace \"root:nope\" not found");
    // `~` is the caller's home, created on first use.
    assert_eq!(ws(&["~"]).ok().trim(), "Current workspace is \"user:kcp-admin\".");
    kcp.kubectl(&["create", "configmap", "at-home"]).ok();
    assert_eq!(
        ws(&["create", "sub", "--enter"]).ok().trim(),
        "Workspace \"sub\" (type root:universal) is ready to use.\nCurrent workspace is \"user:kcp-admin:sub\"."
    );
    assert_eq!(kcp.kubectl_in("user:kcp-admin", &["get", "configmap", "at-home", "-o", "name"]).ok().trim(), "configmap/at-home");
    let bad_type = ws(&["create", "x", "--type", "nope"]);
    assert!(bad_type.fails().contains("workspace type root:nope does not exist"), "{}", bad_type.stderr);
}

#[test]
fn initializers_hold_a_workspace_until_removed() {
    let kcp = Install::start();
    let gated = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: WorkspaceType\nmetadata:\n  name: gated\nspec:\n  initializer: true\n";
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(gated)).ok();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("held", Some("gated")))).ok();
    eventually("the workspace to be scheduled", Duration::from_secs(10), || {
        let r = kcp.kubectl(&["get", "workspace", "held", "-o", "jsonpath={.status.phase}"]);
        (r.stdout.trim() == "Initializing").then_some(())
    });
    let lc = kcp.kubectl_in("root:held", &["get", "logicalcluster", "cluster", "-o", "json"]).json();
    assert_eq!(lc["status"]["initializers"], serde_json::json!(["root:gated"]), "{lc}");
    assert_eq!(lc["status"]["phase"], "Initializing");
    // The initializer finishes by removing itself; then the workspace becomes Ready.
    kcp.kubectl_in(
        "root:held",
        &["patch", "logicalcluster", "cluster", "--subresource=status", "--type=json", "-p", r#"[{"op":"remove","path":"/status/initializers/0"}]"#],
    )
    .ok();
    ready(&kcp, "root", "held");
}

#[test]
fn service_account_tokens_work_only_in_their_workspace() {
    let kcp = Install::start();
    for (name, type_) in [("org", None), ("team-a", Some("team")), ("team-b", Some("team"))] {
        let parent = if name == "org" { "root" } else { "root:org" };
        kcp.kubectl_in_stdin(parent, &["create", "-f", "-"], &workspace(name, type_)).ok();
        ready(&kcp, parent, name);
    }
    let (a, b) = ("root:org:team-a", "root:org:team-b");
    kcp.kubectl_in(a, &["create", "serviceaccount", "robot"]).ok();
    kcp.kubectl_in(a, &["create", "configmap", "in-a"]).ok();
    kcp.kubectl_in(b, &["create", "configmap", "in-b"]).ok();
    kcp.kubectl_in(a, &["create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps"]).ok();
    kcp.kubectl_in(a, &["create", "rolebinding", "robot-reads", "--role=cm-reader", "--serviceaccount=default:robot"]).ok();
    // Every namespace gets its default service account.
    eventually("default service account", Duration::from_secs(5), || (kcp.kubectl_in(a, &["get", "sa", "default"]).code == 0).then_some(()));

    let token = kcp.kubectl_in(a, &["create", "token", "robot"]).ok().trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let too_short = kcp.kubectl_in(a, &["create", "token", "robot", "--duration=1m"]);
    assert!(too_short.fails().contains("may not specify a duration less than 10 minutes"), "{}", too_short.stderr);
    assert!(kcp.kubectl_in(a, &["create", "token", "ghost"]).fails().contains("serviceaccounts \"ghost\" not found"));

    let as_robot = serde_json::json!({"token": token.clone()});
    let listed = kcp.kubectl_as(as_robot.clone(), a, &["get", "configmaps", "-o", "name"]);
    assert!(listed.ok().contains("configmap/in-a"), "{}", listed.stdout);
    // In-cluster clients call without a /clusters/ prefix and land in their own workspace.
    let unprefixed = kcp.kubectl_as(as_robot.clone(), "", &["get", "configmaps", "-o", "name"]);
    assert!(unprefixed.ok().contains("configmap/in-a"), "{}", unprefixed.stdout);
    assert!(!unprefixed.stdout.contains("in-b"));
    // RBAC still applies in its own workspace.
    assert!(kcp.kubectl_as(as_robot.clone(), a, &["get", "secrets"]).fails().contains("Forbidden"));
    // Elsewhere it is a stranger: nothing in team-b, and granting system:serviceaccounts there
    // does not let it in, while granting its workspace's group does.
    assert!(kcp.kubectl_as(as_robot.clone(), b, &["get", "configmaps"]).fails().contains("Forbidden"));
    let a_cluster = ready(&kcp, "root:org", "team-a");
    let whoami_b = kcp.kubectl_as(as_robot.clone(), b, &["auth", "whoami", "-o", "json"]).json();
    assert_eq!(whoami_b["status"]["userInfo"]["username"], "system:anonymous", "{whoami_b}");
    assert_eq!(whoami_b["status"]["userInfo"]["groups"], serde_json::json!(["system:authenticated", format!("system:cluster:{a_cluster}")]));
    kcp.kubectl_in(b, &["create", "clusterrole", "cm-access", "--verb=get,list", "--resource=configmaps"]).ok();
    kcp.kubectl_in(b, &["create", "clusterrolebinding", "sa-access", "--clusterrole=system:kcp:workspace:access", "--group=system:serviceaccounts"]).ok();
    kcp.kubectl_in(b, &["create", "clusterrolebinding", "sa-cm", "--clusterrole=cm-access", "--group=system:serviceaccounts"]).ok();
    assert!(kcp.kubectl_as(as_robot.clone(), b, &["get", "configmaps"]).fails().contains("Forbidden"));
    let group = format!("system:cluster:{a_cluster}");
    kcp.kubectl_in(b, &["create", "clusterrolebinding", "a-access", "--clusterrole=system:kcp:workspace:access", &format!("--group={group}")]).ok();
    kcp.kubectl_in(b, &["create", "clusterrolebinding", "a-cm", "--clusterrole=cm-access", &format!("--group={group}")]).ok();
    let granted = kcp.kubectl_as(as_robot.clone(), b, &["get", "configmaps", "-o", "name"]);
    assert!(granted.ok().contains("configmap/in-b"), "{}", granted.stderr);

    // TokenReview says who it is.
    let review = format!("{{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{{\"token\":\"{token}\"}}}}");
    let reviewed = kcp.kubectl_in_stdin(a, &["create", "-f", "-", "-o", "json"], &review).json();
    assert_eq!(reviewed["status"]["authenticated"], true, "{reviewed}");
    assert_eq!(reviewed["status"]["user"]["username"], "system:serviceaccount:default:robot");
    assert_eq!(reviewed["status"]["user"]["extra"]["authentication.kubernetes.io/cluster-name"][0], a_cluster.as_str());

    // A forged token and a deleted service account's token authenticate nobody.
    let forged = format!("{}x", &token[..token.len() - 1]);
    assert!(kcp.kubectl_as(serde_json::json!({"token": forged}), a, &["get", "configmaps"]).fails().contains("Unauthorized"));
    kcp.kubectl_in(a, &["delete", "serviceaccount", "robot"]).ok();
    assert!(kcp.kubectl_as(as_robot, a, &["get", "configmaps"]).fails().contains("Unauthorized"));
    let reviewed = kcp.kubectl_in_stdin(a, &["create", "-f", "-", "-o", "json"], &review).json();
    assert_eq!(reviewed["status"]["authenticated"], false, "{reviewed}");
}

#[test]
fn home_workspaces_are_created_on_first_use() {
    let kcp = Install::with_tokens("alice-token,alice,1,creators\nbob-token,bob,2\n");
    let as_user = |token: &str, path: &str, args: &[&str]| kcp.kubectl_token(token, path, args);
    // Only the group "creators" may get a home here.
    kcp.kubectl(&["delete", "clusterrolebinding", "system:kcp:home-workspace-create"]).ok();
    kcp.kubectl(&["create", "clusterrolebinding", "creators-home", "--clusterrole=system:kcp:home-workspace-create", "--group=creators"]).ok();

    let home = "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces/~";
    let got = as_user("alice-token", "root", &["get", "--raw", home]);
    let ws: serde_json::Value = serde_json::from_str(got.ok()).expect("workspace JSON");
    assert_eq!(ws["status"]["phase"], "Ready", "{ws}");
    assert!(ws["spec"]["URL"].as_str().is_some_and(|u| u.ends_with("/clusters/user:alice")), "{ws}");
    assert!(ws["metadata"]["creationTimestamp"].is_string());
    // Asking again returns the same home.
    let again: serde_json::Value = serde_json::from_str(as_user("alice-token", "root", &["get", "--raw", home]).ok()).expect("JSON");
    assert_eq!(again["spec"]["cluster"], ws["spec"]["cluster"]);

    // alice is admin of her home; bob sees nothing there and may not get a home of his own.
    as_user("alice-token", "user:alice", &["create", "namespace", "mine"]).ok();
    as_user("alice-token", "user:alice", &["get", "--raw", "/clusters/user:alice/apis/core.kcp.io/v1alpha1/logicalclusters/cluster"]).ok();
    assert!(as_user("bob-token", "user:alice", &["get", "namespaces"]).fails().contains("Forbidden"));
    let refused = as_user("bob-token", "root", &["get", "--raw", home]);
    assert!(refused.fails().contains("cannot create resource \"workspaces\""), "{}", refused.stderr);
    assert!(refused.stderr.contains("workspace access not permitted"), "{}", refused.stderr);
    assert!(as_user("bob-token", "user:bob", &["get", "namespaces"]).fails().contains("Forbidden"));
}

#[test]
fn workspaces_are_scheduled_onto_matching_shards() {
    let kcp = Install::start();
    // The shard registered itself in root.
    let shards = kcp.kubectl(&["get", "shards", "-o", "json"]).json();
    assert_eq!(shards["items"][0]["metadata"]["name"], "root", "{shards}");
    assert!(shards["items"][0]["spec"]["baseURL"].as_str().is_some_and(|u| u.starts_with("https://127.0.0.1:")), "{shards}");
    let row = kcp.kubectl(&["get", "shards"]);
    assert!(row.ok().starts_with("NAME   REGION   URL"), "{}", row.stdout);

    // No shard matches the selector: the workspace waits, saying why.
    let eu = "apiVersion: tenancy.kcp.io/v1alpha1\nkind: Workspace\nmetadata:\n  name: eu\nspec:\n  location:\n    selector:\n      matchLabels:\n        region: eu\n";
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(eu)).ok();
    let reason = eventually("Unschedulable condition", Duration::from_secs(10), || {
        let ws = kcp.kubectl(&["get", "ws", "eu", "-o", "json"]).json();
        let c = ws["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == "WorkspaceScheduled")?.clone();
        (c["status"] == "False").then(|| (ws["status"]["phase"].clone(), c["reason"].clone()))
    });
    assert_eq!(reason, (serde_json::json!("Scheduling"), serde_json::json!("Unschedulable")));
    // Once the shard carries the label, the workspace lands there.
    kcp.kubectl(&["label", "shard", "root", "region=eu"]).ok();
    ready(&kcp, "root", "eu");
    let ws = kcp.kubectl(&["get", "ws", "eu", "-o", "json"]).json();
    assert_eq!(ws["metadata"]["annotations"]["internal.tenancy.kcp.io/shard"], "root");

    // Bad shards and selectors are refused with the rule in the message.
    let plain = "apiVersion: core.kcp.io/v1alpha1\nkind: Shard\nmetadata:\n  name: s2\nspec:\n  baseURL: http://10.0.0.2:6443\n";
    let refused = kcp.kubectl_stdin(&["create", "-f", "-"], Some(plain));
    assert!(refused.fails().contains("spec.baseURL: Invalid value: \"http://10.0.0.2:6443\": must be an absolute https:// URL"), "{}", refused.stderr);
    let elsewhere = kcp.kubectl_in_stdin("root:eu", &["create", "-f", "-"], &plain.replace("http:", "https:"));
    assert!(elsewhere.fails().contains("shards can only be defined in the root workspace"), "{}", elsewhere.stderr);
    let bad = eu.replace("matchLabels:\n        region: eu", "matchExpressions:\n      - key: region\n        operator: Near");
    let refused = kcp.kubectl_stdin(&["create", "-f", "-"], Some(&bad.replace("name: eu", "name: eu2")));
    assert!(refused.fails().contains("spec.location.selector"), "{}", refused.stderr);
}

#[test]
fn home_workspaces_can_be_disabled() {
    let kcp = Install::start_with(tempfile::tempdir().expect("dir"), &["--enable-home-workspaces=false"]);
    let home = kcp.kubectl(&["get", "--raw", "/clusters/root/apis/tenancy.kcp.io/v1alpha1/workspaces/~"]);
    assert!(home.fails().contains("NotFound"), "{}", home.stderr);
    assert!(kcp.kubectl(&["get", "workspacetype", "home"]).fails().contains("NotFound"));
    assert_eq!(kcp.kubectl_plugin(&["ws", "~"]).fails().trim(), "error: home workspaces are not enabled on this server");
}

#[test]
fn a_deleting_workspace_waits_for_finalizers_inside_it() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("slow", None))).ok();
    ready(&kcp, "root", "slow");
    let held = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: default\n  finalizers: [example.com/hold]\n";
    kcp.kubectl_in_stdin("root:slow", &["create", "-f", "-"], held).ok();
    kcp.kubectl(&["delete", "workspace", "slow", "--wait=false"]).ok();
    eventually("the logical cluster to say Deleting", Duration::from_secs(10), || {
        (kcp.kubectl_in("root:slow", &["get", "logicalcluster", "cluster", "-o", "jsonpath={.status.phase}"]).stdout == "Deleting").then_some(())
    });
    assert_eq!(kcp.kubectl(&["get", "workspace", "slow", "-o", "name"]).ok().trim(), "workspace.tenancy.kcp.io/slow", "held by the finalizer");
    kcp.kubectl_in("root:slow", &["patch", "configmap", "held", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]).ok();
    eventually("the workspace to be gone", Duration::from_secs(10), || kcp.kubectl(&["get", "workspace", "slow"]).stderr.contains("NotFound").then_some(()));
}

#[test]
fn a_finalizer_on_the_logical_cluster_holds_its_workspace() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("kept", None))).ok();
    ready(&kcp, "root", "kept");
    kcp.kubectl_in("root:kept", &["patch", "logicalcluster", "cluster", "--type=merge", "-p", r#"{"metadata":{"finalizers":["example.com/keep"]}}"#]).ok();
    kcp.kubectl(&["delete", "workspace", "kept", "--wait=false"]).ok();
    eventually("the logical cluster to be marked deleted", Duration::from_secs(10), || {
        let lc = kcp.kubectl_in("root:kept", &["get", "logicalcluster", "cluster", "-o", "json"]).json();
        lc["metadata"].get("deletionTimestamp").map(drop)
    });
    assert_eq!(kcp.kubectl(&["get", "workspace", "kept", "-o", "name"]).ok().trim(), "workspace.tenancy.kcp.io/kept", "held by the logical cluster");
    kcp.kubectl_in("root:kept", &["patch", "logicalcluster", "cluster", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]).ok();
    eventually("both to be gone", Duration::from_secs(10), || kcp.kubectl(&["get", "workspace", "kept"]).stderr.contains("NotFound").then_some(()));
    let gone = kcp.kubectl_in("root:kept", &["get", "logicalcluster", "cluster"]);
    assert!(gone.fails().contains("Forbidden") || gone.stderr.contains("NotFound"), "{}", gone.stderr);
}

#[test]
fn an_inactive_workspace_is_closed_to_all_but_system_masters() {
    let kcp = Install::start();
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("quiet", None))).ok();
    ready(&kcp, "root", "quiet");
    let mut watch = kcp.background("root:quiet", &["get", "configmaps", "--watch", "-o", "name"]);
    watch.wait_for("the watch to list", |lines| lines.iter().any(|l| l == "configmap/kube-root-ca.crt"));
    kcp.kubectl_in("root:quiet", &["annotate", "logicalcluster", "cluster", "core.kcp.io/inactive=true"]).ok();
    // Open watches into it end.
    eventually("the watch to end", Duration::from_secs(10), || watch.exited().map(drop));
    let closed = kcp.kubectl_in("root:quiet", &["get", "configmaps"]);
    assert!(closed.fails().contains("the logical cluster is inactive"), "{}", closed.stderr);
    let masters = ["--context", "system:admin", "--server", &kcp.server("root:quiet")];
    kcp.kubectl(&[&masters[..], &["annotate", "logicalcluster", "cluster", "core.kcp.io/inactive-"]].concat()).ok();
    kcp.kubectl_in("root:quiet", &["get", "configmaps"]).ok();
}

#[test]
fn an_object_limit_caps_a_workspace_and_only_kcp_admins_move_it() {
    let kcp = Install::start_with(tempfile::tempdir().expect("temp dir"), &["--logical-cluster-total-object-limit=9"]);
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&workspace("capped", None))).ok();
    let cluster = ready(&kcp, "root", "capped");
    let limited =
        format!(" is forbidden: logical cluster \"{cluster}\" has reached its total object count limit (9/9 objects); delete objects to free up capacity");
    let create = |name: &str| kcp.kubectl_in("root:capped", &["create", "configmap", name]);
    // The workspace's own objects (namespace, service account, CA, …) count too; they are all
    // made before the limit is reached.
    eventually("the default namespace's content", Duration::from_secs(10), || {
        let defaults = kcp.kubectl_in("root:capped", &["get", "serviceaccount/default", "configmap/kube-root-ca.crt", "-o", "name"]);
        (defaults.code == 0).then_some(())
    });
    let mut made = 0;
    let refusal = loop {
        let r = create(&format!("c{made}"));
        if r.code == 0 {
            made += 1;
            assert!(made < 9, "never refused");
        } else {
            break r.stderr;
        }
    };
    assert_eq!(refusal.trim(), format!("error: failed to create configmap: configmaps \"c{made}\"{limited}"));
    // Updates and Events pass; a delete frees one slot, and one only.
    kcp.kubectl_in("root:capped", &["label", "configmap", "c0", "full=yes"]).ok();
    let event = "apiVersion: v1\nkind: Event\nmetadata:\n  name: full\ninvolvedObject:\n  kind: ConfigMap\n  name: c0\nreason: Full\nmessage: at the limit\n";
    kcp.kubectl_in_stdin("root:capped", &["-n", "default", "create", "-f", "-"], event).ok();
    kcp.kubectl_in("root:capped", &["delete", "configmap", "c0"]).ok();
    eventually("the slot given back", Duration::from_secs(5), || (create("again").code == 0).then_some(()));
    assert!(create("more").fails().contains(&limited));
    // The shard-wide default spares root.
    for i in 0..10 {
        kcp.kubectl(&["create", "configmap", &format!("root-{i}")]).ok();
    }

    // A workspace's own cluster-admin may not lift the limit; a kcp administrator may.
    kcp.kubectl_in("root:capped", &["delete", "configmap", "c1"]).ok();
    eventually("a free slot", Duration::from_secs(5), || {
        let bound = kcp.kubectl_in("root:capped", &["create", "clusterrolebinding", "owner", "--clusterrole=cluster-admin", "--user=owner"]);
        (bound.code == 0).then_some(())
    });
    let lift = ["annotate", "--overwrite", "logicalcluster", "cluster", "core.kcp.io/max-total-objects=0"];
    let by_owner: Vec<&str> = ["--as=owner"].into_iter().chain(lift).collect();
    assert_eq!(
        kcp.kubectl_in("root:capped", &by_owner).fails().trim(),
        "Error from server (Forbidden): logicalclusters.core.kcp.io \"cluster\" is forbidden: modification of admin-reserved annotation: \"core.kcp.io/max-total-objects\""
    );
    kcp.kubectl_in("root:capped", &lift).ok();
    eventually("the limit lifted", Duration::from_secs(5), || (create("lifted").code == 0).then_some(()));
}

#[test]
fn a_token_secret_holds_a_long_lived_token_until_it_is_deleted() {
    use base64::Engine;
    let kcp = Install::start();
    kcp.kubectl(&["create", "serviceaccount", "robot"]).ok();
    kcp.kubectl(&["create", "rolebinding", "robot-view", "--clusterrole=view", "--serviceaccount=default:robot"]).ok();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: robot-token\n  annotations:\n    kubernetes.io/service-account.name: robot\ntype: kubernetes.io/service-account-token\n";
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(secret)).ok();
    let token = eventually("the token filled in", Duration::from_secs(10), || {
        let data = kcp.kubectl(&["get", "secret", "robot-token", "-o", "jsonpath={.data.token}"]).ok().to_string();
        (!data.is_empty()).then(|| String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data).expect("base64")).expect("UTF-8"))
    });
    assert_eq!(
        kcp.kubectl_token(&token, "root", &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]).ok(),
        "system:serviceaccount:default:robot"
    );
    assert!(kcp.kubectl_token(&token, "root", &["get", "configmaps", "-o", "name"]).ok().contains("configmap/kube-root-ca.crt"));
    let described = kcp.kubectl(&["describe", "secret", "robot-token"]).ok().to_string();
    assert!(described.contains("kubernetes.io/service-account.uid: ") && described.contains("namespace:  7 bytes"), "{described}");

    // A TokenRequest may bind its token to the Secret too; pods cannot be bound to here.
    let bound = kcp.kubectl(&["create", "token", "robot", "--bound-object-kind", "Secret", "--bound-object-name", "robot-token"]).ok().trim().to_string();
    assert!(kcp.kubectl_token(&bound, "root", &["get", "configmaps"]).code == 0);
    let to_pod = kcp.kubectl(&["create", "token", "robot", "--bound-object-kind", "Pod", "--bound-object-name", "p", "--bound-object-uid", "u"]);
    assert!(to_pod.fails().contains("spec.boundObjectRef.kind: Unsupported value: \"Pod\": supported values: \"Secret\""), "{}", to_pod.stderr);
    assert!(kcp
        .kubectl(&["create", "token", "robot", "--bound-object-kind", "Secret", "--bound-object-name", "nope"])
        .fails()
        .contains("secrets \"nope\" not found"));

    kcp.kubectl(&["delete", "secret", "robot-token"]).ok();
    for revoked in [&token, &bound] {
        assert_eq!(kcp.kubectl_token(revoked, "root", &["get", "configmaps"]).fails().trim(), "error: You must be logged in to the server (Unauthorized)");
    }
    // A Secret naming an account that does not exist is deleted, as in kube.
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(&secret.replace("name: robot\n", "name: ghost\n"))).ok();
    let gone = |what: &str| {
        eventually(what, Duration::from_secs(10), || {
            let found = kcp.kubectl(&["get", "secret", "robot-token"]);
            (found.code != 0 && found.stderr.contains("NotFound")).then_some(())
        })
    };
    gone("the orphan deleted");
    // And an account's token Secrets go with it.
    kcp.kubectl_stdin(&["create", "-f", "-"], Some(secret)).ok();
    kcp.kubectl(&["delete", "serviceaccount", "robot"]).ok();
    gone("the account's Secret deleted");
}
