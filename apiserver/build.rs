//! Records which commit the binaries were built from, for `/version`.
//!
//! `buildDate` is the commit's date rather than the wall clock, so that rebuilding the same
//! commit gives the same binary and the build cache stays valid (the reproducible-builds
//! convention). Outside a git checkout (a source tarball) the values stay empty.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).env("TZ", "UTC").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    // Rebuild when HEAD moves or the index changes (a commit, a checkout, `git add`).
    for path in ["HEAD", "index", "packed-refs"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|r| git(&["rev-parse", "--git-path", &r])) {
        println!("cargo:rerun-if-changed={head_ref}");
    }
    let commit = git(&["rev-parse", "HEAD"]).unwrap_or_default();
    let tree_state = match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if changes.is_empty() => "clean",
        Some(_) => "dirty",
        None => "",
    };
    let date = git(&["log", "-1", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", "--format=%cd"]).unwrap_or_default();
    println!("cargo:rustc-env=KCP_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=KCP_GIT_TREE_STATE={tree_state}");
    println!("cargo:rustc-env=KCP_BUILD_DATE={date}");
}
