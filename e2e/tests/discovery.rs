//! Discovery as kubectl users see it: `version`, `api-resources`, `api-versions` and `explain`,
//! for built-ins and for a CRD that exists in one logical cluster only.

use std::sync::OnceLock;

use e2e::Install;

const CRD: &str = include_str!("testdata/widgets-crd.yaml");

/// One install: the widgets CRD in `root`, and a second logical cluster `second` without it
/// (also used by [`crate::kubectl_versions`]).
pub(crate) fn kcp() -> &'static Install {
    static KCP: OnceLock<Install> = OnceLock::new();
    Install::shared(&KCP, |kcp| {
        kcp.logical_cluster("second");
        kcp.kubectl_stdin(&["apply", "-f", "-"], Some(CRD)).ok();
        kcp.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s"]).ok();
    })
}

/// `api-resources` rows split into cells, keyed by NAME and APIVERSION.
fn resource_rows(out: &str) -> Vec<Vec<String>> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or_default();
    // Columns are left-aligned at the header's offsets; SHORTNAMES may be blank.
    let starts: Vec<usize> = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
        .iter()
        .map(|h| header.find(h).unwrap_or_else(|| panic!("no {h} column in {header}")))
        .collect();
    lines
        .map(|l| {
            (0..starts.len())
                .map(|i| {
                    let end = starts.get(i + 1).copied().unwrap_or(l.len()).min(l.len());
                    l.get(starts[i]..end).unwrap_or_default().trim().to_string()
                })
                .collect()
        })
        .collect()
}

#[test]
fn version_reports_kubernetes_1_32() {
    let kcp = kcp();
    let json = kcp.kubectl(&["version", "-o", "json"]);
    let v = json.json();
    assert_eq!(v["serverVersion"]["major"], "1", "{v}");
    assert_eq!(v["serverVersion"]["minor"], "32", "{v}");
    assert!(v["serverVersion"]["gitVersion"].as_str().is_some_and(|g| g.starts_with("v1.32.")), "{v}");
    // Built from a git checkout: the commit and its date are filled in at build time.
    assert!(v["serverVersion"]["gitCommit"].as_str().is_some_and(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit())), "{v}");
    assert!(v["serverVersion"]["buildDate"].as_str().is_some_and(|d| d.len() == 20 && d.ends_with('Z')), "{v}");
    assert!(matches!(v["serverVersion"]["gitTreeState"].as_str(), Some("clean" | "dirty")), "{v}");
    // The dispatcher picked the matching client: no skew warning.
    assert!(!json.stderr.contains("WARNING"), "{}", json.stderr);
    for cluster in ["root", "second"] {
        let text = kcp.kubectl_in(cluster, &["version"]);
        let server = text.ok().lines().find(|l| l.starts_with("Server Version: ")).map(str::to_string);
        assert_eq!(server.as_deref().map(|l| l.starts_with("Server Version: v1.32.")), Some(true), "{}", text.stdout);
    }
}

#[test]
fn api_resources_lists_builtins_in_every_cluster() {
    let kcp = kcp();
    let expected: &[[&str; 5]] = &[
        ["configmaps", "cm", "v1", "true", "ConfigMap"],
        ["namespaces", "ns", "v1", "false", "Namespace"],
        ["secrets", "", "v1", "true", "Secret"],
        ["serviceaccounts", "sa", "v1", "true", "ServiceAccount"],
        ["customresourcedefinitions", "crd,crds", "apiextensions.k8s.io/v1", "false", "CustomResourceDefinition"],
        ["selfsubjectreviews", "", "authentication.k8s.io/v1", "false", "SelfSubjectReview"],
        ["selfsubjectaccessreviews", "", "authorization.k8s.io/v1", "false", "SelfSubjectAccessReview"],
        ["leases", "", "coordination.k8s.io/v1", "true", "Lease"],
        ["clusterrolebindings", "", "rbac.authorization.k8s.io/v1", "false", "ClusterRoleBinding"],
        ["clusterroles", "", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"],
        ["rolebindings", "", "rbac.authorization.k8s.io/v1", "true", "RoleBinding"],
        ["roles", "", "rbac.authorization.k8s.io/v1", "true", "Role"],
    ];
    for cluster in ["root", "second"] {
        let out = kcp.kubectl_in(cluster, &["api-resources"]);
        let header: Vec<&str> = out.ok().lines().next().unwrap_or_default().split_whitespace().collect();
        assert_eq!(header, ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]);
        let rows = resource_rows(&out.stdout);
        for want in expected {
            assert!(rows.iter().any(|r| r == want), "{cluster}: no row {want:?} in\n{}", out.stdout);
        }
        let rbac = kcp.kubectl_in(cluster, &["api-resources", "--api-group=rbac.authorization.k8s.io", "-o", "name"]);
        assert_eq!(
            rbac.ok(),
            "clusterrolebindings.rbac.authorization.k8s.io\nclusterroles.rbac.authorization.k8s.io\n\
             rolebindings.rbac.authorization.k8s.io\nroles.rbac.authorization.k8s.io\n"
        );
    }
}

