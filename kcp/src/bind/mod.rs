//! `kubectl kcp bind apiexport`: creates an APIBinding in the current workspace for an
//! APIExport elsewhere and waits until it is bound, as kcp's plugin does and in its words.
//!
//! The steps, in order: parse and check the arguments (nothing is sent for a bad one); ask
//! discovery which version of `apis.kcp.io` to write (v1alpha2 when served); read the export's
//! claims when claims are answered, so each one carries the export's identity and verbs; create
//! the binding; poll it until bound or `--timeout` passes.

pub mod spec;

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::plugin::{Kubeconfig, KubeconfigFlags, PluginError, Session, StatusError};
use spec::{ClaimFlags, Claims, ExportRef, Version, GROUP};

/// How often the binding is read while waiting (kcp's plugin polls at the same pace).
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Why binding failed.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The arguments do not make a binding.
    #[error("{0}")]
    Usage(String),
    /// The kubeconfig could not be used or the server could not be reached.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The server refused a request (printed as kubectl prints it).
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The server does not serve APIBindings in a version this plugin writes.
    #[error("service discovery failed: server does not serve apibindings.{GROUP}")]
    NotServed,
    /// All of the export's claims were to be answered, but the export could not be read.
    #[error("failed to get APIExport {name:?}: {source}", source = .source.message)]
    ExportUnreadable {
        /// Name of the export.
        name: String,
        /// The server's answer.
        source: StatusError,
    },
    /// Progress could not be written to standard output.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// The binding was created but did not become bound in time.
    #[error("could not bind {name}: not bound after {after:?}: {progress}")]
    Timeout {
        /// Name of the binding.
        name: String,
        /// The `--timeout` that passed.
        after: Duration,
        /// Its phase and the conditions that are not true yet.
        progress: String,
    },
}

impl BindError {
    /// The line to print on standard error: server refusals as kubectl prints them, anything
    /// else as `error: <message>`, like kcp's plugin.
    pub fn line(&self) -> String {
        match self {
            BindError::Status(s) => s.to_string(),
            other => format!("error: {other}"),
        }
    }
}

/// `kubectl kcp bind apiexport` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct BindApiExportArgs {
    /// The export: `<workspace path>:<export name>`, e.g. `root:providers:cowboys`.
    #[arg(value_name = "WORKSPACE_PATH:APIEXPORT_NAME")]
    pub export: Option<String>,
    /// Name of the APIBinding to create (default: the export's name).
    #[arg(long)]
    pub name: Option<String>,
    /// How long to wait for the APIBinding to be bound (e.g. 30s, 1m).
    #[arg(long, default_value = "30s", value_parser = apiserver::config::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Permission claims to accept, as `resource.group` (`core` for the core group); repeat or separate with commas.
    #[arg(long = "accept-permission-claim", value_delimiter = ',', value_name = "RESOURCE.GROUP")]
    pub accept: Vec<String>,
    /// Permission claims to reject, as `resource.group`; repeat or separate with commas.
    #[arg(long = "reject-permission-claim", value_delimiter = ',', value_name = "RESOURCE.GROUP")]
    pub reject: Vec<String>,
    /// Accept all permission claims of the APIExport.
    #[arg(long = "accept-all-permission-claims")]
    pub accept_all: bool,
    /// Reject all permission claims of the APIExport.
    #[arg(long = "reject-all-permission-claims")]
    pub reject_all: bool,
    /// Workspace to create the binding in instead of the current one (`:root:a` absolute, `a` relative, `..`).
    #[arg(long, short = 'w', value_name = "PATH")]
    pub workspace: Option<String>,
    /// Which kubeconfig, context, user and server to use.
    #[command(flatten)]
    pub kubeconfig: KubeconfigFlags,
}

const EXAMPLES: &str = "Examples:
  # Bind to the APIExport \"my-export\" of workspace root:my-service, as APIBinding \"my-binding\".
  kubectl kcp bind apiexport root:my-service:my-export --name my-binding

  # The same, accepting two of the export's permission claims.
  kubectl kcp bind apiexport root:my-service:my-export --accept-permission-claim secrets.core,configmaps.core

  # The same, rejecting them.
  kubectl kcp bind apiexport root:my-service:my-export --reject-permission-claim secrets.core,configmaps.core";

