//! `kubectl ws`: the kubectl plugin for workspaces. It resolves workspace paths the way kcp's
//! plugin does (`:root:a` absolute, `a:b` relative, `..`, `-`), checks them against the
//! server, and edits the kubeconfig so plain kubectl talks to the chosen workspace.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::plugin::config::PREVIOUS;
use crate::plugin::{split_server, Kubeconfig, KubeconfigFlags, PluginError, Session};

/// Why a plugin command failed; the message is printed as `error: <message>`.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The arguments or the workspace asked for do not work: a bad path, not found, denied.
    #[error("{0}")]
    Usage(String),
    /// The server answered something unexpected.
    #[error("{0}")]
    Server(String),
    /// The kubeconfig could not be used or the server could not be reached.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// Plugin arguments (kubectl passes everything after `ws`).
#[derive(Debug, clap::Parser)]
#[command(name = "kubectl ws", about = "Manages kcp workspaces: show, enter, list and create them")]
pub struct WsArgs {
    /// Which kubeconfig, context, user and server to use.
    #[command(flatten)]
    pub kubeconfig: KubeconfigFlags,
    /// What to do; without one, enter `path` or print the current workspace.
    #[command(subcommand)]
    pub command: Option<WsCommand>,
    /// A workspace to enter (`:root:a`, `a:b`, `..`, `-`, `'~'`), or `.` for the current one.
    pub path: Option<String>,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum WsCommand {
    /// Print the current workspace.
    Current,
    /// Enter a workspace.
    Use {
        /// Absolute (`:root:org`), relative (`team`, `a:b`), `..`, `-` (the previous one), or
        /// `~` (your home workspace; quote it so the shell leaves it alone).
        path: String,
    },
    /// Print the workspace tree below the current workspace.
    Tree,
    /// Create a workspace in the current workspace and wait until it is ready.
    Create {
        /// Name of the new workspace.
        name: String,
        /// Workspace type (a WorkspaceType in root).
        #[arg(long = "type")]
        type_: Option<String>,
        /// Enter the workspace once it is ready.
        #[arg(long)]
        enter: bool,
        /// Succeed when the workspace already exists.
        #[arg(long)]
        ignore_existing: bool,
    },
    /// Add a kubeconfig context for the current workspace.
    CreateContext {
        /// Context name (default: the current workspace path).
        name: Option<String>,
        /// Replace a context of the same name.
        #[arg(long)]
        overwrite: bool,
    },
}

/// Resolves a plugin path argument against the current workspace.
pub fn resolve(current: Option<&str>, arg: &str) -> Result<String, WsError> {
    let mut parts: Vec<String> = if let Some(abs) = arg.strip_prefix(':') {
        if abs.is_empty() {
            return Ok("root".into());
        }
        Vec::new()
    } else if arg == "root" || arg.starts_with("root:") {
        Vec::new()
    } else {
        current.ok_or_else(|| WsError::Usage("the current kubeconfig server does not point at a workspace".into()))?.split(':').map(String::from).collect()
    };
    for seg in arg.trim_start_matches(':').split(':').filter(|s| !s.is_empty() && *s != ".") {
        if seg == ".." {
            if parts.len() <= 1 {
                return Err(WsError::Usage("cannot go above the root workspace".into()));
            }
            parts.pop();
        } else {
            parts.push(seg.to_string());
        }
    }
    if parts.is_empty() {
        return Err(WsError::Usage(format!("invalid workspace path {arg:?}")));
    }
    Ok(parts.join(":"))
}

fn workspace_url(path: &str, name: Option<&str>) -> String {
    let base = format!("/clusters/{path}/apis/tenancy.kcp.io/v1alpha1/workspaces");
    match name {
        Some(n) => format!("{base}/{n}"),
        None => base,
    }
}

fn status_message(v: &Value) -> String {
    v["message"].as_str().unwrap_or("unexpected response").to_string()
}

/// Checks that a workspace exists and is accessible.
async fn check(client: &Session, path: &str) -> Result<(), WsError> {
    // A home (`user:<name>`) has no parent Workspace to look at.
    if let Some((parent, name)) = path.rsplit_once(':').filter(|(p, _)| *p != apimachinery::request::HOME_ROOT) {
        let (code, _) = client.call("GET", &workspace_url(parent, Some(name)), None).await?;
        match code {
            200 => {}
            404 => return Err(WsError::Usage(format!("workspace {path:?} not found"))),
            _ => return Err(WsError::Usage(format!("access to workspace {path:?} denied"))),
        }
    }
    let (code, _) = client.call("GET", &format!("/clusters/{path}/apis"), None).await?;
    match code {
        200 => Ok(()),
        _ => Err(WsError::Usage(format!("access to workspace {path:?} denied"))),
    }
}

async fn enter(kc: &mut Kubeconfig, client: &Session, base: &str, path: &str) -> Result<String, WsError> {
    check(client, path).await?;
    kc.switch(&format!("{base}/clusters/{path}"))?;
    kc.save()?;
    Ok(format!("Current workspace is {path:?}."))
}

/// The path of the caller's home workspace, created by the server on first request (it
/// answers 429 with Retry-After until the new home is ready).
async fn home_path(client: &Session) -> Result<String, WsError> {
    for _ in 0..30 {
        let (code, body) = client.call("GET", &workspace_url("root", Some("~")), None).await?;
        match code {
            200 => {
                let url = body.pointer("/spec/URL").and_then(Value::as_str).unwrap_or_default();
                return split_server(url).1.ok_or_else(|| WsError::Server(format!("home workspace has no usable URL {url:?}")));
            }
            429 => {
                let wait = body.pointer("/details/retryAfterSeconds").and_then(Value::as_u64).unwrap_or(1);
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            404 => return Err(WsError::Usage("home workspaces are not enabled on this server".into())),
            _ => return Err(WsError::Server(status_message(&body))),
        }
    }
    Err(WsError::Server("home workspace did not become ready within 30 attempts".into()))
}

fn tree_lines<'a>(
    client: &'a Session,
    path: String,
    prefix: String,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<String>, WsError>> + Send + 'a>> {
    Box::pin(async move {
        let (code, list) = client.call("GET", &workspace_url(&path, None), None).await?;
        if code != 200 {
            return Ok(Vec::new());
        }
        let mut names: Vec<String> =
            list["items"].as_array().map(|a| a.iter().filter_map(|w| w["metadata"]["name"].as_str().map(String::from)).collect()).unwrap_or_default();
        names.sort();
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let last = i + 1 == names.len();
            out.push(format!("{prefix}{}{name}", if last { "└── " } else { "├── " }));
            let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
            out.extend(tree_lines(client, format!("{path}:{name}"), child_prefix).await?);
        }
        Ok(out)
    })
}