#[test]
fn crd_resources_appear_only_in_their_cluster() {
    let kcp = kcp();
    let root = kcp.kubectl(&["api-resources", "--api-group=example.com"]);
    assert_eq!(resource_rows(root.ok()), [["widgets", "wd", "example.com/v1", "true", "Widget"]], "{}", root.stdout);
    let second = kcp.kubectl_in("second", &["api-resources", "--api-group=example.com"]);
    assert!(resource_rows(second.ok()).is_empty(), "{}", second.stdout);
    let all = kcp.kubectl_in("second", &["api-resources", "-o", "name"]);
    assert!(!all.ok().contains("example.com"), "{}", all.stdout);

    assert!(kcp.kubectl(&["api-versions"]).ok().lines().any(|l| l == "example.com/v1"));
    let versions = kcp.kubectl_in("second", &["api-versions"]);
    assert!(!versions.ok().lines().any(|l| l == "example.com/v1"), "{}", versions.stdout);
}

#[test]
fn api_versions_lists_group_versions() {
    let kcp = kcp();
    for cluster in ["root", "second"] {
        let out = kcp.kubectl_in(cluster, &["api-versions"]);
        let lines: Vec<&str> = out.ok().lines().collect();
        for gv in [
            "v1",
            "apiextensions.k8s.io/v1",
            "authentication.k8s.io/v1",
            "authorization.k8s.io/v1",
            "coordination.k8s.io/v1",
            "events.k8s.io/v1",
            "rbac.authorization.k8s.io/v1",
        ] {
            assert!(lines.contains(&gv), "{cluster}: {gv} missing: {}", out.stdout);
        }
        let mut sorted = lines.clone();
        sorted.sort_unstable();
        assert_eq!(lines, sorted, "kubectl prints api-versions sorted");
    }
}

#[test]
fn explain_builtin_kinds() {
    let kcp = kcp();
    let out = kcp.kubectl_in("second", &["explain", "configmap"]);
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(
        &lines[..5],
        ["KIND:       ConfigMap", "VERSION:    v1", "", "DESCRIPTION:", "    ConfigMap holds configuration data for pods to consume."],
        "{}",
        out.stdout
    );
    for field in
        ["  apiVersion\t<string>", "  binaryData\t<map[string]string>", "  data\t<map[string]string>", "  immutable\t<boolean>", "  metadata\t<ObjectMeta>"]
    {
        assert!(lines.contains(&field), "no {field:?} in\n{}", out.stdout);
    }
    let data = kcp.kubectl(&["explain", "configmap.data"]);
    assert!(data.ok().contains("FIELD: data <map[string]string>"), "{}", data.stdout);
    let role = kcp.kubectl(&["explain", "role.rules.verbs"]);
    assert!(role.ok().contains("GROUP:      rbac.authorization.k8s.io\nKIND:       Role\nVERSION:    v1"), "{}", role.stdout);
}

#[test]
fn explain_crd_spec() {
    let kcp = kcp();
    let out = kcp.kubectl(&["explain", "widgets.spec"]);
    let text = out.ok();
    assert!(text.starts_with("GROUP:      example.com\nKIND:       Widget\nVERSION:    v1\n\nFIELD: spec <Object>\n"), "{text}");
    assert!(text.contains("DESCRIPTION:\n    What the widget should look like.\n"), "{text}");
    assert!(text.contains("  size\t<string> -required-\n  enum: small, medium, large\n    How big the widget is.\n"), "{text}");
    assert!(text.contains("  replicas\t<integer>\n"), "{text}");
    assert!(text.contains("  color\t<string>\n"), "{text}");
    let other = kcp.kubectl_in("second", &["explain", "widgets.spec"]);
    assert_eq!(other.fails().trim(), "the server doesn't have a resource type \"widgets\"");
}

#[test]
fn explain_openapiv2_per_workspace() {
    let kcp = kcp();
    let out = kcp.kubectl(&["explain", "configmaps", "--output=plaintext-openapiv2"]);
    let text = out.ok();
    assert!(text.starts_with("KIND:     ConfigMap\nVERSION:  v1\n\nDESCRIPTION:\n     ConfigMap holds configuration data for pods to consume.\n"), "{text}");
    assert!(text.contains("   data\t<map[string]string>\n"), "{text}");
    let crd = kcp.kubectl(&["explain", "widgets.spec.size", "--output=plaintext-openapiv2"]);
    assert!(crd.ok().starts_with("KIND:     Widget\nVERSION:  example.com/v1\n\nFIELD:    size <string>\n"), "{}", crd.stdout);
    let other = kcp.kubectl_in("second", &["explain", "widgets", "--output=plaintext-openapiv2"]);
    assert_eq!(other.fails().trim(), "the server doesn't have a resource type \"widgets\"");

    // The documents themselves differ, not only discovery: a CRD is defined in its own
    // workspace's document only. (`get --raw` ignores the server's path, so it names the cluster.)
    let defines_widget = |cluster: &str| {
        let doc = kcp.kubectl(&["get", "--raw", &format!("/clusters/{cluster}/openapi/v2")]).json();
        assert_eq!(doc["swagger"], "2.0");
        assert!(doc["definitions"]["io.k8s.api.core.v1.ConfigMap"]["x-kubernetes-group-version-kind"].is_array());
        let gvk = serde_json::json!([{"group": "example.com", "kind": "Widget", "version": "v1"}]);
        doc["definitions"].as_object().expect("definitions").values().any(|d| d["x-kubernetes-group-version-kind"] == gvk)
    };
    assert!(defines_widget("root"));
    assert!(!defines_widget("second"));
}
