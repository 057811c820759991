//! The audit log: what `kcp start` and the front-proxy record, and `kcp audit verify` on the
//! real log and on tampered copies of it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::sharded::{create_ready, Sharded};
use e2e::{eventually, Install};
use serde_json::Value;

/// Records everything at RequestResponse but the probes: the strongest level a rule can ask
/// for, so the test shows the server keeping secrets out anyway.
const POLICY: &str = "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n\
                      - level: None\n  nonResourceURLs: [\"/healthz*\", \"/readyz*\", \"/livez*\"]\n\
                      - level: RequestResponse\n";

fn lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(String::from).collect()
}

fn events(log: &Path) -> Vec<Value> {
    lines(log).iter().map(|l| serde_json::from_str::<Value>(l).expect("a JSON line")).filter(|e| e["kind"] == "Event").collect()
}

/// Runs `kcp audit verify`; returns its exit code and standard output.
fn verify(key: &Path, files: &[&Path]) -> (i32, String) {
    let out = Command::new(e2e::bin_dir().join("kcp")).args(["audit", "verify", "--key"]).arg(key).args(files).output().expect("kcp runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The sequence number of a log line.
fn seq(line: &str) -> u64 {
    let v: Value = serde_json::from_str(line).expect("JSON");
    v["annotations"]["audit.kcp.io/seq"].as_str().and_then(|s| s.parse().ok()).expect("a seq")
}

/// A copy of `log` with `edit` applied to its lines.
fn tampered(log: &Path, name: &str, edit: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let mut l = lines(log);
    edit(&mut l);
    let path = log.with_file_name(name);
    std::fs::write(&path, l.join("\n") + "\n").expect("write copy");
    path
}

#[test]
fn kcp_start_audits_every_request_and_verify_pinpoints_tampering() {
    let dir = tempfile::tempdir().expect("dir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).expect("policy");
    let log = dir.path().join("audit").join("audit.log");
    let flags: Vec<String> =
        ["--audit-log-path", log.to_str().expect("utf-8"), "--audit-policy-file", policy.to_str().expect("utf-8")].map(String::from).to_vec();
    let args: Vec<&str> = flags.iter().map(String::as_str).collect();
    let kcp = Install::start_with(dir, &args);
    let (_, cluster) = create_ready(&kcp, "root", "team", None);
    kcp.kubectl_in("root:team", &["create", "configmap", "audited", "--from-literal=colour=blue"]).ok();
    kcp.kubectl_in("root:team", &["create", "secret", "generic", "hidden", "--from-literal=password=hunter2"]).ok();
    kcp.kubectl_in("root:team", &["get", "secret", "hidden", "-o", "yaml"]).ok();
    kcp.kubectl_in("root:team", &["get", "configmap", "nothere"]).fails();
    let key = kcp.root().join("audit-signing.key.pub");
    let dir = kcp.stop_keep();

    let text = std::fs::read_to_string(&log).expect("the audit log");
    assert!(!text.contains("hunter2") && !text.contains("aHVudGVyMg=="), "secret data is never logged");
    let all = events(&log);
    let find = |verb: &str, resource: &str, code: u64| {
        all.iter()
            .find(|e| e["verb"] == verb && e["objectRef"]["resource"] == resource && e["responseStatus"]["code"] == code)
            .unwrap_or_else(|| panic!("no {verb} {resource} {code} event in {text}"))
    };
    let created = find("create", "configmaps", 201);
    assert_eq!(created["user"]["username"], "kcp-admin");
    assert_eq!(created["level"], "RequestResponse");
    assert_eq!(created["stage"], "ResponseComplete");
    assert_eq!(created["requestObject"]["data"]["colour"], "blue");
    assert_eq!(created["responseObject"]["metadata"]["name"], "audited");
    assert_eq!(created["objectRef"]["namespace"], "default");
    assert_eq!(created["annotations"]["tenancy.kcp.io/workspace"], "root:team");
    assert_eq!(created["annotations"]["kcp.io/cluster"], cluster.as_str());
    assert_eq!(created["annotations"]["kcp.io/shard"], "root");
    assert!(created["sourceIPs"][0] == "127.0.0.1" && created["userAgent"].as_str().is_some_and(|a| a.starts_with("kubectl")), "{created}");
    for secret in all.iter().filter(|e| e["objectRef"]["resource"] == "secrets") {
        assert_eq!(secret["level"], "Metadata", "{secret}");
    }
    find("create", "secrets", 201);
    let missing = find("get", "configmaps", 404);
    assert_eq!(missing["responseStatus"]["reason"], "NotFound");
    assert!(missing["responseStatus"]["message"].as_str().is_some_and(|m| m.contains("nothere")), "{missing}");

    let (code, out) = verify(&key, &[&log]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("chain intact") && out.contains("1 seal(s)"), "{out}");

    // Tampered copies: the middle of the log, away from its seal.
    let l = lines(&log);
    let k = l.len() / 2;
    let (at, before) = (k + 1, seq(&l[k - 1]));
    let deleted = tampered(&log, "deleted.log", |l| drop(l.remove(k)));
    let (code, out) = verify(&key, &[&deleted]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("TAMPERED {}:{at}: seq {}: event seq {} is missing", deleted.display(), before + 2, before + 1)), "{out}");
    assert!(l[k].contains("\"kcp-admin\""), "{}", l[k]);
    let altered = tampered(&log, "altered.log", |l| l[k] = l[k].replace("\"kcp-admin\"", "\"someone-else\""));
    let (code, out) = verify(&key, &[&altered]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("TAMPERED {}:{at}: seq {}: altered", altered.display(), before + 1)), "{out}");
    let swapped = tampered(&log, "swapped.log", |l| l.swap(k, k + 1));
    let (code, out) = verify(&key, &[&swapped]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("TAMPERED {}:{at}: seq {}: out of order", swapped.display(), before + 2)), "{out}");

    // A restart continues the chain; a SIGKILL leaves the end unsealed, which is no tampering.
    let kcp = Install::start_with(dir, &args);
    kcp.kubectl(&["create", "configmap", "after-restart"]).ok();
    eventually("the event of the last request", Duration::from_secs(10), || {
        events(&log).iter().any(|e| e["responseObject"]["metadata"]["name"] == "after-restart").then_some(())
    });
    let _dir = kcp.kill();
    let (code, out) = verify(&key, &[&log]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("not sealed yet") && out.contains("chain intact"), "{out}");
}

