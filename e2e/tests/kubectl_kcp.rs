//! `kubectl kcp`, the plugin binary run through the real kubectl: `bind apiexport` refused like
//! `kubectl create` would be (403, the same for a missing export), its argument errors, its
//! binding at v1alpha2 with the export's claims, and its wait giving up after `--timeout`.

use std::path::Path;

use serde_json::json;

use e2e::sharded::create_ready;
use e2e::{Install, Run};

/// An export in `root:prov` that claims configmaps (get, list), and names a schema that does
/// not exist, so bindings to it never complete.
const EXPORT: &str = "apiVersion: apis.kcp.io/v1alpha2\nkind: APIExport\nmetadata:\n  name: cowboys\nspec:\n  resources:\n  - {name: cowboys, group: wildwest.dev, schema: missing.cowboys.wildwest.dev, storage: {crd: {}}}\n  permissionClaims:\n  - {group: \"\", resource: configmaps, verbs: [get, list]}\n";

/// `kubectl kcp bind apiexport <args>` with `kubeconfig`.
fn bind(kcp: &Install, kubeconfig: &Path, args: &[&str]) -> Run {
    let mut full = vec!["kcp", "bind", "apiexport"];
    full.extend_from_slice(args);
    kcp.kubectl_plugin_with(kubeconfig, &full)
}

const TIMEOUT_PREFIX: &str = "error: could not bind cowboys: not bound after 2s: ";

