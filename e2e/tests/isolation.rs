//! Authentication and the isolation of logical clusters.

use std::process::Command;

use e2e::Install;

fn with_tokens() -> Install {
    let dir = tempfile::tempdir().expect("dir");
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "alice-token,alice,1001,\"dev\"\nbob-token,bob,1002\n").expect("token file");
    Install::start_with(dir, &["--token-auth-file", tokens.to_str().expect("utf-8 path")])
}

fn as_token(kcp: &Install, token: &str, cluster: &str, args: &[&str]) -> e2e::Run {
    kcp.kubectl_as(serde_json::json!({"token": token}), cluster, args)
}

#[test]
fn role_in_one_cluster_grants_nothing_in_another() {
    let kcp = with_tokens();
    kcp.logical_cluster("other");
    kcp.kubectl(&["create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps"]).ok();
    kcp.kubectl(&["create", "rolebinding", "alice-cm", "--role=cm-reader", "--user=alice"]).ok();
    kcp.kubectl(&["create", "configmap", "visible"]).ok();
    // The same role and binding names in the other cluster, bound to nobody.
    kcp.kubectl_in("other", &["create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps"]).ok();

    let mine = as_token(&kcp, "alice-token", "root", &["get", "configmaps", "-o", "name"]);
    assert!(mine.ok().contains("configmap/visible"), "{}", mine.stdout);
    let denied = as_token(&kcp, "alice-token", "root", &["create", "configmap", "nope"]);
    assert!(denied.fails().contains("configmaps is forbidden: User \"alice\" cannot create resource \"configmaps\""), "{}", denied.stderr);
    let other = as_token(&kcp, "alice-token", "other", &["get", "configmaps"]);
    assert!(other.fails().contains("Error from server (Forbidden)"), "{}", other.stderr);
    let secrets = as_token(&kcp, "alice-token", "root", &["get", "secrets"]);
    assert!(secrets.fails().contains("Forbidden"), "{}", secrets.stderr);
    assert_eq!(as_token(&kcp, "alice-token", "root", &["auth", "can-i", "list", "configmaps"]).ok().trim(), "yes");
    assert_eq!(as_token(&kcp, "alice-token", "other", &["auth", "can-i", "list", "configmaps"]).stdout.trim(), "no");
    let whoami = as_token(&kcp, "bob-token", "root", &["auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}"]);
    assert_eq!(whoami.ok(), r#"["system:authenticated"]"#);

    // Escalation: alice cannot grant herself more than she holds.
    kcp.kubectl(&["create", "role", "rbac-writer", "--verb=create", "--resource=roles.rbac.authorization.k8s.io"]).ok();
    kcp.kubectl(&["create", "rolebinding", "alice-rbac", "--role=rbac-writer", "--user=alice"]).ok();
    let esc = as_token(&kcp, "alice-token", "root", &["create", "role", "more", "--verb=get", "--resource=secrets"]);
    assert!(esc.fails().contains("is attempting to grant RBAC permissions not currently held"), "{}", esc.stderr);
    as_token(&kcp, "alice-token", "root", &["create", "role", "same", "--verb=get", "--resource=configmaps"]).ok();
}

#[test]
fn bad_credentials_are_unauthorized() {
    let kcp = with_tokens();
    let wrong = as_token(&kcp, "wrong-token", "root", &["get", "configmaps"]);
    assert!(wrong.fails().contains("error: You must be logged in to the server"), "{}", wrong.stderr);

    // A client certificate signed by a CA the server does not trust is refused.
    let dir = tempfile::tempdir().expect("dir");
    let p = |f: &str| dir.path().join(f).to_str().expect("utf-8").to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().expect("openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &p("ca.key"), "-out", &p("ca.crt"), "-subj", "/CN=evil-ca", "-days", "1"]);
    openssl(&["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", &p("u.key"), "-out", &p("u.csr"), "-subj", "/CN=mallory/O=system:masters"]);
    openssl(&["x509", "-req", "-in", &p("u.csr"), "-CA", &p("ca.crt"), "-CAkey", &p("ca.key"), "-CAcreateserial", "-out", &p("u.crt"), "-days", "1"]);
    let forged = kcp.kubectl_as(serde_json::json!({"client-certificate": p("u.crt"), "client-key": p("u.key")}), "root", &["get", "configmaps"]);
    assert_ne!(forged.code, 0, "a certificate from an untrusted CA was accepted: {}", forged.stdout);
    assert!(!forged.stdout.contains("NAME"), "{}", forged.stdout);
}