#[test]
fn audit_settings_that_cannot_work_exit_64() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("root").display().to_string();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n").expect("policy");
    for (args, says) in [
        (vec!["--audit-log-path", "/tmp/never.log"], "missing required setting --audit-policy-file"),
        (vec!["--audit-log-path", "/tmp/never.log", "--audit-policy-file", policy.to_str().expect("utf-8")], "invalid setting --audit-policy-file"),
    ] {
        let out = Command::new(e2e::bin_dir().join("kcp")).args(["start", "--root-directory", &root]).args(&args).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
}

#[test]
fn the_front_proxy_audits_what_it_routes() {
    let mut log = PathBuf::new();
    let s = Sharded::up_with("", |dir| {
        std::fs::write(dir.join("policy.yaml"), POLICY).expect("policy");
        log = dir.join("proxy-audit").join("audit.log");
        format!("--audit-log-path {} --audit-policy-file {}", log.display(), dir.join("policy.yaml").display())
    });
    s.kcp.kubectl(&["create", "configmap", "via-proxy"]).ok();
    s.kcp.kubectl(&["create", "secret", "generic", "proxied", "--from-literal=password=hunter2"]).ok();
    let created = eventually("the proxy's event of the create", Duration::from_secs(10), || {
        events(&log).into_iter().find(|e| e["verb"] == "create" && e["objectRef"]["resource"] == "configmaps")
    });
    assert_eq!(created["user"]["username"], "kcp-admin");
    assert_eq!(created["responseStatus"]["code"], 201);
    assert_eq!(created["annotations"]["tenancy.kcp.io/workspace"], "root");
    assert_eq!(created["annotations"]["kcp.io/cluster"], "root");
    assert_eq!(created["annotations"]["kcp.io/shard"], "root");
    let secret = eventually("the proxy's event of the secret", Duration::from_secs(10), || {
        events(&log).into_iter().find(|e| e["verb"] == "create" && e["objectRef"]["resource"] == "secrets")
    });
    assert_eq!(secret["level"], "Metadata");
    assert!(!std::fs::read_to_string(&log).expect("log").contains("aHVudGVyMg=="), "secret data is never logged");
    let (code, out) = verify(&log.with_file_name("audit-signing.key.pub"), &[&log]);
    assert_eq!(code, 0, "{out}");
}
