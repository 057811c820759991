//! The lock each workspace keeps on its group/resources, shared by APIBindings and CRDs, so
//! that at most one of them serves a resource even when both are created at the same moment.
//!
//! The lock table is an annotation on the workspace's LogicalCluster, written with a
//! resourceVersion precondition: two writers racing for one resource cannot both win. A binding
//! holds its resources until it is deleted. A CRD's lock is taken by admission before the CRD
//! is stored, with an expiry, since the create may still fail after it; a lock whose CRD
//! exists stands whatever its expiry.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apiserver::rest::object;
use apiserver::storage::{Key, Storage, StorageError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Annotation on the LogicalCluster holding the lock table (kcp's key and shape).
pub const ANNOTATION: &str = "internal.apis.kcp.io/resource-bindings";

/// How long a CRD's lock stands before its CRD exists.
pub const CRD_LOCK_TTL: Duration = Duration::from_secs(30);

/// One group/resource's holder: a binding by name, or a CRD.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// The APIBinding holding the resource.
    #[serde(rename = "n", default, skip_serializing_if = "String::is_empty")]
    pub binding: String,
    /// Whether a CRD holds it.
    #[serde(rename = "c", default, skip_serializing_if = "std::ops::Not::not")]
    pub crd: bool,
    /// For a CRD's lock: when it lapses unless the CRD exists (seconds since the epoch).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<u64>,
}

/// Who asks for a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder<'a> {
    /// The APIBinding of this name.
    Binding(&'a str),
    /// A CRD being created.
    Crd,
}

/// Who holds a resource that was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The APIBinding of this name.
    Binding(String),
    /// A CustomResourceDefinition (named, when it exists).
    Crd(Option<String>),
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conflict::Binding(name) => write!(f, "APIBinding {name:?}"),
            Conflict::Crd(Some(name)) => write!(f, "CustomResourceDefinition {name:?}"),
            Conflict::Crd(None) => write!(f, "a CustomResourceDefinition being created"),
        }
    }
}

