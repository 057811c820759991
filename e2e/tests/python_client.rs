//! The official Python client (`kubernetes` 33.1.0 from PyPI) against a real `kcp start`:
//! testdata/python_client.py makes the calls its users make and checks the answers in Python.
//!
//! scripts/test.sh installs the client into a virtualenv outside the clone and names its
//! interpreter in `KCP_E2E_PYTHON`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::Install;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/testdata/python_client.py");
/// The script's own waits are bounded; this only stops a hung client from hanging the suite.
const DEADLINE: Duration = Duration::from_secs(180);

/// The interpreter scripts/test.sh prepared, checked to hold the client.
fn python() -> String {
    let python = std::env::var("KCP_E2E_PYTHON").unwrap_or_default();
    assert!(
        !python.is_empty(),
        "KCP_E2E_PYTHON is not set: run the suite through scripts/test.sh, which installs the Python client (kubernetes==33.1.0) into a virtualenv and sets it"
    );
    let probe = Command::new(&python).args(["-c", "import kubernetes; print(kubernetes.__version__)"]).output();
    let version = probe.as_ref().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    assert_eq!(version, "33.1.0", "{python} does not provide the Python client kubernetes==33.1.0 ({probe:?}): run scripts/test.sh, which installs it");
    python
}

#[test]
fn python_client_everyday_calls() {
    let python = python();
    // A short event window, so that the script can write past it and see a watch expire.
    let kcp = Install::start_with(tempfile::tempdir().expect("dir"), &["--watch-cache-size", "50"]);
    let scratch = tempfile::tempdir().expect("scratch dir");
    let out = tempfile::NamedTempFile::new().expect("output file");
    // Both streams append to one file, so tracebacks stay next to the step they follow.
    let append = || std::fs::OpenOptions::new().append(true).open(out.path()).expect("output file");
    let mut child = Command::new(&python)
        .arg(SCRIPT)
        .arg(&kcp.kubeconfig)
        .arg(scratch.path())
        .stdin(Stdio::null())
        .stdout(append())
        .stderr(append())
        .spawn()
        .expect("start python");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for python") {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = std::fs::read_to_string(out.path()).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "python_client.py {}:\n{output}\n--- kcp log (tail) ---\n{}",
        status.map_or(format!("ran past {DEADLINE:?}"), |s| format!("failed ({s})")),
        tail(&kcp.log(), 40)
    );
    assert!(output.contains("all python client checks passed"), "{output}");
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
