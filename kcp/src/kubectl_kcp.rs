//! `kubectl kcp`: the kubectl plugin with kcp's subcommands. `bind apiexport` binds an API;
//! `workspace` (also `ws`) is `kubectl ws`, the same code, as in kcp's plugin.

use std::io::Write;

use crate::bind::{BindApiExportArgs, BindError};
use crate::ws::{WsArgs, WsError};

/// Plugin arguments (kubectl passes everything after `kcp`).
#[derive(Debug, clap::Parser)]
#[command(name = "kubectl kcp", bin_name = "kubectl kcp", version, about = "kubectl plugin for kcp: kcp-specific subcommands for kubectl")]
pub struct KcpArgs {
    /// The subcommand.
    #[command(subcommand)]
    pub command: KcpCommand,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum KcpCommand {
    /// Bind different types into the current workspace.
    #[command(subcommand)]
    Bind(BindCommand),
    /// Manage workspaces: show, enter, list and create them (as `kubectl ws`).
    #[command(visible_aliases = ["ws", "workspaces"])]
    Workspace(WsArgs),
}

/// What `kubectl kcp bind` binds.
#[derive(Debug, clap::Subcommand)]
pub enum BindCommand {
    /// Bind to an APIExport: create an APIBinding in the current workspace and wait until it is bound.
    #[command(name = "apiexport")]
    ApiExport(BindApiExportArgs),
}

/// Why a `kubectl kcp` command failed.
#[derive(Debug, thiserror::Error)]
pub enum KcpError {
    /// `bind` failed.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// `workspace` failed.
    #[error(transparent)]
    Workspace(#[from] WsError),
}

impl KcpError {
    /// The line to print on standard error.
    pub fn line(&self) -> String {
        match self {
            KcpError::Bind(e) => e.line(),
            KcpError::Workspace(e) => format!("error: {e}"),
        }
    }
}

/// Runs the plugin, writing what it prints on success to `out`.
pub async fn run(args: KcpArgs, out: &mut impl Write) -> Result<(), KcpError> {
    match args.command {
        KcpCommand::Bind(BindCommand::ApiExport(bind)) => Ok(crate::bind::run(bind, out).await?),
        KcpCommand::Workspace(ws) => {
            let text = crate::ws::run(ws).await?;
            if !text.is_empty() {
                // Like kubectl-ws: a closed stdout is nothing to report once the work is done.
                let _ = writeln!(out, "{text}");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn the_command_tree_parses() {
        KcpArgs::command().debug_assert();
        let bind = KcpArgs::try_parse_from(["kubectl-kcp", "bind", "apiexport", "root:a:b", "--name", "n"]).expect("parses");
        assert!(matches!(bind.command, KcpCommand::Bind(BindCommand::ApiExport(ref a)) if a.export.as_deref() == Some("root:a:b")));
        for alias in ["workspace", "ws", "workspaces"] {
            let ws = KcpArgs::try_parse_from(["kubectl-kcp", alias, "use", ":root"]).expect("parses");
            assert!(matches!(ws.command, KcpCommand::Workspace(_)), "{alias}");
        }
        // `bind` alone shows the help that lists `apiexport`.
        let bare = KcpArgs::try_parse_from(["kubectl-kcp", "bind"]).expect_err("needs a subcommand").to_string();
        assert!(bare.contains("apiexport"), "{bare}");
        assert!(KcpArgs::try_parse_from(["kubectl-kcp", "bind", "apiexport", "root:a:b", "--bogus"]).is_err());
    }
}
