//! Everyday work on built-in objects (namespaces, configmaps, secrets, serviceaccounts, RBAC,
//! leases) in two logical clusters: create, get in every output, apply, patch, label, annotate,
//! replace, delete, `auth`. Every test runs its scenario in `root` and in `second`, each in a
//! namespace of its own, on one shared install.

use std::sync::OnceLock;
use std::time::Duration;

use e2e::{eventually, Install, Run};

const CLUSTERS: [&str; 2] = ["root", "second"];

fn kcp() -> &'static Install {
    static KCP: OnceLock<Install> = OnceLock::new();
    Install::shared(&KCP, |kcp| kcp.logical_cluster("second"))
}

/// A namespace in one logical cluster: every kubectl call is scoped to both.
pub struct Ns {
    pub kcp: &'static Install,
    pub cluster: &'static str,
    pub ns: String,
}

impl Ns {
    /// Runs kubectl in this cluster and namespace.
    pub fn k(&self, args: &[&str]) -> Run {
        let mut full = vec!["-n", self.ns.as_str()];
        full.extend_from_slice(args);
        self.kcp.kubectl_in(self.cluster, &full)
    }

    /// Runs kubectl in this cluster and namespace with `stdin`.
    pub fn k_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut full = vec!["-n", self.ns.as_str()];
        full.extend_from_slice(args);
        self.kcp.kubectl_in_stdin(self.cluster, &full, stdin)
    }

    /// Cluster-scoped names must not collide between tests.
    pub fn unique(&self, name: &str) -> String {
        format!("{}-{name}", self.ns)
    }
}

/// Runs `scenario` in a fresh namespace `ns` of each logical cluster; the namespace is created
/// with kubectl's protobuf-posting generator.
fn in_each_cluster(ns: &str, scenario: impl Fn(&Ns)) {
    for cluster in CLUSTERS {
        let kcp = kcp();
        assert_eq!(kcp.kubectl_in(cluster, &["create", "namespace", ns]).ok(), format!("namespace/{ns} created\n"));
        scenario(&Ns { kcp, cluster, ns: ns.to_string() });
    }
}

/// Output lines split into cells; `*` in `want` matches any cell (ages).
#[track_caller]
fn assert_table(out: &str, want: &[&[&str]]) {
    let got: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    let matches = got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.len() == w.len() && g.iter().zip(*w).all(|(c, e)| *e == "*" || c == e));
    assert!(matches, "table mismatch\nwant: {want:?}\ngot:\n{out}");
}

#[test]
fn typed_generators_post_protobuf() {
    in_each_cluster("gen", |n| {
        let cr = n.unique("cr");
        let crb = n.unique("crb");
        let creates: [(&[&str], String); 7] = [
            (&["create", "configmap", "c", "--from-literal=a=1", "--from-literal=b=2"], "configmap/c created".into()),
            (&["create", "secret", "generic", "s", "--from-literal=user=admin"], "secret/s created".into()),
            (&["create", "serviceaccount", "robot"], "serviceaccount/robot created".into()),
            (&["create", "role", "reader", "--verb=get,list", "--resource=configmaps"], "role.rbac.authorization.k8s.io/reader created".into()),
            (
                &["create", "rolebinding", "rb", "--role=reader", "--serviceaccount=gen:robot", "--user=alice"],
                "rolebinding.rbac.authorization.k8s.io/rb created".into(),
            ),
            (&["create", "clusterrole", &cr, "--verb=get", "--resource=namespaces"], format!("clusterrole.rbac.authorization.k8s.io/{cr} created")),
            (
                &["create", "clusterrolebinding", &crb, &format!("--clusterrole={cr}"), "--group=devs"],
                format!("clusterrolebinding.rbac.authorization.k8s.io/{crb} created"),
            ),
        ];
        for (args, want) in creates {
            assert_eq!(n.k(args).ok().trim(), want, "{} {args:?}", n.cluster);
        }
        let secret = n.k(&["get", "secret", "s", "-o", "json"]).json();
        assert_eq!(secret["data"], serde_json::json!({"user": "YWRtaW4="}));
        assert_eq!(secret["type"], "Opaque");
        let role = n.k(&["get", "role", "reader", "-o", "json"]).json();
        assert_eq!(role["rules"], serde_json::json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]));

        assert_table(n.k(&["get", "configmap", "c"]).ok(), &[&["NAME", "DATA", "AGE"], &["c", "2", "*"]]);
        assert_table(n.k(&["get", "secret", "s"]).ok(), &[&["NAME", "TYPE", "DATA", "AGE"], &["s", "Opaque", "1", "*"]]);
        assert_table(n.k(&["get", "sa", "robot"]).ok(), &[&["NAME", "SECRETS", "AGE"], &["robot", "0", "*"]]);
        assert_table(n.k(&["get", "role", "reader"]).ok(), &[&["NAME", "CREATED", "AT"], &["reader", "*"]]);
        assert_table(n.k(&["get", "rolebinding", "rb"]).ok(), &[&["NAME", "ROLE", "AGE"], &["rb", "Role/reader", "*"]]);
        assert_table(
            n.k(&["get", "rolebinding", "rb", "-o", "wide"]).ok(),
            &[&["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"], &["rb", "Role/reader", "*", "alice", "gen/robot"]],
        );
        assert_table(
            n.k(&["get", "clusterrolebinding", &crb, "-o", "wide"]).ok(),
            &[&["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"], &[&crb, &format!("ClusterRole/{cr}"), "*", "devs"]],
        );
        assert_table(n.k(&["get", "namespace", "gen"]).ok(), &[&["NAME", "STATUS", "AGE"], &["gen", "Active", "*"]]);
    });
}

