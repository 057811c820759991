//! Where every workspace lives: an index fed by watching the Shards in `root` and, on every
//! shard, all Workspaces and LogicalClusters (wildcard watches as `system:masters`). A path
//! `root:org:team` resolves segment by segment, each child possibly on another shard.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use apimachinery::request::WorkspacePath;
use apiserver::client::Client;
use apiserver::rest::CLUSTER_ANNOTATION;
use serde_json::Value;

/// Where a request goes: a shard and a logical cluster on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Name of the shard, for logs and messages.
    pub shard: String,
    /// Base URL of the shard, or of its virtual workspaces for `/services/` paths.
    pub base_url: String,
    /// Logical cluster name on that shard; empty for paths outside `/clusters/`.
    pub cluster: String,
}

#[derive(Default)]
struct State {
    /// Shard name → base URL.
    shards: HashMap<String, String>,
    /// Shard name → URL of its virtual workspaces.
    virtual_workspaces: HashMap<String, String>,
    /// Logical cluster → shard hosting it.
    clusters: HashMap<String, String>,
    /// (parent logical cluster, workspace name) → child logical cluster.
    children: HashMap<(String, String), String>,
    /// What each shard contributed, so a re-list replaces exactly that.
    clusters_of: HashMap<String, HashSet<String>>,
    children_of: HashMap<String, HashSet<(String, String)>>,
    /// Whether the Shards have been listed at least once.
    shards_listed: bool,
    /// When each of a shard's watches last proved current (a list, an event or a bookmark),
    /// by (shard, [`CLUSTERS`] or [`WORKSPACES`]).
    heard: HashMap<(String, &'static str), Instant>,
}

/// The watch of a shard's LogicalClusters.
const CLUSTERS: &str = "logicalclusters";
/// The watch of a shard's Workspaces.
const WORKSPACES: &str = "workspaces";

/// The watches of each shard, by shard name, with the base URL they watch.
type Watchers = std::sync::Mutex<HashMap<String, (String, Vec<tokio::task::JoinHandle<()>>)>>;

/// The routing index.
#[derive(Default)]
pub struct Index {
    state: RwLock<State>,
}

fn cluster_of(obj: &Value) -> Option<String> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(CLUSTER_ANNOTATION)).and_then(Value::as_str).map(String::from)
}

fn workspace_entry(obj: &Value) -> Option<((String, String), String)> {
    let parent = cluster_of(obj)?;
    let name = obj.pointer("/metadata/name").and_then(Value::as_str)?.to_string();
    let child = obj.pointer("/spec/cluster").and_then(Value::as_str).filter(|c| !c.is_empty())?.to_string();
    Some(((parent, name), child))
}

impl Index {
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves a workspace path (or logical cluster name) to its shard and logical cluster.
    pub fn lookup(&self, path: &str) -> Option<Route> {
        let s = self.read();
        let path = WorkspacePath::parse(path)?;
        let mut cluster = path.start().to_string();
        for name in path.children() {
            cluster = s.children.get(&(cluster, name.to_string()))?.clone();
        }
        let shard = s.clusters.get(&cluster)?.clone();
        let base_url = s.shards.get(&shard)?.clone();
        Some(Route { shard, base_url, cluster })
    }

    /// The base URL of a shard.
    pub fn shard_url(&self, shard: &str) -> Option<String> {
        self.read().shards.get(shard).cloned()
    }

    /// The URL of a shard's virtual workspaces.
    pub fn virtual_workspace_url(&self, shard: &str) -> Option<String> {
        let s = self.read();
        s.virtual_workspaces.get(shard).or_else(|| s.shards.get(shard)).cloned()
    }

    /// Every known shard and the URL of its virtual workspaces, in name order.
    pub fn virtual_workspace_urls(&self) -> Vec<(String, String)> {
        let s = self.read();
        let mut all: Vec<(String, String)> =
            s.shards.iter().map(|(name, base)| (name.clone(), s.virtual_workspaces.get(name).unwrap_or(base).clone())).collect();
        all.sort();
        all
    }

