//! Marks the RBAC that other shards must see for replication, in annotation
//! `internal.kcp.io/replicate` (a comma set: reasons of other labellers are kept): a ClusterRole
//! granting `use`, `initialize` or `terminate` on WorkspaceTypes gets `workspacetypes`, one granting `bind` on APIExports (or
//! access to their content) gets `apiexports`, and every ClusterRoleBinding to such a role gets
//! the role's reasons (bindings to the bootstrap roles, which every shard has, are not). A
//! ClusterRoleBinding granting to `apis.kcp.io:binding:` subjects, and the role it names, get
//! `apiexports` too: they are an export's maximal permission policy. The replication controller
//! then publishes them to the cache, so a shard admitting a workspace of a type, or a binding
//! to an export, in another shard's workspace can evaluate `use` and `bind`, and a shard
//! serving a bound resource can apply its export's policy.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use apiserver::controller::{Action, Change, Controller, Informers, Reconcile};
use apiserver::rest::client::{ObjectRef, SystemClient};
use apiserver::rest::object;
use serde_json::{json, Value};

use super::{own_key, update, Error, Part};
use apimachinery::auth::BINDING_PREFIX;

/// The controller's name (metrics, logs, identity).
pub const NAME: &str = "replicate-rbac";

/// Annotation naming why an object is replicated to the cache, as a comma set of reasons.
pub const REPLICATE_ANNOTATION: &str = "internal.kcp.io/replicate";

/// Reason: the RBAC decides who may `use` workspace types.
pub const WORKSPACE_TYPES: &str = "workspacetypes";

/// Reason: the RBAC decides who may `bind` APIExports or reach their content.
pub const API_EXPORTS: &str = "apiexports";

/// The reasons this labeller manages.
const MANAGED: [&str; 2] = [WORKSPACE_TYPES, API_EXPORTS];

const ROLES: &str = "rbac.authorization.k8s.io/clusterroles/";
const BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings/";

/// Which ClusterRole each ClusterRoleBinding names, both ways, so a role's change re-examines
/// its bindings and a binding's change touches only its own entries (one workspace owner
/// binding per logical cluster makes a scan of all bindings per change quadratic). Entries are
/// storage keys, each allocated once: the index holds every binding on the shard.
#[derive(Default)]
struct BindingIndex {
    /// (role key, binding key): the bindings naming one role are one range.
    by_role: BTreeSet<(Arc<str>, Arc<str>)>,
    /// Binding key → the key of the role it names (in the binding's cluster).
    role_of: HashMap<Arc<str>, Arc<str>>,
}

impl BindingIndex {
    /// Records that `binding` names ClusterRole `role` (None: it is gone); returns the role it
    /// named before.
    fn set(&mut self, binding: &ObjectRef, role: Option<&str>) -> Option<ObjectRef> {
        let key = binding.key();
        let before = self.role_of.remove_entry(key.as_str());
        if let Some((b, r)) = &before {
            self.by_role.remove(&(r.clone(), b.clone()));
        }
        if let Some(role) = role {
            let role = cluster_role(&binding.cluster, role).key();
            let role = self.naming(&role).next().map_or_else(|| Arc::from(role.as_str()), |(r, _)| r.clone());
            let key = before.as_ref().map_or_else(|| Arc::from(key), |(b, _)| b.clone());
            self.by_role.insert((role.clone(), key.clone()));
            self.role_of.insert(key, role);
        }
        before.and_then(|(_, r)| ObjectRef::from_key(&r))
    }

    /// The entries of the bindings naming the role with this key.
    fn naming<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a (Arc<str>, Arc<str>)> + 'a {
        self.by_role.range((Arc::from(role), Arc::from(""))..).take_while(move |(r, _)| &**r == role)
    }

    /// The bindings naming a ClusterRole.
    fn bindings_of(&self, role: &ObjectRef) -> Vec<ObjectRef> {
        self.naming(&role.key()).filter_map(|(_, b)| ObjectRef::from_key(b)).collect()
    }
}