/// Runs the plugin; returns what to print on success.
pub async fn run(args: WsArgs) -> Result<String, WsError> {
    let mut kc = Kubeconfig::load(&args.kubeconfig)?;
    let client = Session::new(&kc)?;
    let (base, current) = (client.base.clone(), client.current.clone());
    let current_path = || current.clone().ok_or_else(|| WsError::Usage("the current kubeconfig server does not point at a workspace".into()));
    let command = match (args.command, args.path) {
        (Some(c), _) => c,
        (None, None) => WsCommand::Current,
        (None, Some(p)) if p == "." => WsCommand::Current,
        (None, Some(p)) => WsCommand::Use { path: p },
    };
    match command {
        WsCommand::Current => Ok(format!("Current workspace is {:?}.", current_path()?)),
        WsCommand::Use { path } if path == "-" => {
            let doc = &kc.doc;
            let prev = doc["clusters"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == PREVIOUS))
                .and_then(|c| c["cluster"]["server"].as_str().map(String::from));
            let prev = prev.ok_or_else(|| WsError::Usage("no previous workspace found in kubeconfig".into()))?;
            let (_, prev_path) = split_server(&prev);
            let prev_path = prev_path.ok_or_else(|| WsError::Usage("the previous context does not point at a workspace".into()))?;
            enter(&mut kc, &client, &base, &prev_path).await
        }
        WsCommand::Use { path } if path == "~" => {
            let home = home_path(&client).await?;
            enter(&mut kc, &client, &base, &home).await
        }
        WsCommand::Use { path } => {
            let target = resolve(current.as_deref(), &path)?;
            enter(&mut kc, &client, &base, &target).await
        }
        WsCommand::Tree => {
            let path = current_path()?;
            let mut lines = vec![".".to_string(), format!("└── {path}")];
            lines.extend(tree_lines(&client, path, "    ".into()).await?);
            Ok(lines.join("\n"))
        }
        WsCommand::Create { name, type_, enter: go, ignore_existing } => {
            let parent = current_path()?;
            let mut ws = json!({"apiVersion": "tenancy.kcp.io/v1alpha1", "kind": "Workspace", "metadata": {"name": name}});
            if let Some(t) = &type_ {
                let (path, tname) = t.rsplit_once(':').unwrap_or(("root", t.as_str()));
                ws["spec"] = json!({"type": {"name": tname, "path": path}});
            }
            let (code, body) = client.call("POST", &workspace_url(&parent, None), Some(&ws)).await?;
            let mut out = Vec::new();
            match code {
                201 => {
                    let t = format!(
                        "{}:{}",
                        body.pointer("/spec/type/path").and_then(Value::as_str).unwrap_or("root"),
                        body.pointer("/spec/type/name").and_then(Value::as_str).unwrap_or_default()
                    );
                    eprintln!("Workspace {name:?} (type {t}) created. Waiting for it to be ready...");
                    let deadline = Instant::now() + Duration::from_secs(60);
                    loop {
                        let (_, w) = client.call("GET", &workspace_url(&parent, Some(&name)), None).await?;
                        if w.pointer("/status/phase") == Some(&json!("Ready")) {
                            break;
                        }
                        if Instant::now() > deadline {
                            return Err(WsError::Server(format!(
                                "workspace {name:?} did not become ready within 60s (phase {})",
                                w.pointer("/status/phase").and_then(Value::as_str).unwrap_or("unknown")
                            )));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    out.push(format!("Workspace {name:?} (type {t}) is ready to use."));
                }
                409 if ignore_existing => {}
                _ => return Err(WsError::Server(status_message(&body))),
            }
            if go {
                out.push(enter(&mut kc, &client, &base, &format!("{parent}:{name}")).await?);
            }
            Ok(out.join("\n"))
        }
        WsCommand::CreateContext { name, overwrite } => {
            let path = current_path()?;
            let name = name.unwrap_or_else(|| path.clone());
            kc.add_context(&name, &format!("{base}/clusters/{path}"), overwrite)?;
            kc.save()?;
            Ok(format!("Created context {name:?} and switched to it."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_resolution() {
        let cases = [
            (Some("root:org"), ":root:a", Ok("root:a")),
            (Some("root:org"), "root:b", Ok("root:b")),
            (Some("root:org"), "team", Ok("root:org:team")),
            (Some("root:org"), "a:b", Ok("root:org:a:b")),
            (Some("root:org:team"), "..", Ok("root:org")),
            (Some("root:org:team"), "..:..", Ok("root")),
            (Some("root:org:team"), "..:other", Ok("root:org:other")),
            (Some("root"), ":", Ok("root")),
        ];
        for (cur, arg, want) in cases {
            assert_eq!(resolve(cur, arg).map_err(|e| e.to_string()), want.map(String::from), "{arg}");
        }
        assert!(resolve(Some("root"), "..").is_err());
        assert!(resolve(None, "team").is_err());
    }
}