/// What the command will do, once the arguments are checked.
#[derive(Debug)]
struct Plan {
    export: ExportRef,
    name: String,
    claims: Claims,
}

impl BindApiExportArgs {
    /// Checks the arguments (kcp's order: the reference's presence, the claim flags, the path).
    fn plan(&self) -> Result<Plan, BindError> {
        let raw = self
            .export
            .as_deref()
            .filter(|e| !e.is_empty())
            .ok_or_else(|| BindError::Usage("`root:ws:apiexport_object` reference to bind is required as an argument".into()))?;
        let flags = ClaimFlags { accept: self.accept.clone(), reject: self.reject.clone(), accept_all: self.accept_all, reject_all: self.reject_all };
        flags.check()?;
        let export = ExportRef::parse(raw)?;
        let claims = flags.parse()?;
        let name = self.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| export.name.clone());
        Ok(Plan { export, name, claims })
    }
}

/// GET `path`, or the server's refusal.
async fn get(session: &Session, path: &str) -> Result<Value, BindError> {
    let (code, body) = session.call("GET", path, None).await?;
    match code {
        200 => Ok(body),
        _ => Err(StatusError::from_response(code, &body).into()),
    }
}

/// The version to write, from the workspace's discovery.
async fn version(session: &Session, workspace: &str) -> Result<Version, BindError> {
    let (code, group) = session.call("GET", &format!("/clusters/{workspace}/apis/{GROUP}"), None).await?;
    match code {
        200 => Version::from_discovery(&group).ok_or(BindError::NotServed),
        404 => Err(BindError::NotServed),
        _ => Err(StatusError::from_response(code, &group).into()),
    }
}