/// The lock table's key for a group/resource: `resource.group`, or `resource` for core.
pub fn group_resource(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

/// Takes `gr` for `holder` in `table` unless someone else holds it; `standing` says whether a
/// lock held by another still stands (its binding exists, its CRD exists or has not expired),
/// and as whom. Returns whether the table changed.
pub fn acquire(
    table: &mut BTreeMap<String, Lock>,
    gr: &str,
    holder: Holder<'_>,
    now: u64,
    standing: impl Fn(&Lock) -> Option<Conflict>,
) -> Result<bool, Conflict> {
    let wanted = match holder {
        Holder::Binding(name) => Lock { binding: name.to_string(), ..Lock::default() },
        Holder::Crd => Lock { crd: true, expiry: Some(now + CRD_LOCK_TTL.as_secs()), ..Lock::default() },
    };
    match table.get(gr) {
        Some(held) if held.binding == wanted.binding && held.crd == wanted.crd => {
            // A CRD's own lock is renewed, so that a retried create keeps it.
            if held.crd && held.expiry < wanted.expiry {
                table.insert(gr.to_string(), wanted);
                return Ok(true);
            }
            Ok(false)
        }
        Some(held) => match standing(held) {
            Some(conflict) => Err(conflict),
            None => {
                table.insert(gr.to_string(), wanted);
                Ok(true)
            }
        },
        None => {
            table.insert(gr.to_string(), wanted);
            Ok(true)
        }
    }
}

/// The lock table of a LogicalCluster; an unreadable one counts as empty, so a damaged
/// annotation cannot wedge a workspace.
pub fn table_of(lc: &Value) -> BTreeMap<String, Lock> {
    lc.pointer("/metadata/annotations").and_then(|a| a.get(ANNOTATION)).and_then(Value::as_str).and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()
}

/// Takes every group/resource of `grs` in `cluster` for `holder`, or none of them. `Ok(Err)` names
/// who holds the first one that is taken. A cluster without a LogicalCluster (a system one)
/// has nothing to lock.
pub async fn lock(
    store: &dyn Storage,
    cluster: &str,
    grs: &[String],
    holder: Holder<'_>,
    standing: impl Fn(&str, &Lock) -> Option<Conflict>,
) -> Result<Result<(), (String, Conflict)>, StorageError> {
    change(store, cluster, |table| {
        let now = now();
        let mut changed = false;
        for gr in grs {
            match acquire(table, gr, holder, now, |held| standing(gr, held)) {
                Ok(c) => changed |= c,
                Err(conflict) => return Err((gr.clone(), conflict)),
            }
        }
        Ok(changed)
    })
    .await
}

/// Gives up every resource `binding` holds in `cluster`.
pub async fn release(store: &dyn Storage, cluster: &str, binding: &str) -> Result<(), StorageError> {
    change(store, cluster, |table| {
        let before = table.len();
        table.retain(|_, l| l.binding != binding);
        Ok::<_, std::convert::Infallible>(table.len() != before)
    })
    .await
    .map(|_| ())
}

/// Reads the lock table of `cluster`, lets `f` change it, and writes it back if it did, again
/// whenever another writer came first.
async fn change<E>(
    store: &dyn Storage,
    cluster: &str,
    mut f: impl FnMut(&mut BTreeMap<String, Lock>) -> Result<bool, E>,
) -> Result<Result<(), E>, StorageError> {
    let key = Key::logical_cluster(cluster).encode();
    loop {
        let stored = match store.get(&key).await {
            Ok(s) => s,
            Err(StorageError::NotFound { .. }) => return Ok(Ok(())),
            Err(e) => return Err(e),
        };
        let Ok(mut lc) = serde_json::from_slice::<Value>(&stored.value) else { return Ok(Ok(())) };
        let mut table = table_of(&lc);
        match f(&mut table) {
            Err(e) => return Ok(Err(e)),
            Ok(false) => return Ok(Ok(())),
            Ok(true) => {}
        }
        let annotations = object::meta_mut(&mut lc).entry("annotations").or_insert_with(|| json!({}));
        annotations[ANNOTATION] = json!(serde_json::to_string(&table).unwrap_or_default());
        match store.update(&key, stored.revision, object::to_stored(&lc)).await {
            Ok(_) => return Ok(Ok(())),
            Err(StorageError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd_lock(expiry: u64) -> Lock {
        Lock { crd: true, expiry: Some(expiry), ..Lock::default() }
    }

    #[test]
    fn a_free_resource_is_taken_and_held() {
        let mut t = BTreeMap::new();
        assert_eq!(acquire(&mut t, "cowboys.wildwest.dev", Holder::Binding("a"), 100, |_| unreachable!()), Ok(true));
        assert_eq!(acquire(&mut t, "cowboys.wildwest.dev", Holder::Binding("a"), 100, |_| unreachable!()), Ok(false));
        let standing = |l: &Lock| Some(Conflict::Binding(l.binding.clone()));
        assert_eq!(acquire(&mut t, "cowboys.wildwest.dev", Holder::Binding("b"), 100, standing), Err(Conflict::Binding("a".into())));
        assert_eq!(acquire(&mut t, "cowboys.wildwest.dev", Holder::Crd, 100, standing), Err(Conflict::Binding("a".into())));
    }

    #[test]
    fn a_lock_that_no_longer_stands_is_taken_over() {
        let mut t = BTreeMap::from([("cowboys.wildwest.dev".to_string(), crd_lock(50))]);
        assert_eq!(acquire(&mut t, "cowboys.wildwest.dev", Holder::Binding("a"), 100, |_| None), Ok(true));
        assert_eq!(t["cowboys.wildwest.dev"].binding, "a");
        assert!(!t["cowboys.wildwest.dev"].crd);
    }

    #[test]
    fn a_crd_renews_its_own_lock() {
        let mut t = BTreeMap::from([("widgets.example.com".to_string(), crd_lock(50))]);
        assert_eq!(acquire(&mut t, "widgets.example.com", Holder::Crd, 100, |_| unreachable!()), Ok(true));
        assert_eq!(t["widgets.example.com"].expiry, Some(100 + CRD_LOCK_TTL.as_secs()));
    }

    #[test]
    fn the_table_reads_and_writes_kcps_shape() {
        let t = BTreeMap::from([("cowboys.wildwest.dev".to_string(), Lock { binding: "cowboys".into(), ..Lock::default() }), ("x".to_string(), crd_lock(7))]);
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, r#"{"cowboys.wildwest.dev":{"n":"cowboys"},"x":{"c":true,"e":7}}"#);
        let lc = json!({"metadata": {"annotations": {ANNOTATION: text}}});
        assert_eq!(table_of(&lc), t);
        assert!(table_of(&json!({"metadata": {"annotations": {ANNOTATION: "xxx"}}})).is_empty());
        assert_eq!(group_resource("", "configmaps"), "configmaps");
    }
}