    /// What the index has not listed yet: the Shards, or a known shard's logical clusters or
    /// workspaces. Empty once every known shard's view has been loaded, which is when routing
    /// answers can be trusted.
    pub fn unsynced(&self) -> Vec<String> {
        let s = self.read();
        if !s.shards_listed {
            return vec!["shards".to_string()];
        }
        let mut missing: Vec<String> = s
            .shards
            .keys()
            .flat_map(|shard| {
                let clusters = (!s.clusters_of.contains_key(shard)).then(|| format!("{shard}/logicalclusters"));
                let workspaces = (!s.children_of.contains_key(shard)).then(|| format!("{shard}/workspaces"));
                clusters.into_iter().chain(workspaces)
            })
            .collect();
        missing.sort();
        missing
    }

    /// How many entries the index holds, by kind (`shards`, `logicalclusters`, `workspaces`).
    pub fn entries(&self) -> Vec<(String, f64)> {
        let s = self.read();
        vec![("shards".into(), s.shards.len() as f64), (CLUSTERS.into(), s.clusters.len() as f64), (WORKSPACES.into(), s.children.len() as f64)]
    }

    /// By shard, the seconds since the older of its two watches last proved current: how far
    /// behind the index may be. A connected watch hears at least a bookmark every 30 seconds.
    pub fn lag(&self) -> Vec<(String, f64)> {
        let s = self.read();
        s.shards
            .keys()
            .map(|shard| {
                let oldest = [CLUSTERS, WORKSPACES].iter().filter_map(|w| s.heard.get(&(shard.clone(), *w))).min();
                (shard.clone(), oldest.map_or(0.0, |t| t.elapsed().as_secs_f64()))
            })
            .collect()
    }

    /// Notes that a watch of `shard` proved current now.
    fn heard(s: &mut State, shard: &str, watch: &'static str) {
        s.heard.insert((shard.to_string(), watch), Instant::now());
    }

    fn set_clusters(&self, shard: &str, items: &[Value]) {
        let mut s = self.write();
        Self::heard(&mut s, shard, CLUSTERS);
        for old in s.clusters_of.remove(shard).unwrap_or_default() {
            s.clusters.remove(&old);
        }
        let mine: HashSet<String> = items.iter().filter_map(cluster_of).collect();
        for c in &mine {
            s.clusters.insert(c.clone(), shard.to_string());
        }
        s.clusters_of.insert(shard.to_string(), mine);
    }

    fn cluster_event(&self, shard: &str, kind: &str, obj: &Value) {
        let mut s = self.write();
        Self::heard(&mut s, shard, CLUSTERS);
        let Some(c) = cluster_of(obj).filter(|_| kind != "BOOKMARK") else { return };
        if kind == "DELETED" {
            s.clusters.remove(&c);
            s.clusters_of.entry(shard.to_string()).or_default().remove(&c);
        } else {
            s.clusters.insert(c.clone(), shard.to_string());
            s.clusters_of.entry(shard.to_string()).or_default().insert(c);
        }
    }

    fn set_workspaces(&self, shard: &str, items: &[Value]) {
        let mut s = self.write();
        Self::heard(&mut s, shard, WORKSPACES);
        for old in s.children_of.remove(shard).unwrap_or_default() {
            s.children.remove(&old);
        }
        let mut mine = HashSet::new();
        for (key, child) in items.iter().filter_map(workspace_entry) {
            mine.insert(key.clone());
            s.children.insert(key, child);
        }
        s.children_of.insert(shard.to_string(), mine);
    }

    fn workspace_event(&self, shard: &str, kind: &str, obj: &Value) {
        let mut s = self.write();
        Self::heard(&mut s, shard, WORKSPACES);
        match (kind, workspace_entry(obj)) {
            ("BOOKMARK", _) => {}
            ("DELETED", _) | (_, None) => {
                if let (Some(parent), Some(name)) = (cluster_of(obj), obj.pointer("/metadata/name").and_then(Value::as_str)) {
                    let key = (parent, name.to_string());
                    s.children.remove(&key);
                    s.children_of.entry(shard.to_string()).or_default().remove(&key);
                }
            }
            (_, Some((key, child))) => {
                s.children.insert(key.clone(), child);
                s.children_of.entry(shard.to_string()).or_default().insert(key);
            }
        }
    }