/// The export's `spec.permissionClaims`: `None` when it cannot be read, unless `required`.
async fn export_claims(session: &Session, version: Version, export: &ExportRef, required: bool) -> Result<Option<Vec<Value>>, BindError> {
    let path = format!("/clusters/{}/apis/{GROUP}/{}/apiexports/{}", export.path, version.as_str(), export.name);
    match get(session, &path).await {
        Ok(found) => Ok(Some(found.pointer("/spec/permissionClaims").and_then(Value::as_array).cloned().unwrap_or_default())),
        // Bind permission does not include reading the export; then claims go out as kcp's
        // plugin writes them.
        Err(BindError::Status(source)) if required => Err(BindError::ExportUnreadable { name: export.name.clone(), source }),
        Err(BindError::Status(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Runs `kubectl kcp bind apiexport`, writing progress to `out`.
pub async fn run(args: BindApiExportArgs, out: &mut impl Write) -> Result<(), BindError> {
    let plan = args.plan()?;
    let kc = Kubeconfig::load(&args.kubeconfig)?;
    let session = Session::new(&kc)?;
    let here =
        session.current.clone().ok_or_else(|| BindError::Usage(format!("current URL {:?} does not point to workspace", kc.server().unwrap_or_default())))?;
    let workspace = match &args.workspace {
        Some(w) => crate::ws::resolve(Some(&here), w).map_err(|e| BindError::Usage(e.to_string()))?,
        None => here,
    };
    let version = version(&session, &workspace).await?;
    let export_claims = match &plan.claims {
        Claims::Named(named) if named.is_empty() => None,
        claims => export_claims(&session, version, &plan.export, matches!(claims, Claims::All(_))).await?,
    };
    let claims = spec::binding_claims(&plan.claims, export_claims.as_deref());
    let binding = spec::binding_object(version, &plan.name, &plan.export, &claims);

    let collection = format!("/clusters/{workspace}/apis/{GROUP}/{}/apibindings", version.as_str());
    let (code, created) = session.call("POST", &collection, Some(&binding)).await?;
    if !(200..300).contains(&code) {
        return Err(StatusError::from_response(code, &created).into());
    }
    writeln!(out, "apibinding {} created. Waiting to successfully bind ...", plan.name)?;
    // Flushed now: the wait may be long and the line says what is going on.
    out.flush()?;

    // The deadline counts from the creation, as in kcp.
    let deadline = Instant::now() + args.timeout;
    let url = format!("{collection}/{}", plan.name);
    let mut binding = created;
    while !spec::is_bound(&binding) {
        if Instant::now() >= deadline {
            return Err(BindError::Timeout { name: plan.name, after: args.timeout, progress: spec::describe_progress(&binding) });
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now()))).await;
        binding = get(&session, &url).await?;
    }
    writeln!(out, "{} created and bound.", plan.name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: BindApiExportArgs,
    }

    fn parse(argv: &[&str]) -> Result<BindApiExportArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bind").chain(argv.iter().copied())).map(|c| c.args)
    }

    fn plan(argv: &[&str]) -> Result<Plan, String> {
        parse(argv).map_err(|e| e.to_string())?.plan().map_err(|e| e.line())
    }

    #[test]
    fn arguments_become_a_plan() {
        let args = parse(&["root:prov:cowboys", "--accept-permission-claim", "configmaps.core,secrets.core", "--accept-permission-claim=widgets.example.io"])
            .expect("parses");
        assert_eq!(args.timeout, Duration::from_secs(30));
        assert_eq!(args.accept, ["configmaps.core", "secrets.core", "widgets.example.io"]);
        let p = args.plan().expect("valid");
        assert_eq!((p.export.path.as_str(), p.export.name.as_str(), p.name.as_str()), ("root:prov", "cowboys", "cowboys"));
        let Claims::Named(named) = p.claims else { panic!("named claims") };
        assert_eq!(named.len(), 3);

        let named = plan(&["root:prov:cowboys", "--name", "mine", "--timeout", "1m30s", "-w", "..", "--context", "c"]).expect("valid");
        assert_eq!(named.name, "mine");
        let flags = parse(&["root:a:b", "--timeout", "2s", "--server", "https://h/clusters/root", "--kubeconfig", "/k"]).expect("parses");
        assert_eq!((flags.timeout, flags.kubeconfig.server.as_deref()), (Duration::from_secs(2), Some("https://h/clusters/root")));
    }

    #[test]
    fn bad_arguments_are_refused_in_kcps_order_and_words() {
        assert_eq!(plan(&[]).err().as_deref(), Some("error: `root:ws:apiexport_object` reference to bind is required as an argument"));
        // Claim flags are checked before the path.
        assert_eq!(
            plan(&["cowboys", "--accept-all-permission-claims", "--reject-all-permission-claims"]).err().as_deref(),
            Some("error: cannot use both --accept-all-permission-claims and --reject-all-permission-claims")
        );
        assert!(plan(&["cowboys"]).err().is_some_and(|e| e.starts_with("error: fully qualified reference to workspace where APIExport exists is required.")));
        assert_eq!(
            plan(&["root:cowboys", "--reject-permission-claim", "secrets"]).err().as_deref(),
            Some("error: invalid rejected permission claims: [invalid permission claim \"secrets\"]")
        );
        assert!(plan(&["root:cowboys", "--timeout", "soon"]).err().is_some_and(|e| e.contains("is not a duration")));
    }

    #[test]
    fn errors_print_like_kubectl_and_kcp() {
        let refused =
            StatusError { code: 403, reason: "Forbidden".into(), message: "unable to create APIBinding: no permission to bind to export root:x:y".into() };
        assert_eq!(
            BindError::from(refused.clone()).line(),
            "Error from server (Forbidden): unable to create APIBinding: no permission to bind to export root:x:y"
        );
        assert_eq!(
            BindError::ExportUnreadable { name: "y".into(), source: refused }.line(),
            "error: failed to get APIExport \"y\": unable to create APIBinding: no permission to bind to export root:x:y"
        );
        assert_eq!(
            BindError::Timeout { name: "y".into(), after: Duration::from_secs(2), progress: "no phase yet, no conditions reported".into() }.line(),
            "error: could not bind y: not bound after 2s: no phase yet, no conditions reported"
        );
        assert_eq!(BindError::NotServed.line(), "error: service discovery failed: server does not serve apibindings.apis.kcp.io");
    }
}