/// A ClusterRole of a logical cluster.
fn cluster_role(cluster: &str, name: &str) -> ObjectRef {
    ObjectRef::new("rbac.authorization.k8s.io", "clusterroles", cluster, "", name)
}

/// Keeps the replication marks of ClusterRoles and ClusterRoleBindings up to date.
pub struct ReplicateRbac {
    /// Writes the annotation as the controller.
    pub client: SystemClient,
}

/// The controller, fed by every ClusterRole and ClusterRoleBinding of the shard.
pub fn controller(reconciler: ReplicateRbac, informers: &Informers) -> Controller<ReplicateRbac> {
    let index: Arc<Mutex<BindingIndex>> = Arc::default();
    let by_role = index.clone();
    Controller::new(NAME, reconciler)
        .workers(2)
        .watches(informers, BINDINGS, move |change: &Change| {
            let Some(binding) = ObjectRef::from_key(change.key()) else { return Vec::new() };
            let role = role_name(change);
            // The role a binding names, or named before this change, may now be (or no longer
            // be) a policy's.
            let before = index.lock().unwrap_or_else(|e| e.into_inner()).set(&binding, role.as_deref());
            let role = role.map(|name| cluster_role(&binding.cluster, &name)).or(before);
            own_key(change).into_iter().chain(role).collect()
        })
        .watches(informers, ROLES, move |change: &Change| {
            let role = ObjectRef::from_key(change.key());
            let bindings = role.as_ref().map(|r| by_role.lock().unwrap_or_else(|e| e.into_inner()).bindings_of(r)).unwrap_or_default();
            role.filter(|_| matches!(change, Change::Present(_))).into_iter().chain(bindings)
        })
}

/// The name of the ClusterRole a changed ClusterRoleBinding names, while it exists.
fn role_name(change: &Change) -> Option<String> {
    let Change::Present(s) = change else { return None };
    let value: Value = serde_json::from_slice(&s.value).ok()?;
    value.pointer("/roleRef/name").and_then(Value::as_str).map(String::from)
}

/// Whether a binding grants to the prefixed identities of a maximal permission policy.
pub fn grants_to_bindings(binding: &Value) -> bool {
    binding["subjects"].as_array().is_some_and(|subjects| {
        subjects.iter().any(|s| matches!(s["kind"].as_str(), Some("User" | "Group")) && s["name"].as_str().is_some_and(|n| n.starts_with(BINDING_PREFIX)))
    })
}

/// Why a ClusterRole must be replicated: the managed reasons its rules call for.
pub fn reasons_for(role: &Value) -> BTreeSet<String> {
    let has = |rule: &Value, field: &str, want: &str| rule[field].as_array().is_some_and(|v| v.iter().any(|x| x == want || x == "*"));
    // `verb` None: any verb at all.
    let grants = |group: &str, resource: &str, verb: Option<&str>| {
        role["rules"].as_array().is_some_and(|rules| {
            rules.iter().any(|r| {
                let verb_ok = match verb {
                    Some(v) => has(r, "verbs", v),
                    None => r["verbs"].as_array().is_some_and(|v| !v.is_empty()),
                };
                has(r, "apiGroups", group) && has(r, "resources", resource) && verb_ok
            })
        })
    };
    let mut out = BTreeSet::new();
    // `initialize`, `terminate`: a type's initializer and terminator work in workspaces on
    // every shard.
    if ["use", "initialize", "terminate"].into_iter().any(|verb| grants("tenancy.kcp.io", "workspacetypes", Some(verb))) {
        out.insert(WORKSPACE_TYPES.to_string());
    }
    if grants("apis.kcp.io", "apiexports", Some("bind")) || grants("apis.kcp.io", "apiexports/content", None) {
        out.insert(API_EXPORTS.to_string());
    }
    out
}