    /// Keeps the index current forever: watches the Shards in `root` on the root shard and,
    /// for each shard, its Workspaces and LogicalClusters.
    pub async fn run(self: Arc<Self>, client: Client, root_url: String) {
        let watchers: Arc<Watchers> = Arc::default();
        let sync = |index: &Arc<Index>, watchers: &Arc<Watchers>| {
            let shards = {
                let mut s = index.write();
                // A watch counts as current from its start; it lags from then until it lists.
                let now = Instant::now();
                let known = s.shards.clone();
                s.heard.retain(|(shard, _), _| known.contains_key(shard));
                for shard in known.keys() {
                    for watch in [CLUSTERS, WORKSPACES] {
                        s.heard.entry((shard.clone(), watch)).or_insert(now);
                    }
                }
                known
            };
            let mut w = watchers.lock().unwrap_or_else(|e| e.into_inner());
            w.retain(|name, (url, tasks)| {
                let keep = shards.get(name) == Some(url);
                if !keep {
                    tasks.iter().for_each(tokio::task::JoinHandle::abort);
                }
                keep
            });
            for (name, url) in shards {
                if w.contains_key(&name) {
                    continue;
                }
                let tasks = vec![
                    tokio::spawn(watch_clusters(index.clone(), client.clone(), name.clone(), url.clone())),
                    tokio::spawn(watch_workspaces(index.clone(), client.clone(), name.clone(), url.clone())),
                ];
                w.insert(name, (url, tasks));
            }
        };
        let url = format!("{root_url}/clusters/root/apis/core.kcp.io/v1alpha1/shards");
        let (on_list, on_event) = (self.clone(), self.clone());
        let (w1, w2) = (watchers.clone(), watchers.clone());
        client
            .list_watch(
                &url,
                move |items| {
                    {
                        let mut s = on_list.write();
                        s.shards = items.iter().filter_map(shard_entry).collect();
                        s.virtual_workspaces = items.iter().filter_map(|i| shard_url(i, "virtualWorkspaceURL")).collect();
                        s.shards_listed = true;
                    }
                    sync(&on_list, &w1);
                },
                move |kind, obj| {
                    let Some((name, base)) = shard_entry(&obj) else { return };
                    {
                        let mut s = on_event.write();
                        if kind == "DELETED" {
                            s.shards.remove(&name);
                            s.virtual_workspaces.remove(&name);
                        } else {
                            if let Some((_, vw)) = shard_url(&obj, "virtualWorkspaceURL") {
                                s.virtual_workspaces.insert(name.clone(), vw);
                            }
                            s.shards.insert(name, base);
                        }
                    }
                    sync(&on_event, &w2);
                },
            )
            .await;
    }
}

fn shard_entry(obj: &Value) -> Option<(String, String)> {
    shard_url(obj, "baseURL")
}

/// (shard name, one of its URLs without a trailing slash).
fn shard_url(obj: &Value, field: &str) -> Option<(String, String)> {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str)?;
    let url = obj.pointer(&format!("/spec/{field}")).and_then(Value::as_str).filter(|u| !u.is_empty())?;
    Some((name.to_string(), url.trim_end_matches('/').to_string()))
}

async fn watch_clusters(index: Arc<Index>, client: Client, shard: String, base: String) {
    let url = format!("{base}/clusters/*/apis/core.kcp.io/v1alpha1/logicalclusters");
    let (a, b) = (index.clone(), index);
    let (s1, s2) = (shard.clone(), shard);
    client.list_watch(&url, move |items| a.set_clusters(&s1, &items), move |kind, obj| b.cluster_event(&s2, kind, &obj)).await;
}