#[test]
fn get_in_every_output() {
    in_each_cluster("outputs", |n| {
        let m = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  labels:\n    app: web\n    tier: fe\ndata:\n  k: v\n";
        n.k_stdin(&["create", "-f", "-"], m).ok();
        n.k(&["create", "configmap", "other", "--from-literal=a=1", "--from-literal=b=2"]).ok();
        n.k(&["create", "secret", "generic", "opaque", "--from-literal=a=1"]).ok();
        n.k(&["create", "secret", "generic", "basic", "--type=kubernetes.io/basic-auth", "--from-literal=username=u"]).ok();

        let cms: &[&[&str]] = &[&["NAME", "DATA", "AGE"], &["kube-root-ca.crt", "1", "*"], &["other", "2", "*"], &["web", "1", "*"]];
        assert_table(n.k(&["get", "cm"]).ok(), cms);
        assert_table(n.k(&["get", "cm", "-o", "wide"]).ok(), cms);
        assert_table(
            n.k(&["get", "cm", "--show-labels"]).ok(),
            &[
                &["NAME", "DATA", "AGE", "LABELS"],
                &["kube-root-ca.crt", "1", "*", "<none>"],
                &["other", "2", "*", "<none>"],
                &["web", "1", "*", "app=web,tier=fe"],
            ],
        );
        assert_table(
            n.k(&["get", "cm", "-L", "app"]).ok(),
            &[&["NAME", "DATA", "AGE", "APP"], &["kube-root-ca.crt", "1", "*"], &["other", "2", "*"], &["web", "1", "*", "web"]],
        );
        assert_eq!(n.k(&["get", "cm", "-o", "name"]).ok(), "configmap/kube-root-ca.crt\nconfigmap/other\nconfigmap/web\n");
        // Label selectors: every operator.
        for (sel, want) in [
            ("app=web", "configmap/web\n"),
            ("app!=web", "configmap/kube-root-ca.crt\nconfigmap/other\n"),
            ("app in (web,db)", "configmap/web\n"),
            ("app notin (web)", "configmap/kube-root-ca.crt\nconfigmap/other\n"),
            ("tier", "configmap/web\n"),
            ("!tier", "configmap/kube-root-ca.crt\nconfigmap/other\n"),
            ("app=web,tier=be", ""),
        ] {
            assert_eq!(n.k(&["get", "cm", "-l", sel, "-o", "name"]).ok(), want, "{} -l {sel}", n.cluster);
        }
        let none = n.k(&["get", "cm", "-l", "app=nothing"]);
        assert_eq!(none.ok(), "");
        assert_eq!(none.stderr.trim(), "No resources found in outputs namespace.");
        // Field selectors: metadata fields on every type, and a Secret's type.
        assert_eq!(n.k(&["get", "cm", "--field-selector", "metadata.name=other", "-o", "name"]).ok(), "configmap/other\n");
        assert_eq!(n.k(&["get", "cm", "--field-selector", "metadata.name!=other", "-o", "name"]).ok(), "configmap/kube-root-ca.crt\nconfigmap/web\n");
        assert_eq!(n.k(&["get", "secrets", "--field-selector", "type=kubernetes.io/basic-auth", "-o", "name"]).ok(), "secret/basic\n");
        assert_eq!(n.k(&["get", "secrets", "--field-selector", "type=Opaque", "-o", "name"]).ok(), "secret/opaque\n");
        assert_eq!(
            n.kcp.kubectl_in(n.cluster, &["get", "cm", "-A", "--field-selector", "metadata.namespace=outputs", "-o", "name"]).ok(),
            "configmap/kube-root-ca.crt\nconfigmap/other\nconfigmap/web\n"
        );
        // -A: the NAMESPACE column comes from the rows' objects.
        assert_table(
            n.kcp.kubectl_in(n.cluster, &["get", "cm", "-A", "-l", "app=web"]).ok(),
            &[&["NAMESPACE", "NAME", "DATA", "AGE"], &["outputs", "web", "1", "*"]],
        );
        // Structured outputs carry the whole object.
        let json = n.k(&["get", "cm", "web", "-o", "json"]).json();
        assert_eq!(json["apiVersion"], "v1");
        assert_eq!(json["kind"], "ConfigMap");
        assert_eq!(json["metadata"]["namespace"], "outputs");
        assert_eq!(json["data"], serde_json::json!({"k": "v"}));
        for field in ["uid", "resourceVersion", "creationTimestamp"] {
            assert!(json["metadata"][field].as_str().is_some_and(|v| !v.is_empty()), "{field}: {json}");
        }
        let yaml = n.k(&["get", "cm", "web", "-o", "yaml"]);
        assert!(yaml.ok().starts_with("apiVersion: v1\ndata:\n  k: v\nkind: ConfigMap\nmetadata:\n"), "{}", yaml.stdout);
        assert!(yaml.stdout.contains(&format!("  uid: {}\n", json["metadata"]["uid"].as_str().unwrap_or_default())));
        let list = n.k(&["get", "cm", "-o", "json"]).json();
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"][1]["kind"], "ConfigMap");
        assert_eq!(n.k(&["get", "cm", "-o", "jsonpath={.items[*].metadata.name}"]).ok(), "kube-root-ca.crt other web");
        // Paging with continue tokens returns everything once.
        assert_eq!(
            n.k(&["get", "cm,secrets", "--chunk-size=1", "-o", "name"]).ok(),
            "configmap/kube-root-ca.crt\nconfigmap/other\nconfigmap/web\nsecret/basic\nsecret/opaque\n"
        );
    });
}

