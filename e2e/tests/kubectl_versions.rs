//! An everyday workflow with every kubectl release installed next to `kubectl` (Google Cloud
//! SDK ships `kubectl.1.27` … `kubectl.1.33` there), and always with the plain `kubectl`.
//! Releases differ in what they fetch first: 1.27 and 1.28 load the protobuf `/openapi/v2`
//! before `create -f`, `apply` and `explain` and give up without it; later ones read v3 and
//! come back to v2 for client-side re-applies and `explain --output=plaintext-openapiv2`.

use std::path::{Path, PathBuf};

use e2e::{Install, Run};

use crate::discovery::kcp;

fn configmap(name: &str, ns: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: web\ndata:\n  a: \"{value}\"\n")
}

fn widget(ns: &str, size: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: {ns}\nspec:\n  size: {size}\n")
}

/// One client's run through the workflow, in a namespace of its own.
struct Client<'a> {
    kcp: &'a Install,
    bin: &'a Path,
    ns: String,
}

impl Client<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut full = vec!["-n", self.ns.as_str()];
        full.extend_from_slice(args);
        self.kcp.kubectl_with(self.bin, &full, stdin)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        self.run(args, None).ok().to_string()
    }

    #[track_caller]
    fn ok_stdin(&self, args: &[&str], stdin: &str) -> String {
        self.run(args, Some(stdin)).ok().to_string()
    }

    fn workflow(&self) {
        let ns = self.ns.as_str();
        self.kcp.kubectl_with(self.bin, &["create", "namespace", ns], None).ok();
        assert_eq!(self.ok_stdin(&["create", "-f", "-"], &configmap("web", ns, "1")), "configmap/web created\n");
        self.gets();

        assert_eq!(self.ok_stdin(&["apply", "-f", "-"], &configmap("applied", ns, "1")), "configmap/applied created\n");
        assert_eq!(self.ok_stdin(&["apply", "-f", "-"], &configmap("applied", ns, "2")), "configmap/applied configured\n");
        assert_eq!(self.ok(&["get", "configmap", "applied", "-o", "jsonpath={.data.a}"]), "2");
        assert_eq!(self.ok_stdin(&["apply", "-f", "-"], &widget(ns, "small")), "widget.example.com/w created\n");
        assert_eq!(self.ok_stdin(&["apply", "-f", "-"], &widget(ns, "large")), "widget.example.com/w configured\n");
        assert_eq!(self.ok(&["get", "widget", "w", "-o", "jsonpath={.spec.size}"]), "large");

        assert_eq!(self.ok_stdin(&["apply", "--server-side", "-f", "-"], &configmap("ssa", ns, "1")), "configmap/ssa serverside-applied\n");
        let managers = self.ok(&["get", "configmap", "ssa", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[*].manager}"]);
        assert_eq!(managers, "kubectl");

        assert_eq!(self.ok(&["patch", "configmap", "web", "--type", "merge", "-p", r#"{"data":{"m":"merge"}}"#]), "configmap/web patched\n");
        assert_eq!(
            self.ok(&["patch", "configmap", "web", "--type", "json", "-p", r#"[{"op":"add","path":"/data/j","value":"json"}]"#]),
            "configmap/web patched\n"
        );
        assert_eq!(self.ok(&["patch", "configmap", "web", "--type", "strategic", "-p", r#"{"data":{"s":"strategic"}}"#]), "configmap/web patched\n");
        let data = self.run(&["get", "configmap", "web", "-o", "json"], None).json()["data"].clone();
        assert_eq!(data, serde_json::json!({"a": "1", "m": "merge", "j": "json", "s": "strategic"}));

        assert_eq!(self.ok(&["label", "configmap", "web", "tier=fe"]), "configmap/web labeled\n");
        assert_eq!(self.ok(&["get", "configmaps", "-l", "tier=fe", "-o", "name"]), "configmap/web\n");

        self.watch();
        self.explain();
        assert_eq!(self.ok(&["auth", "can-i", "create", "configmaps"]), "yes\n");
        assert_eq!(self.ok(&["auth", "can-i", "delete", "widgets.example.com"]), "yes\n");

        let deleted = self.ok(&["delete", "configmap", "web", "applied", "ssa"]);
        assert_eq!(deleted, "configmap \"web\" deleted\nconfigmap \"applied\" deleted\nconfigmap \"ssa\" deleted\n");
        assert_eq!(self.ok(&["delete", "widget", "w"]), "widget.example.com \"w\" deleted\n");
        let gone = self.run(&["get", "configmap", "web"], None);
        assert_eq!(gone.fails(), "Error from server (NotFound): configmaps \"web\" not found\n");
    }

    fn gets(&self) {
        let obj = self.run(&["get", "configmap", "web", "-o", "json"], None).json();
        assert_eq!((obj["metadata"]["labels"]["app"].as_str(), obj["data"]["a"].as_str()), (Some("web"), Some("1")));
        let yaml = self.ok(&["get", "configmap", "web", "-o", "yaml"]);
        assert!(yaml.contains("  name: web\n") && yaml.contains("  a: \"1\"\n"), "{yaml}");
        let wide = self.ok(&["get", "configmap", "web", "-o", "wide"]);
        let rows: Vec<Vec<&str>> = wide.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!((rows[0].as_slice(), &rows[1][..2]), (&["NAME", "DATA", "AGE"][..], &["web", "1"][..]), "{wide}");
        assert_eq!(self.ok(&["get", "configmap", "web", "-o", "name"]), "configmap/web\n");
        assert_eq!(self.ok(&["get", "configmap", "web", "-o", "jsonpath={.metadata.labels.app}={.data.a}"]), "web=1");
        let columns = self.ok(&["get", "configmap", "web", "-o", "custom-columns=NAME:.metadata.name,A:.data.a"]);
        let rows: Vec<Vec<&str>> = columns.lines().map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows, [["NAME", "A"], ["web", "1"]], "{columns}");
    }

    fn watch(&self) {
        let args = ["-n", self.ns.as_str(), "get", "configmap", "web", "--watch", "-o", "jsonpath={.metadata.name}={.data.a}{\"\\n\"}"];
        let watch = self.kcp.background_with(self.bin, "root", &args);
        watch.wait_for("the object before the update", |l| l.iter().any(|x| x == "web=1"));
        self.ok(&["patch", "configmap", "web", "--type", "merge", "-p", r#"{"data":{"a":"watched"}}"#]);
        watch.wait_for("the update", |l| l.iter().any(|x| x == "web=watched"));
        drop(watch);
        self.ok(&["patch", "configmap", "web", "--type", "merge", "-p", r#"{"data":{"a":"1"}}"#]);
    }

    fn explain(&self) {
        let cm = self.ok(&["explain", "configmaps.data"]);
        assert!(cm.contains("ConfigMap") && cm.contains("data"), "{cm}");
        let v2 = self.ok(&["explain", "configmaps", "--output=plaintext-openapiv2"]);
        assert!(v2.contains("ConfigMap") && v2.contains("FIELDS:") && v2.contains("binaryData"), "{v2}");
        let crd = self.ok(&["explain", "widgets.spec", "--output=plaintext-openapiv2"]);
        assert!(crd.contains("Widget") && crd.contains("How big the widget is."), "{crd}");
        // The CRD lives in root only: from `second`, kubectl cannot find the kind at all.
        let other = self.kcp.kubectl_with(self.bin, &["--server", &self.kcp.server("second"), "explain", "widgets", "--output=plaintext-openapiv2"], None);
        assert!(other.fails().contains("the server doesn't have a resource type \"widgets\""), "{}", other.stderr);
    }
}

fn name_of(bin: &Path) -> String {
    bin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[test]
fn everyday_workflow_with_every_installed_kubectl() {
    let kcp = kcp();
    let versioned = e2e::versioned_kubectls();
    if versioned.is_empty() {
        eprintln!("note: no kubectl.1.NN next to kubectl on PATH; only the plain kubectl runs the workflow");
    }
    let clients: Vec<PathBuf> = std::iter::once(PathBuf::from("kubectl")).chain(versioned).collect();
    // Every client runs even when an earlier one fails, so one report names all that broke.
    let mut failed = Vec::new();
    for bin in &clients {
        let name = name_of(bin);
        let client = Client { kcp, bin, ns: format!("wf-{}", name.replace('.', "-")) };
        eprintln!("workflow with {name}");
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.workflow())).is_err() {
            failed.push(name);
        }
    }
    assert!(failed.is_empty(), "the workflow failed with {failed:?} (of {:?})", clients.iter().map(|b| name_of(b)).collect::<Vec<_>>());
}
