//! The kubeconfig as the plugins see it: the current server and credentials (after the
//! `--context`, `--user` and `--server` overrides), and the `workspace.kcp.io/current` /
//! `workspace.kcp.io/previous` entries `kubectl ws` maintains.
//!
//! Overrides apply to what is read, never to the entries already in the file: saving after
//! `kubectl ws` switched workspaces adds or updates only the plugin's own entries.

use std::path::PathBuf;

use apiserver::client::Credentials;

use serde_json::{json, Value};

use super::{KubeconfigFlags, PluginError};

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
    /// `--context`, `--user`, `--server` as given.
    overrides: KubeconfigFlags,
}

fn named<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|e| e["name"] == name)
}

fn named_mut<'a>(list: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    list.as_array_mut()?.iter_mut().find(|e| e["name"] == name)
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
    /// Loads `--kubeconfig`, else `$KUBECONFIG` (first entry), else `~/.kube/config`.
    pub fn load(flags: &KubeconfigFlags) -> Result<Kubeconfig, PluginError> {
        let path = flags
            .kubeconfig
            .clone()
            .or_else(|| std::env::var("KUBECONFIG").ok().and_then(|v| v.split(':').next().map(PathBuf::from)).filter(|p| !p.as_os_str().is_empty()))
            .or_else(|| std::env::var("HOME").ok().map(|h| PathBuf::from(h).join(".kube/config")))
            .ok_or_else(|| PluginError::Config("no kubeconfig found".into()))?;
        let text = std::fs::read_to_string(&path).map_err(|e| PluginError::Config(format!("{}: {e}", path.display())))?;
        let doc = serde_saphyr::from_str(&text).map_err(|e| PluginError::Config(format!("{}: {e}", path.display())))?;
        Ok(Kubeconfig { path, doc, overrides: flags.clone() })
    }

    fn context_name(&self) -> String {
        self.overrides.context.clone().unwrap_or_else(|| self.doc["current-context"].as_str().unwrap_or_default().to_string())
    }

    /// The context in use, with `--user` applied.
    fn context(&self) -> Result<Value, PluginError> {
        let name = self.context_name();
        let mut context =
            named(&self.doc["contexts"], &name).map(|c| c["context"].clone()).ok_or_else(|| PluginError::Config(format!("context {name:?} not found")))?;
        if let Some(user) = &self.overrides.user {
            context["user"] = json!(user);
        }
        Ok(context)
    }

    /// The cluster of the context in use, with `--server` applied.
    fn cluster(&self) -> Result<Value, PluginError> {
        let name = self.context()?["cluster"].as_str().unwrap_or_default().to_string();
        let mut cluster =
            named(&self.doc["clusters"], &name).map(|c| c["cluster"].clone()).ok_or_else(|| PluginError::Config(format!("cluster {name:?} not found")))?;
        if let Some(server) = &self.overrides.server {
            cluster["server"] = json!(server);
        }
        Ok(cluster)
    }

    /// The server URL in use.
    pub fn server(&self) -> Result<String, PluginError> {
        Ok(self.cluster()?["server"].as_str().unwrap_or_default().trim_end_matches('/').to_string())
    }

    /// The credentials of the context in use.
    pub fn credentials(&self) -> Result<Credentials, PluginError> {
        // Credentials read the current context of a document, so they get a copy in which the
        // overrides are what the file says.
        let mut doc = self.doc.clone();
        let context = self.context()?;
        let cluster = self.cluster()?;
        let name = self.context_name();
        doc["current-context"] = json!(name);
        if let Some(c) = named_mut(&mut doc["contexts"], &name) {
            c["context"] = context.clone();
        }
        if let Some(c) = named_mut(&mut doc["clusters"], context["cluster"].as_str().unwrap_or_default()) {
            c["cluster"] = cluster;
        }
        Credentials::from_document(&doc, &self.path).map_err(|e| PluginError::Config(e.to_string()))
    }

    /// Points the current context at `server`, keeping the previous one for `kubectl ws -`.
    pub fn switch(&mut self, server: &str) -> Result<(), PluginError> {
        let cluster = self.cluster()?;
        let context = self.context()?;
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
    pub fn add_context(&mut self, name: &str, server: &str, overwrite: bool) -> Result<(), PluginError> {
        if !overwrite && named(&self.doc["contexts"], name).is_some() {
            return Err(PluginError::ContextExists(name.to_string()));
        }
        let mut cluster = self.cluster()?;
        cluster["server"] = json!(server);
        let mut ctx = self.context()?;
        ctx["cluster"] = json!(name);
        upsert(&mut self.doc["clusters"], name, "cluster", cluster);
        upsert(&mut self.doc["contexts"], name, "context", ctx);
        self.doc["current-context"] = json!(name);
        Ok(())
    }

    /// Writes the kubeconfig back, keeping its file mode.
    pub fn save(&self) -> Result<(), PluginError> {
        let text = serde_saphyr::to_string(&self.doc).map_err(|e| PluginError::Config(e.to_string()))?;
        std::fs::write(&self.path, text).map_err(|e| PluginError::Config(format!("{}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(overrides: KubeconfigFlags) -> Kubeconfig {
        let doc = json!({
            "current-context": "a",
            "clusters": [{"name": "ca", "cluster": {"server": "https://h:1/clusters/root", "certificate-authority-data": "Q0E="}},
                         {"name": "cb", "cluster": {"server": "https://h:1/clusters/root:b", "certificate-authority-data": "Q0E="}}],
            "users": [{"name": "ua", "user": {"token": "ta"}}, {"name": "ub", "user": {"token": "tb"}}],
            "contexts": [{"name": "a", "context": {"cluster": "ca", "user": "ua"}}, {"name": "b", "context": {"cluster": "cb", "user": "ub"}}],
        });
        Kubeconfig { path: PathBuf::from("/nowhere/kc"), doc, overrides }
    }

    #[test]
    fn overrides_choose_context_user_and_server() {
        let plain = loaded(KubeconfigFlags::default());
        assert_eq!(plain.server().expect("server"), "https://h:1/clusters/root");
        assert_eq!(plain.credentials().expect("creds").token.as_deref(), Some("ta"));

        let other = loaded(KubeconfigFlags { context: Some("b".into()), ..Default::default() });
        assert_eq!(other.server().expect("server"), "https://h:1/clusters/root:b");
        assert_eq!(other.credentials().expect("creds").token.as_deref(), Some("tb"));

        let mixed = loaded(KubeconfigFlags { user: Some("ub".into()), server: Some("https://x:2/clusters/root:c/".into()), ..Default::default() });
        assert_eq!(mixed.server().expect("server"), "https://x:2/clusters/root:c");
        let creds = mixed.credentials().expect("creds");
        assert_eq!((creds.token.as_deref(), creds.server.as_str()), (Some("tb"), "https://x:2/clusters/root:c/"));

        let missing = loaded(KubeconfigFlags { context: Some("nope".into()), ..Default::default() });
        assert_eq!(missing.server().map_err(|e| e.to_string()), Err("context \"nope\" not found".to_string()));
    }

    #[test]
    fn switching_keeps_the_files_own_entries() {
        let mut kc = loaded(KubeconfigFlags { server: Some("https://x:2/clusters/root".into()), ..Default::default() });
        kc.switch("https://x:2/clusters/root:org").expect("switch");
        assert_eq!(kc.doc["clusters"][0]["cluster"]["server"], "https://h:1/clusters/root", "the override is not written into the file's cluster");
        assert_eq!(named(&kc.doc["clusters"], PREVIOUS).expect("previous")["cluster"]["server"], "https://x:2/clusters/root");
        assert_eq!(named(&kc.doc["clusters"], CURRENT).expect("current")["cluster"]["server"], "https://x:2/clusters/root:org");
        assert_eq!(kc.doc["current-context"], CURRENT);
        assert!(matches!(kc.add_context("a", "https://x:2/clusters/root", false), Err(PluginError::ContextExists(_))));
    }
}