#[test]
fn unsupported_field_selector_is_a_bad_request() {
    in_each_cluster("fieldsel", |n| {
        // kubectl itself prefixes "Unable to find ... that match ...": the server's message is
        // only the reason, as kube-apiserver's is.
        let bad = n.k(&["get", "cm", "--field-selector", "spec.foo=bar"]);
        assert_eq!(
            bad.fails().trim(),
            "Error from server (BadRequest): Unable to find \"/v1, Resource=configmaps\" that match label selector \"\", field selector \"spec.foo=bar\": field label not supported: spec.foo"
        );
        let raw = n
            .kcp
            .kubectl_in(n.cluster, &["get", "--raw", &format!("/clusters/{}/api/v1/namespaces/fieldsel/configmaps?fieldSelector=spec.foo%3Dbar", n.cluster)]);
        assert_eq!(raw.fails().trim(), "Error from server (BadRequest): field label not supported: spec.foo");
    });
}

#[test]
fn apply_created_configured_unchanged() {
    in_each_cluster("apply", |n| {
        let docs = [
            ("configmap/web", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  k: ", "\n"),
            // stringData is folded into data on the server, so a manifest with it would be
            // `configured` on every apply (as with Kubernetes); data stays comparable.
            ("secret/creds", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  password: ", "\n"),
            ("serviceaccount/robot", "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: robot\n  labels:\n    v: ", "\n"),
            (
                "role.rbac.authorization.k8s.io/reader",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: reader\nrules:\n- apiGroups: [\"\"]\n  resources: [configmaps]\n  verbs: [get, ",
                "]\n",
            ),
            (
                "rolebinding.rbac.authorization.k8s.io/readers",
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: readers\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: reader\nsubjects:\n- kind: User\n  apiGroup: rbac.authorization.k8s.io\n  name: ",
                "\n",
            ),
            (
                "lease.coordination.k8s.io/leader",
                "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: leader\nspec:\n  leaseDurationSeconds: 15\n  holderIdentity: ",
                "\n",
            ),
        ];
        for (name, head, tail) in docs {
            // Secret data must be base64: "b25l" and "dHdv" are "one" and "two".
            let (one, two) = if name.starts_with("secret/") { ("b25l", "dHdv") } else { ("one", "two") };
            let apply = |v: &str| n.k_stdin(&["apply", "-f", "-"], &format!("{head}{v}{tail}"));
            assert_eq!(apply(one).ok(), format!("{name} created\n"), "{}", n.cluster);
            assert_eq!(apply(one).ok(), format!("{name} unchanged\n"), "{}", n.cluster);
            assert_eq!(apply(two).ok(), format!("{name} configured\n"), "{}", n.cluster);
            let got = n.k(&["get", name, "-o", "json"]).json();
            assert!(got.to_string().contains(two), "{name}: {got}");
            assert!(got["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].is_string(), "{got}");
        }
        // A namespace (cluster-scoped) applies the same way.
        let ns = n.unique("applied");
        let doc = |v: &str| format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    v: {v}\n");
        let apply = |v: &str| n.kcp.kubectl_in_stdin(n.cluster, &["apply", "-f", "-"], &doc(v));
        assert_eq!(apply("one").ok(), format!("namespace/{ns} created\n"));
        assert_eq!(apply("one").ok(), format!("namespace/{ns} unchanged\n"));
        assert_eq!(apply("two").ok(), format!("namespace/{ns} configured\n"));
        // Applying to an object made by `create` warns, then patches.
        n.k(&["create", "configmap", "made"]).ok();
        let adopt = n.k_stdin(&["apply", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: made\ndata:\n  a: b\n");
        assert_eq!(adopt.ok(), "configmap/made configured\n");
        assert!(adopt.stderr.contains("is missing the kubectl.kubernetes.io/last-applied-configuration annotation"), "{}", adopt.stderr);
    });
}

#[test]
fn server_side_apply_with_conflicts() {
    in_each_cluster("ssa", |n| {
        let cm = |v: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  x: \"{v}\"\n");
        assert_eq!(n.k_stdin(&["apply", "--server-side", "-f", "-"], &cm("1")).ok(), "configmap/shared serverside-applied\n");
        assert_eq!(n.k_stdin(&["apply", "--server-side", "-f", "-"], &cm("1")).ok(), "configmap/shared serverside-applied\n");
        let conflict = n.k_stdin(&["apply", "--server-side", "--field-manager=other", "-f", "-"], &cm("2"));
        let msg = conflict.fails();
        assert!(msg.starts_with("error: Apply failed with 1 conflict: conflict with \"kubectl\": .data.x\n"), "{msg}");
        assert!(msg.contains("--force-conflicts"), "{msg}");
        assert_eq!(n.k(&["get", "cm", "shared", "-o", "jsonpath={.data.x}"]).ok(), "1");
        assert_eq!(
            n.k_stdin(&["apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-"], &cm("2")).ok(),
            "configmap/shared serverside-applied\n"
        );
        let obj = n.k(&["get", "cm", "shared", "-o", "json", "--show-managed-fields"]).json();
        assert_eq!(obj["data"]["x"], "2");
        let managers: Vec<&str> = obj["metadata"]["managedFields"].as_array().into_iter().flatten().filter_map(|m| m["manager"].as_str()).collect();
        assert_eq!(managers, ["other"], "{obj}");
        // A second manager owning a different field does not conflict; both fields stay.
        let lease = "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  holderIdentity: a\n";
        n.k_stdin(&["apply", "--server-side", "--field-manager=m1", "-f", "-"], lease).ok();
        let more = "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  leaseDurationSeconds: 30\n";
        n.k_stdin(&["apply", "--server-side", "--field-manager=m2", "-f", "-"], more).ok();
        assert_eq!(n.k(&["get", "lease", "l", "-o", "jsonpath={.spec.holderIdentity} {.spec.leaseDurationSeconds}"]).ok(), "a 30");
    });
}

#[test]
fn patch_strategic_merge_and_json() {
    in_each_cluster("patch", |n| {
        n.k(&["create", "configmap", "c", "--from-literal=a=1"]).ok();
        assert_eq!(n.k(&["patch", "cm", "c", "-p", r#"{"data":{"b":"2"}}"#]).ok(), "configmap/c patched\n");
        assert_eq!(n.k(&["patch", "cm", "c", "--type", "merge", "-p", r#"{"data":{"c":"3","a":null}}"#]).ok(), "configmap/c patched\n");
        assert_eq!(n.k(&["patch", "cm", "c", "--type", "json", "-p", r#"[{"op":"replace","path":"/data/b","value":"two"}]"#]).ok(), "configmap/c patched\n");
        assert_eq!(n.k(&["get", "cm", "c", "-o", "json"]).json()["data"], serde_json::json!({"b": "two", "c": "3"}));
        assert_eq!(n.k(&["patch", "cm", "c", "--type", "merge", "-p", r#"{"data":{"c":"3"}}"#]).ok(), "configmap/c patched (no change)\n");
        let failed = n.k(&["patch", "cm", "c", "--type", "json", "-p", r#"[{"op":"test","path":"/data/c","value":"9"}]"#]);
        assert!(failed.fails().starts_with("The request is invalid"), "{}", failed.stderr);

        // RBAC subjects carry no patch merge key, so a strategic merge replaces the list, as in
        // Kubernetes.
        n.k(&["create", "rolebinding", "rb", "--clusterrole=view", "--user=a"]).ok();
        n.k(&["patch", "rolebinding", "rb", "-p", r#"{"subjects":[{"kind":"User","name":"b","apiGroup":"rbac.authorization.k8s.io"}]}"#]).ok();
        assert_eq!(n.k(&["get", "rolebinding", "rb", "-o", "jsonpath={.subjects[*].name}"]).ok(), "b");
        // `$patch: replace` swaps the whole map under strategic merge.
        n.k(&["patch", "cm", "c", "-p", r#"{"data":{"$patch":"replace","z":"26"}}"#]).ok();
        assert_eq!(n.k(&["get", "cm", "c", "-o", "json"]).json()["data"], serde_json::json!({"z": "26"}));

        n.k_stdin(&["create", "-f", "-"], "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  holderIdentity: a\n").ok();
        assert_eq!(n.k(&["patch", "lease", "l", "--type", "merge", "-p", r#"{"spec":{"holderIdentity":"b"}}"#]).ok(), "lease.coordination.k8s.io/l patched\n");
        assert_table(n.k(&["get", "lease", "l"]).ok(), &[&["NAME", "HOLDER", "AGE"], &["l", "b", "*"]]);
        assert_eq!(n.k(&["get", "leases", "-o", "name"]).ok(), "lease.coordination.k8s.io/l\n");
        n.k(&["create", "secret", "generic", "s", "--from-literal=a=1"]).ok();
        assert_eq!(n.k(&["patch", "secret", "s", "--type", "json", "-p", r#"[{"op":"add","path":"/data/b","value":"Mg=="}]"#]).ok(), "secret/s patched\n");
        assert_eq!(n.k(&["get", "secret", "s", "-o", "jsonpath={.data.b}"]).ok(), "Mg==");
        let gone = n.k(&["patch", "cm", "nothere", "-p", "{}"]);
        assert_eq!(gone.fails().trim(), "Error from server (NotFound): configmaps \"nothere\" not found");
    });
}

#[test]
fn label_and_annotate() {
    in_each_cluster("labels", |n| {
        n.k(&["create", "configmap", "c"]).ok();
        n.k(&["create", "serviceaccount", "sa"]).ok();
        assert_eq!(n.k(&["label", "cm", "c", "tier=fe"]).ok(), "configmap/c labeled\n");
        let again = n.k(&["label", "cm", "c", "tier=be"]);
        assert_eq!(again.fails().trim(), "error: 'tier' already has a value (fe), and --overwrite is false");
        assert_eq!(n.k(&["label", "cm", "c", "tier=be", "--overwrite"]).ok(), "configmap/c labeled\n");
        assert_eq!(n.k(&["get", "cm", "-l", "tier=be", "-o", "name"]).ok(), "configmap/c\n");
        assert_eq!(n.k(&["label", "cm", "c", "tier-"]).ok(), "configmap/c unlabeled\n");
        assert_eq!(n.k(&["label", "sa", "-l", "!team", "--field-selector", "metadata.name=sa", "team=x"]).ok(), "serviceaccount/sa labeled\n");
        assert_eq!(n.k(&["annotate", "cm", "c", "note=hello world"]).ok(), "configmap/c annotated\n");
        assert_eq!(n.k(&["annotate", "sa", "sa", "a=b"]).ok(), "serviceaccount/sa annotated\n");
        let obj = n.k(&["get", "cm", "c", "-o", "json"]).json();
        assert!(obj["metadata"].get("labels").is_none_or(|l| l.get("tier").is_none()), "{obj}");
        assert_eq!(obj["metadata"]["annotations"]["note"], "hello world");
        assert_eq!(n.k(&["get", "sa", "sa", "-o", "jsonpath={.metadata.labels.team}"]).ok(), "x");
    });
}

/// Lists are served from the stored text, and a repeated list of unchanged objects from what
/// the last one served: each must show every write as soon as it is acknowledged.
#[test]
fn repeated_lists_show_every_write() {
    in_each_cluster("relist", |n| {
        let listed = |n: &Ns| {
            let list = n.k(&["get", "configmaps", "-o", "json"]).json();
            let items = list["items"].as_array().expect("items").clone();
            items.into_iter().filter(|i| i["metadata"]["name"] == "c").collect::<Vec<_>>()
        };
        n.k(&["create", "configmap", "c", "--from-literal=v=1"]).ok();
        let first = listed(n);
        assert_eq!(first.len(), 1);
        assert_eq!(listed(n), first, "the same list twice");
        assert_eq!(first[0]["metadata"]["annotations"]["kcp.io/cluster"].as_str().map(|c| c.is_empty()), Some(false));
        n.k(&["patch", "configmap", "c", "-p", r#"{"data":{"v":"2"}}"#]).ok();
        let patched = listed(n);
        assert_eq!(patched[0]["data"]["v"], "2", "{patched:?}");
        assert_ne!(patched[0]["metadata"]["resourceVersion"], first[0]["metadata"]["resourceVersion"]);
        assert_eq!(patched[0], n.k(&["get", "configmap", "c", "-o", "json"]).json());
        n.k(&["delete", "configmap", "c"]).ok();
        assert!(listed(n).is_empty());
        n.k(&["create", "configmap", "c", "--from-literal=v=3"]).ok();
        let again = listed(n);
        assert_eq!(again[0]["data"]["v"], "3");
        assert_ne!(again[0]["metadata"]["uid"], first[0]["metadata"]["uid"]);
    });
}

#[test]
fn replace_and_stale_resource_version() {
    in_each_cluster("replace", |n| {
        n.k(&["create", "configmap", "c", "--from-literal=k=v"]).ok();
        let live = n.k(&["get", "cm", "c", "-o", "yaml"]).ok().to_string();
        assert_eq!(n.k_stdin(&["replace", "-f", "-"], &live.replace("k: v", "k: edited")).ok(), "configmap/c replaced\n");
        // The YAML read before the replace now carries a stale resourceVersion.
        let stale = n.k_stdin(&["replace", "-f", "-"], &live.replace("k: v", "k: lost"));
        assert_eq!(
            stale.fails().trim(),
            "Error from server (Conflict): error when replacing \"STDIN\": Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(n.k(&["get", "cm", "c", "-o", "jsonpath={.data.k}"]).ok(), "edited");
        // Without a resourceVersion, replace fetches the live one.
        let fresh = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  k: fresh\n";
        assert_eq!(n.k_stdin(&["replace", "-f", "-"], fresh).ok(), "configmap/c replaced\n");
        // Secrets: the type is immutable.
        n.k(&["create", "secret", "generic", "s", "--from-literal=a=b"]).ok();
        let s = n.k(&["get", "secret", "s", "-o", "yaml"]).ok().replace("type: Opaque", "type: example.com/other");
        let imm = n.k_stdin(&["replace", "-f", "-"], &s);
        assert_eq!(imm.fails().trim(), "The Secret \"s\" is invalid: type: Invalid value: \"example.com/other\": field is immutable");
        // A role's rules are replaced wholesale.
        n.k(&["create", "role", "r", "--verb=get", "--resource=configmaps"]).ok();
        let r = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\nrules:\n- apiGroups: [coordination.k8s.io]\n  resources: [leases]\n  verbs: [\"*\"]\n";
        assert_eq!(n.k_stdin(&["replace", "-f", "-"], r).ok(), "role.rbac.authorization.k8s.io/r replaced\n");
        assert_eq!(n.k(&["get", "role", "r", "-o", "jsonpath={.rules[*].resources[*]}"]).ok(), "leases");
    });
}

#[test]
fn secrets_fold_string_data_and_check_base64() {
    in_each_cluster("secrets", |n| {
        let doc =
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: hunter2\n  user: override\ndata:\n  user: YWRtaW4=\n  other: eA==\n";
        assert_eq!(n.k_stdin(&["create", "-f", "-"], doc).ok(), "secret/s created\n");
        let s = n.k(&["get", "secret", "s", "-o", "json"]).json();
        // stringData wins over data for the same key and is never stored itself.
        assert_eq!(s["data"], serde_json::json!({"other": "eA==", "password": "aHVudGVyMg==", "user": "b3ZlcnJpZGU="}));
        assert!(s.get("stringData").is_none(), "{s}");
        assert_table(n.k(&["get", "secret", "s"]).ok(), &[&["NAME", "TYPE", "DATA", "AGE"], &["s", "Opaque", "3", "*"]]);

        let bad = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\ndata:\n  user: \"not base64!\"\n";
        let err = n.k_stdin(&["create", "-f", "-"], bad);
        assert!(err.fails().starts_with("The Secret \"bad\" is invalid: data[user]: Invalid value: "), "{}", err.stderr);
        assert!(n.k(&["get", "secret", "bad"]).fails().contains("NotFound"));
        let bad_key = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\nstringData:\n  \"a/b\": x\n";
        let err = n.k_stdin(&["create", "-f", "-"], bad_key);
        assert!(
            err.fails().contains("data[a/b]: Invalid value: \"a/b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"),
            "{}",
            err.stderr
        );
    });
}

#[test]
fn delete_waits_and_cascades() {
    in_each_cluster("delete", |n| {
        n.k(&["create", "configmap", "plain"]).ok();
        assert_eq!(n.k(&["delete", "cm", "plain", "--wait"]).ok(), "configmap \"plain\" deleted\n");
        assert_eq!(n.k(&["get", "cm", "plain"]).fails().trim(), "Error from server (NotFound): configmaps \"plain\" not found");
        assert_eq!(n.k(&["delete", "cm", "plain"]).fails().trim(), "Error from server (NotFound): configmaps \"plain\" not found");
        assert_eq!(n.k(&["delete", "cm", "plain", "--ignore-not-found"]).ok(), "");

        // --wait blocks while a finalizer holds the object and returns once it is removed.
        let held = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers:\n  - example.com/hold\n";
        n.k_stdin(&["create", "-f", "-"], held).ok();
        let mut waiting = n.kcp.background(n.cluster, &["-n", &n.ns, "delete", "cm", "held", "--wait", "--timeout=60s"]);
        waiting.wait_for("delete to print", |l| l.iter().any(|l| l == "configmap \"held\" deleted"));
        eventually("the deletionTimestamp", Duration::from_secs(10), || {
            n.k(&["get", "cm", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"]).stdout.starts_with("20").then_some(())
        });
        assert_eq!(waiting.exited(), None, "delete --wait returned while the finalizer held the object");
        n.k(&["patch", "cm", "held", "--type", "json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers"}]"#]).ok();
        eventually("delete --wait to return", Duration::from_secs(20), || waiting.exited()).eq(&0).then_some(()).expect("exit 0");
        assert!(n.k(&["get", "cm", "held"]).fails().contains("NotFound"));

        // Cascades through ownerReferences.
        for (policy, survives) in [("background", false), ("foreground", false), ("orphan", true)] {
            let owner = format!("owner-{policy}");
            let dep = format!("dep-{policy}");
            let uid = n.k(&["create", "serviceaccount", &owner, "-o", "jsonpath={.metadata.uid}"]).ok().to_string();
            let m = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {dep}\n  ownerReferences:\n  - apiVersion: v1\n    kind: ServiceAccount\n    name: {owner}\n    uid: {uid}\n");
            n.k_stdin(&["create", "-f", "-"], &m).ok();
            assert_eq!(n.k(&["delete", "sa", &owner, &format!("--cascade={policy}")]).ok(), format!("serviceaccount \"{owner}\" deleted\n"));
            if survives {
                let dep_obj = eventually("the orphaned dependent without ownerReferences", Duration::from_secs(10), || {
                    let v = n.k(&["get", "cm", &dep, "-o", "json"]).json();
                    v["metadata"].get("ownerReferences").is_none().then_some(v)
                });
                assert_eq!(dep_obj["metadata"]["name"], dep.as_str());
            } else {
                eventually(&format!("{policy} cascade"), Duration::from_secs(10), || (n.k(&["get", "cm", &dep]).code != 0).then_some(()));
            }
        }
        // delete -l removes exactly the selected objects.
        n.k(&["create", "configmap", "l1"]).ok();
        n.k(&["create", "configmap", "l2"]).ok();
        n.k(&["label", "cm", "l1", "gone=yes"]).ok();
        assert_eq!(n.k(&["delete", "cm", "-l", "gone=yes"]).ok(), "configmap \"l1\" deleted\n");
        assert_eq!(n.k(&["get", "cm", "-o", "name"]).ok(), "configmap/dep-orphan\nconfigmap/kube-root-ca.crt\nconfigmap/l2\n");
    });
}

#[test]
fn namespace_deletion_deletes_contents() {
    in_each_cluster("doomed", |n| {
        n.k(&["create", "configmap", "a"]).ok();
        n.k(&["create", "secret", "generic", "b", "--from-literal=x=y"]).ok();
        n.k(&["create", "serviceaccount", "c"]).ok();
        n.k(&["create", "role", "d", "--verb=get", "--resource=configmaps"]).ok();
        n.k_stdin(&["create", "-f", "-"], "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: e\n").ok();
        assert_eq!(n.kcp.kubectl_in(n.cluster, &["delete", "namespace", "doomed", "--timeout=60s"]).ok(), "namespace \"doomed\" deleted\n");
        assert_eq!(n.k(&["get", "namespace", "doomed"]).fails().trim(), "Error from server (NotFound): namespaces \"doomed\" not found");
        let all = n.kcp.kubectl_in(n.cluster, &["get", "cm,secrets,sa,roles,leases", "-A", "--field-selector", "metadata.namespace=doomed", "-o", "name"]);
        assert_eq!(all.ok(), "");
        let create = n.k(&["create", "configmap", "late"]);
        assert_eq!(create.fails().trim(), "error: failed to create configmap: namespaces \"doomed\" not found");
    });
    let refused = kcp().kubectl(&["delete", "namespace", "default"]);
    assert_eq!(refused.fails().trim(), "Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted");
}

#[test]
fn a_terminating_namespace_takes_no_new_content() {
    in_each_cluster("closing", |n| {
        n.k_stdin(&["create", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n").ok();
        n.kcp.kubectl_in(n.cluster, &["delete", "namespace", "closing", "--wait=false"]).ok();
        let late = n.k(&["create", "configmap", "late"]);
        assert_eq!(
            late.fails().trim(),
            "error: failed to create configmap: configmaps \"late\" is forbidden: unable to create new content in namespace closing because it is being terminated"
        );
        assert_eq!(n.k(&["get", "configmap", "held", "-o", "name"]).ok(), "configmap/held\n", "what was there stays until its finalizer goes");
        n.k(&["patch", "configmap", "held", "--type=merge", "-p", r#"{"metadata":{"finalizers":null}}"#]).ok();
        n.kcp.kubectl_in(n.cluster, &["wait", "--for=delete", "namespace/closing", "--timeout=60s"]).ok();
    });
}

#[test]
fn a_resource_quota_counts_charges_and_refuses() {
    in_each_cluster("quota", |n| {
        n.k(&["create", "quota", "q", "--hard=secrets=2,count/configmaps=100"]).ok();
        let used = || n.k(&["get", "quota", "q", "-o", "jsonpath={.status.used.secrets}"]).ok().to_string();
        eventually("the quota's first count", Duration::from_secs(10), || (used() == "0").then_some(()));
        for s in ["s1", "s2"] {
            n.k(&["create", "secret", "generic", s]).ok();
        }
        assert_eq!(used(), "2", "each create is charged as it is admitted");
        assert_eq!(
            n.k(&["create", "secret", "generic", "s3"]).fails().trim(),
            "error: failed to create secret secrets \"s3\" is forbidden: exceeded quota: q, requested: secrets=1, used: secrets=2, limited: secrets=2"
        );
        assert!(n.k(&["get", "secret", "s3"]).fails().contains("NotFound"), "nothing stored");

        n.k(&["delete", "secret", "s1"]).ok();
        eventually("the slot given back", Duration::from_secs(10), || (used() == "1").then_some(()));
        assert!(n.k(&["create", "secret", "generic", "s2"]).fails().contains("already exists"));
        n.k(&["create", "secret", "generic", "s4", "--dry-run=server"]).ok();
        assert_eq!(used(), "1", "neither a duplicate nor a dry run is charged");
        n.k(&["create", "secret", "generic", "s3"]).ok();
        let described = n.k(&["describe", "quota", "q"]).ok().to_string();
        let rows: String = described.lines().skip_while(|l| !l.starts_with("--------")).skip(1).map(|l| format!("{l}\n")).collect();
        assert_table(&rows, &[&["count/configmaps", "*", "100"], &["secrets", "2", "2"]]);
    });
}

#[test]
fn aggregated_cluster_roles_gather_labelled_roles() {
    in_each_cluster("aggregate", |n| {
        let (ops, part, label) = (n.unique("ops"), n.unique("part"), format!("example.com/aggregate-to-{}", n.unique("ops")));
        n.k(&["create", "clusterrole", &ops, &format!("--aggregation-rule={label}=true")]).ok();
        n.k(&["create", "clusterrole", &part, "--verb=get,list", "--resource=configmaps"]).ok();
        n.k(&["label", "clusterrole", &part, &format!("{label}=true")]).ok();
        let rules = || n.k(&["get", "clusterrole", &ops, "-o", "jsonpath={.rules[*].resources}"]).ok().to_string();
        eventually("the labelled role's rules gathered", Duration::from_secs(10), || (rules() == r#"["configmaps"]"#).then_some(()));
        n.k(&["create", "rolebinding", "ops", &format!("--clusterrole={ops}"), "--user=operator"]).ok();
        let access = n.unique("access");
        let grant = ["create", "clusterrolebinding", &access, "--clusterrole=system:kcp:workspace:access", "--user=operator", "--user=maker"];
        n.k(&grant).ok();
        assert_eq!(n.k(&["auth", "can-i", "list", "configmaps", "--as=operator"]).ok(), "yes\n");
        n.k(&["label", "clusterrole", &part, &format!("{label}-")]).ok();
        eventually("the rules given back", Duration::from_secs(10), || rules().is_empty().then_some(()));
        assert_eq!(n.k(&["auth", "can-i", "list", "configmaps", "--as=operator"]).code, 1);

        // An aggregation rule can gather anything: it takes what escalate gives, as in kube.
        let maker = n.unique("maker");
        n.k(&["create", "clusterrole", &maker, "--verb=get,create,update,patch", "--resource=clusterroles"]).ok();
        n.k(&["create", "clusterrolebinding", &maker, &format!("--clusterrole={maker}"), "--user=maker"]).ok();
        let refused = n.k(&["create", "clusterrole", &n.unique("sneaky"), &format!("--aggregation-rule={label}=true"), "--as=maker"]);
        assert_eq!(
            refused.fails().trim(),
            format!("Error from server (Forbidden): clusterroles.rbac.authorization.k8s.io \"{}\" is forbidden: must have cluster-admin privileges to use the aggregationRule", n.unique("sneaky"))
        );
        // Nor may it touch a role that aggregates.
        let relabel = n.k(&["label", "clusterrole", &ops, "team=x", "--as=maker"]);
        assert!(relabel.fails().contains("must have cluster-admin privileges to use the aggregationRule"), "{}", relabel.stderr);
    });
}

#[test]
fn auth_can_i_and_whoami() {
    in_each_cluster("auth", |n| {
        assert_eq!(n.k(&["auth", "can-i", "create", "configmaps"]).ok(), "yes\n");
        assert_eq!(n.k(&["auth", "can-i", "delete", "leases.coordination.k8s.io"]).ok(), "yes\n");
        assert_eq!(
            n.kcp.kubectl_in(n.cluster, &["auth", "whoami"]).ok(),
            "ATTRIBUTE   VALUE\nUsername    kcp-admin\nGroups      [system:kcp:admin system:authenticated]\n"
        );
        let who = n.kcp.kubectl_in(n.cluster, &["auth", "whoami", "-o", "json"]).json();
        assert_eq!(who["kind"], "SelfSubjectReview");
        assert_eq!(who["status"]["userInfo"]["username"], "kcp-admin");

        // A service account bound to a Role in this namespace, checked through impersonation and
        // a SubjectAccessReview. Neither names the account's cluster, so, as in kcp, it is this
        // workspace's own, governed by its RBAC alone: no workspace access grant is needed.
        n.k(&["create", "serviceaccount", "robot"]).ok();
        n.k(&["create", "role", "cm-reader", "--verb=get,list", "--resource=configmaps"]).ok();
        n.k(&["create", "rolebinding", "robot-reads", "--role=cm-reader", "--serviceaccount=auth:robot"]).ok();
        let sa = "system:serviceaccount:auth:robot";
        assert_eq!(n.k(&["auth", "can-i", "list", "configmaps", "--as", sa]).ok(), "yes\n");
        let review = format!(
            "apiVersion: authorization.k8s.io/v1\nkind: SubjectAccessReview\nspec:\n  user: {sa}\n  groups: [system:serviceaccounts]\n  resourceAttributes: {{namespace: auth, verb: list, resource: configmaps}}\n"
        );
        assert_eq!(n.k_stdin(&["create", "-o", "jsonpath={.status.allowed}", "-f", "-"], &review).ok(), "true");
        let no = n.k(&["auth", "can-i", "delete", "configmaps", "--as", sa]);
        assert_eq!((no.code, no.stdout.as_str()), (1, "no\n"));
        let other_ns = n.kcp.kubectl_in(n.cluster, &["-n", "default", "auth", "can-i", "list", "configmaps", "--as", sa]);
        assert_eq!(other_ns.stdout, "no\n");
        let forbidden = n.k(&["delete", "cm", "x", "--as", sa]);
        assert_eq!(
            forbidden.fails().trim(),
            "Error from server (Forbidden): configmaps \"x\" is forbidden: User \"system:serviceaccount:auth:robot\" cannot delete resource \"configmaps\" in API group \"\" in the namespace \"auth\""
        );
    });
}

#[test]
fn finalizers_hold_deletion_and_dry_run_stores_nothing() {
    in_each_cluster("finalizers", |n| {
        let m = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers:\n  - example.com/hold\n";
        n.k_stdin(&["create", "-f", "-"], m).ok();
        n.k(&["delete", "configmap", "held", "--wait=false"]).ok();
        let obj = n.k(&["get", "configmap", "held", "-o", "json"]).json();
        assert!(obj["metadata"]["deletionTimestamp"].is_string(), "{obj}");
        let add = n.k(&["patch", "configmap", "held", "--type", "json", "-p", r#"[{"op":"add","path":"/metadata/finalizers/-","value":"example.com/more"}]"#]);
        assert!(add.fails().contains("no new finalizers can be added if the object is being deleted"), "{}", add.stderr);
        n.k(&["patch", "configmap", "held", "--type", "json", "-p", r#"[{"op":"remove","path":"/metadata/finalizers/0"}]"#]).ok();
        assert!(n.k(&["get", "configmap", "held"]).fails().contains("NotFound"));
        assert_eq!(n.k(&["create", "configmap", "dry", "--dry-run=server"]).ok(), "configmap/dry created (server dry run)\n");
        assert!(n.k(&["get", "configmap", "dry"]).fails().contains("NotFound"));
    });
}
