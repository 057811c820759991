//! The kubeconfig as the plugin sees it: the current server, credentials, and the
//! `workspace.kcp.io/current` / `workspace.kcp.io/previous` entries it maintains.

use std::path::PathBuf;

use apiserver::client::Credentials;

use serde_json::{json, Value};

use super::WsError;

/// Cluster and context names the plugin writes.
pub const CURRENT: &str = "workspace.kcp.io/current";
/// The previous workspace, for `kubectl ws -`.
pub const PREVIOUS: &str = "workspace.kcp.io/previous";

/// A loaded kubeconfig.
pub struct Kubeconfig {
    /// The file it was loaded from, and is saved back to.
    pub path: PathBuf,
    /// The parsed document, edited in place until [`Kubeconfig::save`].
    pub doc: Value,
}

fn named<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|e| e["name"] == name)
}

fn upsert(list: &mut Value, name: &str, body_key: &str, body: Value) {
    if !list.is_array() {
        *list = json!([]);
    }
    let arr = list.as_array_mut().expect("array ensured above");
    match arr.iter_mut().find(|e| e["name"] == name) {
        Some(e) => e[body_key] = body,
        None => arr.push(json!({"name": name, body_key: body})),
    }
}

impl Kubeconfig {
    /// Loads `$KUBECONFIG` (first entry), `--kubeconfig`, or `~/.kube/config`.
    pub fn load(explicit: Option<PathBuf>) -> Result<Kubeconfig, WsError> {
        let path = explicit
            .or_else(|| std::env::var("KUBECONFIG").ok().and_then(|v| v.split(':').next().map(PathBuf::from)).filter(|p| !p.as_os_str().is_empty()))
            .or_else(|| std::env::var("HOME").ok().map(|h| PathBuf::from(h).join(".kube/config")))
            .ok_or_else(|| WsError::Config("no kubeconfig found".into()))?;
        let text = std::fs::read_to_string(&path).map_err(|e| WsError::Config(format!("{}: {e}", path.display())))?;
        let doc = serde_saphyr::from_str(&text).map_err(|e| WsError::Config(format!("{}: {e}", path.display())))?;
        Ok(Kubeconfig { path, doc })
    }

    fn context(&self) -> Result<&Value, WsError> {
        let name = self.doc["current-context"].as_str().unwrap_or_default();
        named(&self.doc["contexts"], name).map(|c| &c["context"]).ok_or_else(|| WsError::Config(format!("current context {name:?} not found")))
    }

    fn cluster(&self) -> Result<&Value, WsError> {
        let name = self.context()?["cluster"].as_str().unwrap_or_default().to_string();
        named(&self.doc["clusters"], &name).map(|c| &c["cluster"]).ok_or_else(|| WsError::Config(format!("cluster {name:?} not found")))
    }

    /// The current server URL.
    pub fn server(&self) -> Result<String, WsError> {
        Ok(self.cluster()?["server"].as_str().unwrap_or_default().trim_end_matches('/').to_string())
    }

    /// The credentials of the current context.
    pub fn credentials(&self) -> Result<Credentials, WsError> {
        Credentials::from_document(&self.doc, &self.path).map_err(|e| WsError::Config(e.to_string()))
    }

    /// Points the current context at `server`, keeping the previous one for `kubectl ws -`.
    pub fn switch(&mut self, server: &str) -> Result<(), WsError> {
        let cluster = self.cluster()?.clone();
        let context = self.context()?.clone();
        upsert(&mut self.doc["clusters"], PREVIOUS, "cluster", cluster.clone());
        let mut prev_ctx = context.clone();
        prev_ctx["cluster"] = json!(PREVIOUS);
        upsert(&mut self.doc["contexts"], PREVIOUS, "context", prev_ctx);
        let mut next = cluster;
        next["server"] = json!(server);
        upsert(&mut self.doc["clusters"], CURRENT, "cluster", next);
        let mut ctx = context;
        ctx["cluster"] = json!(CURRENT);
        upsert(&mut self.doc["contexts"], CURRENT, "context", ctx);
        self.doc["current-context"] = json!(CURRENT);
        Ok(())
    }

    /// Adds (or with `overwrite` replaces) a context `name` for `server`.
    pub fn add_context(&mut self, name: &str, server: &str, overwrite: bool) -> Result<(), WsError> {
        if !overwrite && named(&self.doc["contexts"], name).is_some() {
            return Err(WsError::Usage(format!("context {name:?} already exists in kubeconfig, use --overwrite to update it")));
        }
        let mut cluster = self.cluster()?.clone();
        cluster["server"] = json!(server);
        let mut ctx = self.context()?.clone();
        ctx["cluster"] = json!(name);
        upsert(&mut self.doc["clusters"], name, "cluster", cluster);
        upsert(&mut self.doc["contexts"], name, "context", ctx);
        self.doc["current-context"] = json!(name);
        Ok(())
    }

    /// Writes the kubeconfig back, keeping its file mode.
    pub fn save(&self) -> Result<(), WsError> {
        let text = serde_saphyr::to_string(&self.doc).map_err(|e| WsError::Config(e.to_string()))?;
        std::fs::write(&self.path, text).map_err(|e| WsError::Config(format!("{}: {e}", self.path.display())))
    }
}