async fn watch_workspaces(index: Arc<Index>, client: Client, shard: String, base: String) {
    let url = format!("{base}/clusters/*/apis/tenancy.kcp.io/v1alpha1/workspaces");
    let (a, b) = (index.clone(), index);
    let (s1, s2) = (shard.clone(), shard);
    client.list_watch(&url, move |items| a.set_workspaces(&s1, &items), move |kind, obj| b.workspace_event(&s2, kind, &obj)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::request::home_cluster_name;
    use serde_json::json;

    fn lc(cluster: &str) -> Value {
        json!({"metadata": {"name": "cluster", "annotations": {"kcp.io/cluster": cluster}}})
    }

    fn ws(parent: &str, name: &str, child: &str) -> Value {
        json!({"metadata": {"name": name, "annotations": {"kcp.io/cluster": parent}}, "spec": {"cluster": child}})
    }

    #[test]
    fn synced_once_every_known_shard_was_listed() {
        let index = Index::default();
        assert_eq!(index.unsynced(), ["shards"]);
        {
            let mut s = index.write();
            s.shards = HashMap::from([("s1".to_string(), "https://a".to_string()), ("s2".to_string(), "https://b".to_string())]);
            s.shards_listed = true;
        }
        index.set_clusters("s1", &[lc("root")]);
        index.set_workspaces("s1", &[]);
        index.set_clusters("s2", &[]);
        assert_eq!(index.unsynced(), ["s2/workspaces"]);
        index.set_workspaces("s2", &[]);
        assert!(index.unsynced().is_empty());
    }

    #[test]
    fn paths_resolve_across_shards() {
        let index = Index::default();
        index.write().shards = HashMap::from([("s1".to_string(), "https://a".to_string()), ("s2".to_string(), "https://b".to_string())]);
        index.set_clusters("s1", &[lc("root"), lc("org1")]);
        index.set_clusters("s2", &[lc("team1")]);
        index.set_workspaces("s1", &[ws("root", "org", "org1"), ws("org1", "team", "team1")]);
        let route = |p: &str| index.lookup(p).map(|r| (r.shard, r.cluster));
        assert_eq!(route("root"), Some(("s1".into(), "root".into())));
        assert_eq!(route("root:org:team"), Some(("s2".into(), "team1".into())));
        assert_eq!(route("team1"), Some(("s2".into(), "team1".into())));
        assert_eq!(route("root:nope"), None);
        // A re-list of one shard replaces what that shard said, and only that.
        index.set_clusters("s2", &[]);
        assert_eq!(route("root:org:team"), None);
        assert_eq!(route("root:org").map(|r| r.1), Some("org1".into()));
        index.workspace_event("s1", "DELETED", &ws("root", "org", "org1"));
        assert_eq!(route("root:org"), None);
        index.workspace_event("s1", "ADDED", &json!({"metadata": {"name": "late", "annotations": {"kcp.io/cluster": "root"}}, "spec": {}}));
        assert_eq!(route("root:late"), None, "not scheduled yet");
    }

    #[test]
    fn sizes_and_lag_by_shard() {
        let index = Index::default();
        index.write().shards.insert("s1".into(), "https://a".into());
        index.set_clusters("s1", &[lc("root"), lc("org1")]);
        index.set_workspaces("s1", &[ws("root", "org", "org1")]);
        let entries = index.entries();
        assert_eq!(entries, [("shards".to_string(), 1.0), ("logicalclusters".into(), 2.0), ("workspaces".into(), 1.0)]);
        std::thread::sleep(std::time::Duration::from_millis(20));
        index.workspace_event("s1", "BOOKMARK", &json!({"metadata": {"resourceVersion": "9"}}));
        let lag = index.lag()[0].1;
        assert!(lag >= 0.02, "the clusters watch was last heard 20 ms ago: {lag}");
        index.cluster_event("s1", "BOOKMARK", &json!({"metadata": {"resourceVersion": "9"}}));
        assert!(index.lag()[0].1 < 0.02);
        assert_eq!(index.entries(), entries, "bookmarks change nothing");
    }

    #[test]
    fn home_paths_use_the_hashed_name() {
        let index = Index::default();
        index.write().shards.insert("s1".into(), "https://a".into());
        index.set_clusters("s1", &[lc(&home_cluster_name("alice"))]);
        assert_eq!(index.lookup("user:alice").map(|r| r.shard), Some("s1".into()));
    }
}
