//! What the kubectl plugins (`kubectl ws`, `kubectl kcp`) share: the kubeconfig flags, the
//! kubeconfig with their overrides, a session with the server it names, and the way a
//! Kubernetes Status the server answered is printed (kubectl's words, so users can grep them).

pub mod config;

use std::path::PathBuf;

use serde_json::Value;

pub use config::Kubeconfig;

/// Why a plugin could not use the kubeconfig or reach the server.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The kubeconfig is missing, unreadable, or lacks the context, cluster or credentials asked for.
    #[error("{0}")]
    Config(String),
    /// A context to add exists already.
    #[error("context {0:?} already exists in kubeconfig, use --overwrite to update it")]
    ContextExists(String),
    /// The server could not be reached or its answer could not be read.
    #[error("{0}")]
    Transport(String),
}

/// The kubeconfig flags every plugin command takes (a subset of kubectl's, as in kcp's plugins).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KubeconfigFlags {
    /// Path to the kubeconfig file (default: the first file in $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use instead of its current context.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// The kubeconfig user to use instead of the context's.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// The server URL to use instead of the context's cluster's (with `/clusters/<workspace>`).
    #[arg(long, short = 's', global = true, value_name = "URL")]
    pub server: Option<String>,
}

/// Server base URL and current workspace path of a server URL.
pub fn split_server(server: &str) -> (String, Option<String>) {
    match server.split_once("/clusters/") {
        Some((base, path)) => (base.to_string(), Some(path.trim_end_matches('/').to_string())),
        None => (server.to_string(), None),
    }
}

/// The server the kubeconfig points at, and a client with its credentials.
pub struct Session {
    http: apiserver::client::Client,
    /// `https://host:port`, without a workspace path.
    pub base: String,
    /// The workspace path of the server URL, when it has one.
    pub current: Option<String>,
}

impl Session {
    /// A session with the server and credentials the kubeconfig (after overrides) names.
    pub fn new(kc: &Kubeconfig) -> Result<Session, PluginError> {
        let (base, current) = split_server(&kc.server()?);
        let http = apiserver::client::Client::for_credentials(&kc.credentials()?).map_err(|e| PluginError::Config(e.to_string()))?;
        Ok(Session { http, base, current })
    }

    /// Sends one request to `path` on the server; returns the status and the JSON body (Null
    /// when not JSON).
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), PluginError> {
        self.http.json(method, &format!("{}{path}", self.base), body).await.map_err(|e| PluginError::Transport(e.to_string()))
    }
}

/// A Kubernetes Status the server answered instead of what was asked for. Displayed the way
/// kubectl prints it, so the line is complete without an `error: ` prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.kubectl_line())]
pub struct StatusError {
    /// HTTP status code.
    pub code: u16,
    /// The Status `reason` (`Forbidden`, `NotFound`, …); empty when the server gave none.
    pub reason: String,
    /// The Status `message`.
    pub message: String,
}

impl StatusError {
    /// The error for an answer with status `code` and body `body`.
    pub fn from_response(code: u16, body: &Value) -> StatusError {
        let reason = body["reason"].as_str().unwrap_or_default().to_string();
        let message = match body["message"].as_str() {
            Some(m) => m.to_string(),
            // Not a Status (a proxy in the way, say): kubectl then shows what it can.
            None => format!("the server answered {code} without a message"),
        };
        StatusError { code, reason, message }
    }

    fn kubectl_line(&self) -> String {
        match self.reason.as_str() {
            "Unauthorized" => format!("error: You must be logged in to the server ({})", self.message),
            "" => format!("Error from server: {}", self.message),
            reason => format!("Error from server ({reason}): {}", self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_print_like_kubectl() {
        let forbidden = json!({"kind": "Status", "reason": "Forbidden", "message": "unable to create APIBinding: no permission to bind to export root:x:y"});
        assert_eq!(
            StatusError::from_response(403, &forbidden).to_string(),
            "Error from server (Forbidden): unable to create APIBinding: no permission to bind to export root:x:y"
        );
        let unauthorized = json!({"reason": "Unauthorized", "message": "Unauthorized"});
        assert_eq!(StatusError::from_response(401, &unauthorized).to_string(), "error: You must be logged in to the server (Unauthorized)");
        assert_eq!(StatusError::from_response(500, &json!({"message": "boom"})).to_string(), "Error from server: boom");
        assert_eq!(StatusError::from_response(502, &Value::Null).to_string(), "Error from server: the server answered 502 without a message");
    }

    #[test]
    fn server_urls_split_into_base_and_workspace() {
        assert_eq!(split_server("https://h:1/clusters/root:a/"), ("https://h:1".to_string(), Some("root:a".to_string())));
        assert_eq!(split_server("https://h:1"), ("https://h:1".to_string(), None));
    }
}
