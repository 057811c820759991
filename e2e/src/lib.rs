//! Fixtures for black-box tests: a real `kcp start` in a temporary directory, driven with the
//! installed `kubectl` over TLS.
//!
//! Binaries are found next to the test executable's target directory (`cargo build --bins`
//! first, as `.ci/run` does), or through `KCP_BIN`.

pub mod bench;
pub mod sharded;
pub mod views;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where the workspace's binaries were built.
pub fn bin_dir() -> PathBuf {
    if let Ok(p) = std::env::var("KCP_BIN_DIR") {
        return PathBuf::from(p);
    }
    // Tests run from target/<profile>/deps/, binaries such as kcp-bench from target/<profile>/.
    let exe = std::env::current_exe().expect("executable path");
    let dir = exe.parent().expect("executable directory");
    match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// Polls `check` until it returns Some or the deadline passes.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Retries a kubectl run until it succeeds (what it needs may still be propagating); panics
/// with its last error after 20 s.
#[track_caller]
pub fn until_ok(what: &str, mut attempt: impl FnMut() -> Run) {
    let started = Instant::now();
    loop {
        let run = attempt();
        if run.code == 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{what}: {}", run.stderr);
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `kubectl.1.<minor>` binaries next to the `kubectl` on PATH, oldest first. Google Cloud
/// SDK installs them beside its `kubectl` dispatcher (which `/usr/bin/kubectl` may link to), so
/// both the PATH entry's directory and the link target's are searched.
pub fn versioned_kubectls() -> Vec<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(kubectl) = std::env::split_paths(&path).map(|d| d.join("kubectl")).find(|p| p.is_file()) else { return Vec::new() };
    let dirs = [kubectl.parent().map(Path::to_path_buf), std::fs::canonicalize(&kubectl).ok().and_then(|p| p.parent().map(Path::to_path_buf))];
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for dir in dirs.into_iter().flatten() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(minor) = name.strip_prefix("kubectl.1.").and_then(|m| m.parse::<u32>().ok()) else { continue };
            if entry.path().is_file() && found.iter().all(|(m, _)| *m != minor) {
                found.push((minor, entry.path()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, p)| p).collect()
}

/// A running `kcp start` with its own root directory.
pub struct Install {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The admin kubeconfig the install wrote.
    pub kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

/// The result of one kubectl run.
#[derive(Debug)]
pub struct Run {
    /// Exit code; -1 when kubectl was killed by a signal.
    pub code: i32,
    /// Everything kubectl wrote to standard output.
    pub stdout: String,
    /// Everything kubectl wrote to standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "command failed:\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        &self.stdout
    }

    /// Asserts failure and returns stderr.
    #[track_caller]
    pub fn fails(&self) -> &str {
        assert_ne!(self.code, 0, "command unexpectedly succeeded:\nstdout: {}", self.stdout);
        &self.stderr
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

impl Install {
    /// Starts `kcp start` on a free loopback port and waits until it is ready.
    pub fn start() -> Install {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir)
    }

    /// kubectl access to an install whose processes someone else runs (see [`sharded`]).
    pub fn attached(dir: tempfile::TempDir, kubeconfig: PathBuf) -> Install {
        Install { child: None, dir, kubeconfig, cache: tempfile::tempdir().expect("cache dir") }
    }

    /// The directory holding this install's files.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Starts `kcp start` with an existing root directory (restarts keep state).
    pub fn start_in(dir: tempfile::TempDir) -> Install {
        Self::start_with(dir, &[])
    }

    /// Starts `kcp start` with extra flags.
    pub fn start_with(dir: tempfile::TempDir, extra: &[&str]) -> Install {
        let root = dir.path().join("kcp");
        let kubeconfig = root.join("admin.kubeconfig");
        let _ = std::fs::remove_file(&kubeconfig);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.path().join("kcp.log")).expect("log file");
        let child = Command::new(bin_dir().join("kcp"))
            .arg("start")
            .arg("--root-directory")
            .arg(&root)
            .args(["--secure-port", "0", "--bind-address", "127.0.0.1"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start kcp (build the binaries first: cargo build --bins)");
        let install = Install { child: Some(child), dir, kubeconfig, cache: tempfile::tempdir().expect("cache dir") };
        eventually("the admin kubeconfig", Duration::from_secs(60), || install.kubeconfig.exists().then_some(()));
        eventually("/readyz", Duration::from_secs(30), || (install.kubectl(&["get", "--raw", "/readyz"]).code == 0).then_some(()));
        install
    }

    /// The install shared by the tests of one module: started (and `setup` run) on first use.
    /// Statics are never dropped, so a watchdog stops the server and removes its directories
    /// once the test process has exited.
    // The watchdog must outlive the test process, so it is never waited for.
    #[allow(clippy::zombie_processes)]
    pub fn shared(cell: &'static OnceLock<Install>, setup: impl FnOnce(&Install)) -> &'static Install {
        cell.get_or_init(|| {
            let install = Install::start();
            let script = "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; kill -TERM \"$2\" 2>/dev/null; \
                          while kill -0 \"$2\" 2>/dev/null; do sleep 1; done; rm -rf \"$3\" \"$4\"";
            Command::new("sh")
                .args(["-c", script, "watchdog", &std::process::id().to_string(), &install.pid().to_string()])
                .arg(install.dir.path())
                .arg(install.cache.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("watchdog shell");
            setup(&install);
            install
        })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The root directory of this install.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("kcp")
    }

    /// The server log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kcp.log")).unwrap_or_default()
    }

    /// Runs kubectl with the admin kubeconfig (context `root` unless overridden in `args`).
    pub fn kubectl(&self, args: &[&str]) -> Run {
        self.kubectl_stdin(args, None)
    }

    /// Runs kubectl with `stdin` piped in (for `-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        self.kubectl_with(Path::new("kubectl"), args, stdin)
    }

    /// Runs a given kubectl binary (see [`versioned_kubectls`]) with the admin kubeconfig.
    pub fn kubectl_with(&self, program: &Path, args: &[&str], stdin: Option<&str>) -> Run {
        self.run_kubectl(program, &self.kubeconfig, args, stdin)
    }

    fn run_kubectl(&self, program: &Path, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(program);
        cmd.arg("--kubeconfig").arg(kubeconfig).arg("--cache-dir").arg(self.cache.path()).args(args);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl on PATH");
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        Run::from(child.wait_with_output().expect("kubectl runs"))
    }

    /// Runs a kubectl plugin (`kubectl ws ...`) with the admin kubeconfig.
    pub fn kubectl_plugin(&self, args: &[&str]) -> Run {
        self.kubectl_plugin_with(&self.kubeconfig, args)
    }

    /// Runs a kubectl plugin with `kubeconfig`: kubectl forbids flags before a plugin name, so
    /// the kubeconfig comes from `KUBECONFIG`; the plugins are found next to the other binaries.
    pub fn kubectl_plugin_with(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("kubectl").args(args).env("KUBECONFIG", kubeconfig).env("PATH", path).stdin(Stdio::null()).output().expect("kubectl runs");
        Run::from(out)
    }

    /// Runs kubectl against another logical cluster by server URL path.
    pub fn kubectl_in(&self, cluster: &str, args: &[&str]) -> Run {
        let server = self.server(cluster);
        let mut full = vec!["--server", server.as_str()];
        full.extend_from_slice(args);
        self.kubectl(&full)
    }

    /// Runs kubectl against another logical cluster with `stdin` piped in.
    pub fn kubectl_in_stdin(&self, cluster: &str, args: &[&str], stdin: &str) -> Run {
        let server = self.server(cluster);
        let mut full = vec!["--server", server.as_str()];
        full.extend_from_slice(args);
        self.kubectl_stdin(&full, Some(stdin))
    }

    /// Starts kubectl in the background against `cluster` (for `get -w`), collecting stdout.
    pub fn background(&self, cluster: &str, args: &[&str]) -> Background {
        self.background_with(Path::new("kubectl"), cluster, args)
    }

    /// [`Install::background`] with a given kubectl binary.
    pub fn background_with(&self, program: &Path, cluster: &str, args: &[&str]) -> Background {
        let mut child = Command::new(program)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(["--server", &self.server(cluster)])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl on PATH");
        let out = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Background { child, lines, reader: Some(reader) }
    }

    /// Starts an install whose token file holds `lines` (`token,user,uid[,"groups"]`).
    pub fn with_tokens(lines: &str) -> Install {
        let dir = tempfile::tempdir().expect("dir");
        let tokens = dir.path().join("tokens.csv");
        std::fs::write(&tokens, lines).expect("token file");
        Install::start_with(dir, &["--token-auth-file", tokens.to_str().expect("utf-8 path")])
    }

    /// Runs kubectl with a bearer token against `cluster`.
    pub fn kubectl_token(&self, token: &str, cluster: &str, args: &[&str]) -> Run {
        self.kubectl_as(serde_json::json!({"token": token}), cluster, args)
    }

    /// [`Install::kubectl_token`] with `stdin` piped in.
    pub fn kubectl_token_stdin(&self, token: &str, cluster: &str, args: &[&str], stdin: &str) -> Run {
        self.kubectl_as_stdin(serde_json::json!({"token": token}), cluster, args, Some(stdin))
    }

    /// Runs kubectl as another identity: `user` holds kubeconfig user fields (`token`,
    /// `client-certificate`, `client-key`), against `cluster`.
    pub fn kubectl_as(&self, user: serde_json::Value, cluster: &str, args: &[&str]) -> Run {
        self.kubectl_as_stdin(user, cluster, args, None)
    }

    /// [`Install::kubectl_as`] with `stdin` piped in.
    pub fn kubectl_as_stdin(&self, user: serde_json::Value, cluster: &str, args: &[&str], stdin: Option<&str>) -> Run {
        let file = self.kubeconfig_as(user, cluster);
        self.run_kubectl(Path::new("kubectl"), file.path(), args, stdin)
    }

    /// A kubeconfig (removed when dropped) for another identity: `user` holds kubeconfig user
    /// fields, its only context points at `cluster`.
    pub fn kubeconfig_as(&self, user: serde_json::Value, cluster: &str) -> tempfile::NamedTempFile {
        self.kubeconfig_at(user, &self.server(cluster))
    }

    /// A kubeconfig (removed when dropped) for `user` whose server is `server`, trusting the
    /// install's CA.
    pub fn kubeconfig_at(&self, user: serde_json::Value, server: &str) -> tempfile::NamedTempFile {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let admin: serde_json::Value = serde_saphyr::from_str(&text).expect("kubeconfig YAML");
        let ca = admin["clusters"][0]["cluster"]["certificate-authority-data"].clone();
        let doc = serde_json::json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": ca}}],
            "users": [{"name": "u", "user": user}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        });
        let file = tempfile::NamedTempFile::new().expect("kubeconfig file");
        std::fs::write(file.path(), doc.to_string()).expect("write kubeconfig");
        file
    }

    /// `https://host:port/clusters/<cluster>`, or `https://host:port` for an empty cluster.
    pub fn server(&self, cluster: &str) -> String {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let line = text.lines().find(|l| l.contains("server:") && l.contains("/clusters/root")).expect("root server line");
        let url = line.split("server:").nth(1).expect("url").trim().trim_matches('"');
        let prefix = if cluster.is_empty() { String::new() } else { format!("/clusters/{cluster}") };
        url.replace("/clusters/root", &prefix)
    }

    /// Creates a logical cluster (as system:masters) and waits until it is ready.
    pub fn logical_cluster(&self, name: &str) {
        let lc = "{\"apiVersion\":\"core.kcp.io/v1alpha1\",\"kind\":\"LogicalCluster\",\"metadata\":{\"name\":\"cluster\"}}".to_string();
        let server = self.server(name);
        self.kubectl_stdin(&["--context", "system:admin", "--server", &server, "create", "-f", "-"], Some(&lc)).ok();
        eventually("namespace default in the new logical cluster", Duration::from_secs(10), || {
            (self.kubectl_in(name, &["get", "ns", "default"]).code == 0).then_some(())
        });
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").args([&format!("-{sig}"), &c.id().to_string()]).status();
        }
    }

    /// Kills the server with SIGKILL and returns the directory to restart from.
    pub fn kill(mut self) -> tempfile::TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    /// Stops the server with SIGTERM and waits for it to exit; returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        self.terminate()
    }

    /// Stops the server with SIGTERM (asserting a clean exit) and returns the directory to
    /// restart from.
    #[track_caller]
    pub fn stop_keep(mut self) -> tempfile::TempDir {
        assert_eq!(self.terminate(), Some(0), "kcp did not exit cleanly on SIGTERM");
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"))
    }

    /// SIGTERM, then up to 30 s for the exit; SIGKILL after that.
    fn terminate(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        None
    }
}

/// A kubectl process running in the background; its stdout lines so far.
pub struct Background {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Background {
    /// The lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines").clone()
    }

    /// Waits until the printed lines satisfy `check`.
    #[track_caller]
    pub fn wait_for(&self, what: &str, check: impl Fn(&[String]) -> bool) {
        eventually(what, Duration::from_secs(20), || check(&self.lines.lock().expect("lines")).then_some(()));
    }

    /// Whether kubectl has exited on its own, and with which code.
    pub fn exited(&mut self) -> Option<i32> {
        self.child.try_wait().ok().flatten().map(|s| s.code().unwrap_or(-1))
    }

    /// Stops kubectl and returns everything it printed.
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        self.lines()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        self.terminate();
    }
}
