//! Authentication and the isolation of logical clusters.

use std::process::Command;

use e2e::Install;

fn with_tokens() -> Install {
    Install::with_tokens("alice-token,alice,1001,\"dev\"\nbob-token,bob,1002\n")
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

    let mine = kcp.kubectl_token("alice-token", "root", &["get", "configmaps", "-o", "name"]);
    assert!(mine.ok().contains("configmap/visible"), "{}", mine.stdout);
    let denied = kcp.kubectl_token("alice-token", "root", &["create", "configmap", "nope"]);
    assert_eq!(
        denied.fails(),
        "error: failed to create configmap: configmaps is forbidden: User \"alice\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\"\n"
    );
    let other = kcp.kubectl_token("alice-token", "other", &["get", "configmaps"]);
    assert_eq!(
        other.fails(),
        "Error from server (Forbidden): configmaps is forbidden: User \"alice\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"default\"\n"
    );
    let secrets = kcp.kubectl_token("alice-token", "root", &["get", "secrets"]);
    assert_eq!(
        secrets.fails(),
        "Error from server (Forbidden): secrets is forbidden: User \"alice\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\"\n"
    );
    assert_eq!(kcp.kubectl_token("alice-token", "root", &["auth", "can-i", "list", "configmaps"]).ok().trim(), "yes");
    assert_eq!(kcp.kubectl_token("alice-token", "other", &["auth", "can-i", "list", "configmaps"]).stdout.trim(), "no");
    // Without workspace access, the rules review lists only what alice can really do there.
    let rules = kcp.kubectl_token("alice-token", "other", &["auth", "can-i", "--list"]);
    let listed: Vec<&str> = rules.ok().lines().skip(1).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(
        listed,
        ["selfsubjectreviews.authentication.k8s.io", "selfsubjectaccessreviews.authorization.k8s.io", "selfsubjectrulesreviews.authorization.k8s.io"],
        "{}",
        rules.stdout
    );
    let whoami = kcp.kubectl_token("alice-token", "other", &["auth", "whoami"]);
    assert_eq!(whoami.ok(), "ATTRIBUTE   VALUE\nUsername    alice\nUID         1001\nGroups      [dev system:authenticated]\n");

    // The other direction: bob holds a Role (and workspace access) only in the other cluster.
    kcp.kubectl_in("other", &["create", "rolebinding", "bob-cm", "--role=cm-reader", "--user=bob"]).ok();
    kcp.kubectl_in("other", &["create", "clusterrolebinding", "bob-access", "--clusterrole=system:kcp:workspace:access", "--user=bob"]).ok();
    kcp.kubectl_in("other", &["create", "configmap", "theirs"]).ok();
    assert_eq!(kcp.kubectl_token("bob-token", "other", &["get", "configmaps", "theirs", "-o", "name"]).ok(), "configmap/theirs\n");
    let root = kcp.kubectl_token("bob-token", "root", &["get", "configmaps", "visible"]);
    assert_eq!(
        root.fails(),
        "Error from server (Forbidden): configmaps \"visible\" is forbidden: User \"bob\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"default\"\n"
    );
    // A ClusterRole granted in the other cluster grants nothing in root either.
    kcp.kubectl_in("other", &["create", "clusterrolebinding", "bob-admin", "--clusterrole=cluster-admin", "--user=bob"]).ok();
    kcp.kubectl_token("bob-token", "other", &["get", "secrets"]).ok();
    assert!(kcp.kubectl_token("bob-token", "root", &["get", "secrets"]).fails().starts_with("Error from server (Forbidden): "));

    // Escalation: alice cannot grant herself more than she holds.
    kcp.kubectl(&["create", "role", "rbac-writer", "--verb=create", "--resource=roles.rbac.authorization.k8s.io"]).ok();
    kcp.kubectl(&["create", "rolebinding", "alice-rbac", "--role=rbac-writer", "--user=alice"]).ok();
    let esc = kcp.kubectl_token("alice-token", "root", &["create", "role", "more", "--verb=get", "--resource=secrets"]);
    assert!(esc.fails().contains("is attempting to grant RBAC permissions not currently held"), "{}", esc.stderr);
    kcp.kubectl_token("alice-token", "root", &["create", "role", "same", "--verb=get", "--resource=configmaps"]).ok();
}

#[test]
fn bad_credentials_are_unauthorized() {
    let kcp = with_tokens();
    // With a cold discovery cache kubectl words a 401 differently ("the server has asked for
    // the client to provide credentials"); warm it as the admin so the list itself gets the 401.
    kcp.kubectl(&["get", "configmaps"]).ok();
    kcp.kubectl(&["--context", "system:admin", "get", "configmaps"]).ok();
    for cluster in ["root", "system:admin"] {
        let wrong = kcp.kubectl_token("wrong-token", cluster, &["get", "configmaps"]);
        assert_eq!(wrong.fails(), "error: You must be logged in to the server (Unauthorized)\n");
    }

    // A client certificate signed by a CA the server does not trust is refused.
    let dir = tempfile::tempdir().expect("dir");
    let p = |f: &str| dir.path().join(f).to_str().expect("utf-8").to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().expect("openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.crt"),
        "-subj",
        "/CN=evil-ca",
        "-days",
        "1",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p("u.key"),
        "-out",
        &p("u.csr"),
        "-subj",
        "/CN=mallory/O=system:masters",
    ]);
    // A v3 certificate, as any real CA issues (rustls cannot parse v1 certificates at all).
    std::fs::write(p("ext.cnf"), "extendedKeyUsage=clientAuth\n").expect("extension file");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("u.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-out",
        &p("u.crt"),
        "-days",
        "1",
        "-extfile",
        &p("ext.cnf"),
    ]);
    let forged = kcp.kubectl_as(serde_json::json!({"client-certificate": p("u.crt"), "client-key": p("u.key")}), "root", &["get", "configmaps"]);
    // As kube-apiserver does: the TLS handshake accepts any client certificate, and the
    // authenticator answers 401 for one it cannot verify.
    assert_eq!(forged.fails(), "error: You must be logged in to the server (Unauthorized)\n");
}