/// The reasons in an object's replicate annotation.
pub fn reasons(obj: &Value) -> BTreeSet<String> {
    let raw = obj.pointer("/metadata/annotations").and_then(|a| a.get(REPLICATE_ANNOTATION)).and_then(Value::as_str).unwrap_or_default();
    raw.split(',').map(str::trim).filter(|r| !r.is_empty()).map(String::from).collect()
}

/// Sets this labeller's reasons on `obj` to `wanted`; true when the annotation changed.
fn mark(obj: &mut Value, wanted: &BTreeSet<String>) -> bool {
    let current = reasons(obj);
    let mut set: BTreeSet<String> = current.iter().filter(|r| !MANAGED.contains(&r.as_str())).cloned().collect();
    set.extend(wanted.iter().cloned());
    if set == current {
        return false;
    }
    let annotations = object::meta_mut(obj).entry("annotations").or_insert_with(|| json!({}));
    if let Some(a) = annotations.as_object_mut() {
        if set.is_empty() {
            a.remove(REPLICATE_ANNOTATION);
        } else {
            a.insert(REPLICATE_ANNOTATION.into(), json!(set.into_iter().collect::<Vec<_>>().join(",")));
        }
    }
    true
}

impl ReplicateRbac {
    /// The reasons of the ClusterRole a binding in `cluster` names. Only the cluster's own roles
    /// count, as in kcp: a binding to a bootstrap role (every workspace owner's binding to
    /// `cluster-admin`) stays home, or every workspace would put one object in the cache.
    async fn role_reasons(&self, cluster: &str, name: &str) -> Result<BTreeSet<String>, Error> {
        let role = self.client.get(&ObjectRef::new("rbac.authorization.k8s.io", "clusterroles", cluster, "", name)).await?;
        Ok(role.map(|role| reasons_for(&role)).unwrap_or_default())
    }
}

impl ReplicateRbac {
    /// Whether a ClusterRoleBinding of `cluster` grants ClusterRole `name` to a maximal
    /// permission policy's identities.
    async fn policy_role(&self, cluster: &str, name: &str) -> Result<bool, Error> {
        let prefix = apiserver::storage::key::cluster_prefix("rbac.authorization.k8s.io", "clusterrolebindings", cluster);
        let page = self.client.api().store.list(&prefix, None, 0, None).await?;
        Ok(page
            .items
            .iter()
            .filter_map(|s| serde_json::from_slice::<Value>(&s.value).ok())
            .any(|b| b.pointer("/roleRef/kind") == Some(&json!("ClusterRole")) && b.pointer("/roleRef/name") == Some(&json!(name)) && grants_to_bindings(&b)))
    }
}

impl Reconcile for ReplicateRbac {
    type Key = ObjectRef;
    type Error = Error;

    async fn reconcile(&self, r: &ObjectRef) -> Result<Action, Error> {
        // System clusters are never replicated.
        if r.cluster.starts_with("system:") {
            return Ok(Action::Done);
        }
        let wanted = if r.resource == "clusterroles" {
            let Some(role) = self.client.get(r).await? else { return Ok(Action::Done) };
            let mut wanted = reasons_for(&role);
            if self.policy_role(&r.cluster, &r.name).await? {
                wanted.insert(API_EXPORTS.to_string());
            }
            wanted
        } else {
            let Some(binding) = self.client.get(r).await? else { return Ok(Action::Done) };
            let role_name = binding.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or_default();
            let mut wanted =
                if binding.pointer("/roleRef/kind") == Some(&json!("ClusterRole")) { self.role_reasons(&r.cluster, role_name).await? } else { BTreeSet::new() };
            if grants_to_bindings(&binding) {
                wanted.insert(API_EXPORTS.to_string());
            }
            wanted
        };
        update(&self.client, r, Part::Main, |obj| mark(obj, &wanted)).await?;
        Ok(Action::Done)
    }
}

#[cfg(test)]
mod tests;
