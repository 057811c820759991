//! The Kubernetes manifests of `deploy/kubernetes`: with the Secrets `secrets.sh` makes from a
//! real `kcp pki init`, every document decodes in kubectl and strictly into the Kubernetes API
//! types, refers only to files the PKI holds and flags the binaries take, and the documents of the
//! groups kcp-rs serves go through `kubectl apply --dry-run=client`. The systemd units pass
//! `systemd-analyze verify` and name only flags the binaries take.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{bin_dir, Install};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::Value;

fn deploy(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(dir)
}

/// The files of `dir` ending in `ext`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).filter(|p| p.to_string_lossy().ends_with(ext)).collect();
    found.sort();
    found
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `doc` read strictly as `T`: written back, it must be exactly what was read, so a misspelt or
/// misplaced field (which serde would skip) fails.
fn strictly<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) {
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{}: {e}", doc["metadata"]["name"]));
    let back = serde_json::to_value(&typed).expect("serializes");
    assert_eq!(back, without_nulls(doc), "{} {} has fields its type does not", doc["kind"], doc["metadata"]["name"]);
}

/// `doc` without its null fields (kubectl writes `creationTimestamp: null`), which mean absent.
fn without_nulls(doc: &Value) -> Value {
    match doc {
        Value::Object(fields) => Value::Object(fields.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// The long flags a binary's `--help` lists.
fn flags_of(binary: &str) -> BTreeSet<String> {
    let help = run(Command::new(bin_dir().join(binary)).arg("--help"));
    help.split_whitespace().filter(|w| w.starts_with("--")).map(|w| w.trim_end_matches(',').to_string()).collect()
}

/// The long flags (`--name`, before any `=`) among `args`.
fn flags_in<'a>(args: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    args.into_iter().filter(|a| a.starts_with("--")).map(|a| a.split('=').next().unwrap_or(a).to_string()).collect()
}

#[test]
fn kubernetes_manifests_are_valid_and_match_the_pki_and_binaries() {
    let work = tempfile::tempdir().expect("temp dir");
    let pki = work.path().join("pki");
    run(Command::new(bin_dir().join("kcp")).args(["pki", "init", "--dir"]).arg(&pki).args([
        "--shard",
        "root",
        "--shard",
        "kcp-shard-0",
        "--shard",
        "kcp-shard-1",
        "--host",
        "kcp.example.com",
    ]));
    let secrets = run(Command::new(deploy("kubernetes/secrets.sh")).arg(&pki).env("KUBECONFIG", "/dev/null"));
    let secrets_file = work.path().join("secrets.yaml");
    std::fs::write(&secrets_file, &secrets).expect("secrets");

    let mut manifests = files(&deploy("kubernetes"), ".yaml");
    manifests.push(secrets_file);
    let mut docs = Vec::new();
    for file in &manifests {
        // kubectl decodes every document with its own scheme, offline.
        run(Command::new("kubectl").args(["label", "--local", "-o", "name", "validated=true", "-f"]).arg(file).env("KUBECONFIG", "/dev/null"));
        let text = std::fs::read_to_string(file).expect("manifest");
        docs.extend(serde_saphyr::from_str_multiple::<Value, Vec<Value>>(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display())));
    }
    let mut kinds = BTreeSet::new();
    let mut secret_files: BTreeSet<String> = BTreeSet::new();
    for doc in &docs {
        let kind = doc["kind"].as_str().expect("kind");
        kinds.insert(kind.to_string());
        match (doc["apiVersion"].as_str().expect("apiVersion"), kind) {
            ("v1", "Namespace") => strictly::<Namespace>(doc),
            ("v1", "ConfigMap") => strictly::<ConfigMap>(doc),
            ("v1", "Service") => strictly::<Service>(doc),
            ("v1", "Secret") => {
                strictly::<Secret>(doc);
                secret_files.extend(doc["data"].as_object().expect("data").keys().cloned());
            }
            ("apps/v1", "StatefulSet") => strictly::<StatefulSet>(doc),
            ("apps/v1", "Deployment") => strictly::<Deployment>(doc),
            ("policy/v1", "PodDisruptionBudget") => strictly::<PodDisruptionBudget>(doc),
            (version, kind) => panic!("unexpected {version} {kind}"),
        }
        assert_eq!(doc["metadata"]["namespace"].as_str().unwrap_or("kcp"), "kcp", "{doc}");
    }
    let expected = ["ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget", "Secret", "Service", "StatefulSet"];
    assert_eq!(kinds, expected.iter().map(|k| k.to_string()).collect());
    assert!(!secret_files.iter().any(|f| f.ends_with("-ca.key")), "CA keys stay out of the cluster: {secret_files:?}");

    // Every container runs a binary with flags it takes, and files its Secret holds.
    let containers: Vec<&Value> =
        docs.iter().flat_map(|d| d.pointer("/spec/template/spec/containers").and_then(Value::as_array).into_iter().flatten()).collect();
    assert_eq!(containers.len(), 4, "cache, root shard, shards, front-proxy");
    for container in containers {
        let binary = container["command"][0].as_str().expect("command").rsplit('/').next().unwrap_or_default();
        let known = flags_of(binary);
        let args: Vec<&str> = container["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
        for flag in flags_in(args.iter().copied()) {
            assert!(known.contains(&flag), "{binary} has no {flag}");
        }
        for path in args.iter().filter_map(|a| a.split_once("=/etc/kcp/pki/").map(|(_, f)| f)) {
            let file = path.replace("$(POD_NAME)", "kcp-shard-0");
            assert!(secret_files.contains(&file) && pki.join(&file).exists(), "{binary} reads {file}, which no Secret holds");
        }
    }

    // The groups kcp-rs serves (core) go through kubectl's real apply path against a real server.
    let kcp = Install::start();
    for file in ["namespace.yaml", "kubeconfig.yaml"].map(|f| deploy("kubernetes").join(f)).iter().chain([&work.path().join("secrets.yaml")]) {
        let file = file.to_string_lossy();
        let applied = kcp.kubectl(&["apply", "--dry-run=client", "--validate=false", "-f", &file]);
        assert!(applied.ok().contains("(dry run)"), "{}", applied.stdout);
    }
}

#[test]
fn systemd_units_use_flags_the_binaries_take() {
    // systemd's own check, on an instance of each unit running the binaries under test.
    let work = tempfile::tempdir().expect("temp dir");
    let mut instances = Vec::new();
    for unit in files(&deploy("systemd"), ".service") {
        let name = unit.file_name().expect("name").to_string_lossy().replace("@.", "@test.");
        let text = std::fs::read_to_string(&unit).expect("unit").replace("/usr/local/bin/", &format!("{}/", bin_dir().display()));
        std::fs::write(work.path().join(&name), text).expect("instance");
        instances.push(work.path().join(name));
    }
    let verify = Command::new("systemd-analyze").arg("verify").args(&instances).output().expect("systemd-analyze runs (Debian package systemd)");
    let complaints = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && complaints.trim().is_empty(), "{complaints}");

    for unit in files(&deploy("systemd"), ".service") {
        let text = std::fs::read_to_string(&unit).expect("unit");
        // ExecStart= and its continuation lines (ending in a backslash).
        let mut exec = String::new();
        for line in text.lines().skip_while(|l| !l.starts_with("ExecStart=")) {
            exec.push_str(line.trim_start_matches("ExecStart=").trim_end_matches('\\'));
            exec.push(' ');
            if !line.ends_with('\\') {
                break;
            }
        }
        let mut words = exec.split_whitespace();
        let binary = words.next().expect("binary").rsplit('/').next().unwrap_or_default().to_string();
        let known = flags_of(&binary);
        let used = flags_in(words);
        assert!(used.len() >= 5, "{}: {exec}", unit.display());
        for flag in used {
            assert!(known.contains(&flag), "{}: {binary} has no {flag}", unit.display());
        }
        for hardening in ["NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "CapabilityBoundingSet=\n"] {
            assert!(text.contains(hardening), "{}: {hardening}", unit.display());
        }
    }
}