#[test]
fn bind_apiexport_refusals_argument_errors_and_timeout() {
    let kcp = Install::with_tokens("alice-token,alice,1\n");
    create_ready(&kcp, "root", "prov", None);
    create_ready(&kcp, "root", "cons", None);
    kcp.kubectl_in_stdin("root:prov", &["create", "-f", "-"], EXPORT).ok();
    kcp.kubectl_in("root:cons", &["create", "clusterrolebinding", "alice-admin", "--clusterrole=cluster-admin", "--user=alice"]).ok();
    let alice = kcp.kubeconfig_as(json!({"token": "alice-token"}), "root:cons");
    let admin = kcp.kubeconfig.clone();

    // Without bind, and for an export that does not exist: the server's 403, as kubectl prints it.
    let refused = bind(&kcp, alice.path(), &["root:prov:cowboys", "--accept-permission-claim", "configmaps.core"]);
    assert_eq!(refused.fails().trim(), "Error from server (Forbidden): unable to create APIBinding: no permission to bind to export root:prov:cowboys");
    assert_eq!(refused.stdout, "");
    let missing = bind(&kcp, alice.path(), &["root:prov:nothing"]);
    assert_eq!(missing.fails().trim(), "Error from server (Forbidden): unable to create APIBinding: no permission to bind to export root:prov:nothing");
    assert_eq!((refused.code, missing.code), (1, 1));

    // Argument errors, before anything is sent.
    let cases: [(&[&str], &str); 4] = [
        (&[], "error: `root:ws:apiexport_object` reference to bind is required as an argument"),
        (&["cowboys"], "error: fully qualified reference to workspace where APIExport exists is required."),
        (&["root:prov:cowboys", "--accept-permission-claim", "secrets"], "error: invalid accepted permission claims: [invalid permission claim \"secrets\"]"),
        (
            &["root:prov:cowboys", "--accept-all-permission-claims", "--reject-permission-claim", "secrets.core"],
            "error: cannot use --accept-all-permission-claims together with --reject-permission-claim",
        ),
    ];
    for (args, want) in cases {
        let run = bind(&kcp, &admin, args);
        assert!(run.fails().starts_with(want), "{args:?}: {}", run.stderr);
    }
    assert!(bind(&kcp, &admin, &["root:prov:cowboys", "--timeout", "soon"]).fails().contains("is not a duration"));
    // `--context` is honoured: context `base` points at no workspace.
    let nowhere = bind(&kcp, &admin, &["root:prov:cowboys", "--context", "base"]);
    assert!(nowhere.fails().starts_with("error: current URL \"https://") && nowhere.stderr.contains("does not point to workspace"), "{}", nowhere.stderr);
    assert_eq!(kcp.kubectl_in("root:cons", &["get", "apibindings", "-o", "name"]).ok().trim(), "", "nothing was created");

    // Allowed to bind: created at v1alpha2 with the export's verbs for its claim; its schema is
    // missing, so the wait gives up after --timeout and says where it stands.
    let waited = bind(
        &kcp,
        &admin,
        &[
            "root:prov:cowboys",
            "-w",
            ":root:cons",
            "--accept-permission-claim",
            "configmaps.core",
            "--reject-permission-claim",
            "secrets.core",
            "--timeout",
            "2s",
        ],
    );
    assert!(waited.fails().starts_with(TIMEOUT_PREFIX), "{}", waited.stderr);
    assert!(waited.stderr.contains("missing.cowboys.wildwest.dev"), "the wait says why: {}", waited.stderr);
    assert_eq!(waited.code, 1);
    assert_eq!(waited.stdout, "apibinding cowboys created. Waiting to successfully bind ...\n");
    let created = kcp.kubectl_in("root:cons", &["get", "apibindings.v1alpha2.apis.kcp.io", "cowboys", "-o", "json"]).json();
    assert_eq!(created["spec"]["reference"], json!({"export": {"path": "root:prov", "name": "cowboys"}}));
    assert_eq!(
        created["spec"]["permissionClaims"],
        json!([
            {"group": "", "resource": "configmaps", "verbs": ["get", "list"], "selector": {"matchAll": true}, "state": "Accepted"},
            {"group": "", "resource": "secrets", "verbs": ["*"], "selector": {"matchAll": true}, "state": "Rejected"},
        ])
    );
    // The name is taken now: the server's conflict, as kubectl prints it.
    let again = bind(&kcp, &admin, &["root:prov:cowboys", "-w", ":root:cons"]);
    assert!(again.fails().starts_with("Error from server (AlreadyExists): "), "{}", again.stderr);
    // All of the export's claims, under another name.
    let all = bind(&kcp, &admin, &["root:prov:cowboys", "-w", ":root:cons", "--name", "all", "--reject-all-permission-claims", "--timeout", "1s"]);
    assert!(all.fails().starts_with("error: could not bind all: not bound after 1s: "), "{}", all.stderr);
    let created = kcp.kubectl_in("root:cons", &["get", "apibindings.v1alpha2.apis.kcp.io", "all", "-o", "json"]).json();
    assert_eq!(
        created["spec"]["permissionClaims"],
        json!([{"group": "", "resource": "configmaps", "verbs": ["get", "list"], "selector": {"matchAll": true}, "state": "Rejected"}])
    );

    // The rest of the plugin: help, and `workspace` as `kubectl ws`.
    let help = kcp.kubectl_plugin(&["kcp", "--help"]);
    assert!(help.ok().contains("bind") && help.stdout.contains("workspace"), "{}", help.stdout);
    assert!(kcp.kubectl_plugin(&["kcp", "bind", "apiexport", "--help"]).ok().contains("--accept-permission-claim"));
    assert_eq!(kcp.kubectl_plugin(&["kcp", "ws", "."]).ok().trim(), "Current workspace is \"root\".");
}

#[test]
fn bind_apiexport_waits_until_bound() {
    let kcp = Install::start();
    create_ready(&kcp, "root", "prov", None);
    create_ready(&kcp, "root", "cons", None);
    kcp.kubectl_in_stdin("root:prov", &["create", "-f", "-"], crate::apis::SCHEMA).ok();
    let export = "apiVersion: apis.kcp.io/v1alpha2\nkind: APIExport\nmetadata:\n  name: widgets\nspec:\n  resources:\n  - {name: widgets, group: example.io, schema: today.widgets.example.io, storage: {crd: {}}}\n";
    kcp.kubectl_in_stdin("root:prov", &["create", "-f", "-"], export).ok();

    let bound = bind(&kcp, &kcp.kubeconfig, &["root:prov:widgets", "-w", ":root:cons"]);
    assert_eq!(bound.ok(), "apibinding widgets created. Waiting to successfully bind ...\nwidgets created and bound.\n", "{}", bound.stderr);
    let binding = kcp.kubectl_in("root:cons", &["get", "apibinding", "widgets", "-o", "json"]).json();
    assert_eq!(binding["status"]["phase"], "Bound");
    kcp.kubectl_in("root:cons", &["get", "widgets"]).ok();
}
