//! The README walk-through, end to end.

use e2e::Install;

#[test]
fn readme_walkthrough() {
    let kcp = Install::start();
    let version = kcp.kubectl(&["version"]);
    assert!(version.ok().contains("Server Version: v1.32.0+kcp-rs"), "{}", version.stdout);
    kcp.kubectl(&["create", "namespace", "team-a"]).ok();
    kcp.kubectl(&["-n", "team-a", "create", "configmap", "settings", "--from-literal=color=blue"]).ok();
    let got = kcp.kubectl(&["-n", "team-a", "get", "configmaps", "settings", "-o", "jsonpath={.data.color}"]);
    assert_eq!(got.ok(), "blue");
    let table = kcp.kubectl(&["get", "configmaps", "-A"]);
    let lines: Vec<&str> = table.ok().lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["NAMESPACE", "NAME", "DATA", "AGE"]);
    assert!(lines.iter().any(|l| l.starts_with("team-a") && l.contains("settings") && l.contains(" 1 ")), "{lines:?}");
    // The log goes to a file here: plain text a person can grep, with no terminal colour codes.
    let log = kcp.log();
    assert!(log.lines().any(|l| l.contains("INFO") && l.contains("bound=")), "{log}");
    assert!(!log.contains('\x1b'), "escape codes in a log file: {log}");
}
