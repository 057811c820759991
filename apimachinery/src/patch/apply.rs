//! Server-side apply and the `metadata.managedFields` bookkeeping of ordinary writes.
//!
//! This follows structured-merge-diff's updater as kube-apiserver runs it: an applier owns
//! exactly the fields of its configuration; fields it stops applying are pruned unless someone
//! else owns them; changing a field another manager owns is a conflict unless forced, and
//! forcing (or any non-apply write) takes the field away from the other managers. Managers are
//! identified as upstream does: name + operation (+ apiVersion for `Update`). The caller passes
//! the lists of the object's kind, which its strategy names.

use serde_json::{json, Map, Value};

use super::fields::{display_path, remove_path, FieldSet, Lists, PathElement};
use super::lists::KindLists;
use crate::status::{ApiError, Reason};

const APPLY: &str = "Apply";
const UPDATE: &str = "Update";

/// One field an applier tried to change while another manager owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name, e.g. `kubectl-client-side-apply`.
    pub manager: String,
    /// The other manager's operation, `Apply` or `Update`.
    pub operation: String,
    /// The apiVersion the other manager wrote with.
    pub api_version: String,
    /// The field, as kube prints it: `.data.key1`, `.metadata.ownerReferences[uid="u"]`.
    pub field: String,
}

impl Conflict {
    /// The manager as kube describes it: `"m" using v1` for updaters, `"m"` for appliers.
    fn who(&self) -> String {
        if self.operation == UPDATE {
            format!("{:?} using {}", self.manager, self.api_version)
        } else {
            format!("{:?}", self.manager)
        }
    }
}

/// The conflicts that stopped an apply; renders kube's `Apply failed with …` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct ApplyConflicts(pub Vec<Conflict>);

impl ApplyConflicts {
    fn message(&self) -> String {
        if let [only] = self.0.as_slice() {
            return format!("Apply failed with 1 conflict: conflict with {}: {}", only.who(), only.field);
        }
        let mut by_manager: Vec<&Conflict> = self.0.iter().collect();
        by_manager.sort_by(|a, b| (&a.manager, &a.operation, &a.api_version).cmp(&(&b.manager, &b.operation, &b.api_version)));
        let mut lines: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        for c in by_manager {
            let who = c.who();
            if last.as_ref() != Some(&who) {
                lines.push(format!("conflicts with {who}:"));
                last = Some(who);
            }
            lines.push(format!("- {}", c.field));
        }
        format!("Apply failed with {} conflicts: {}", self.0.len(), lines.join("\n"))
    }
}

impl From<ApplyConflicts> for ApiError {
    fn from(c: ApplyConflicts) -> Self {
        let causes: Vec<Value> =
            c.0.iter().map(|x| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", x.who()), "field": x.field})).collect();
        let mut e = ApiError::new(Reason::Conflict, c.to_string());
        e.details = Some(json!({"causes": causes}));
        e
    }
}

/// One decoded `managedFields` entry.
#[derive(Debug, Clone)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: Option<String>,
    subresource: Option<String>,
    set: FieldSet,
}

impl Entry {
    fn is(&self, manager: &str, operation: &str, api_version: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.is_none() && (operation == APPLY || self.api_version == api_version)
    }

    fn decode(v: &Value) -> Entry {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        Entry {
            manager: s("manager").unwrap_or_default(),
            operation: s("operation").unwrap_or_else(|| UPDATE.to_string()),
            api_version: s("apiVersion").unwrap_or_default(),
            time: s("time"),
            subresource: s("subresource"),
            set: v.get("fieldsV1").map(FieldSet::from_fields_v1).unwrap_or_default(),
        }
    }

    fn encode(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.set.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), json!(s));
        }
        Value::Object(m)
    }
}

/// Fields no manager owns: type and identity metadata the server controls (upstream's
/// stripMeta list; `metadata` itself so it never shows a `"."`). Built once: every write needs it.
fn system_fields() -> &'static FieldSet {
    static SYSTEM: std::sync::LazyLock<FieldSet> = std::sync::LazyLock::new(build_system_fields);
    &SYSTEM
}

fn build_system_fields() -> FieldSet {
    let f = |s: &str| PathElement::Field(s.to_string());
    let meta = |s: &str| [f("metadata"), f(s)];
    FieldSet::from_paths(&[
        &[f("apiVersion")],
        &[f("kind")],
        &[f("metadata")],
        &meta("name"),
        &meta("namespace"),
        &meta("creationTimestamp"),
        &meta("selfLink"),
        &meta("uid"),
        &meta("clusterName"),
        &meta("generation"),
        &meta("managedFields"),
        &meta("resourceVersion"),
    ])
}

fn str_field<'v>(obj: &'v Value, key: &str) -> &'v str {
    obj.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `metadata.managedFields`, if present.
pub fn managed_fields(obj: &Value) -> Option<&Value> {
    crate::field::at(obj, &["metadata", "managedFields"])
}

fn decode_entries(obj: &Value) -> Vec<Entry> {
    match managed_fields(obj) {
        Some(Value::Array(list)) => list.iter().map(Entry::decode).collect(),
        _ => Vec::new(),
    }
}

/// `obj` without `metadata.managedFields`, as the walks compare it.
fn without_managed_fields(obj: &Value) -> std::borrow::Cow<'_, Value> {
    if managed_fields(obj).is_none() {
        // A create from a client that sent none: nothing to drop, nothing to copy.
        return std::borrow::Cow::Borrowed(obj);
    }
    let mut out = obj.clone();
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.shift_remove("managedFields");
    }
    std::borrow::Cow::Owned(out)
}

/// Writes the non-empty entries into `obj`, in upstream's order (operation, time, manager).
fn store_entries(obj: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|e| !e.set.is_empty());
    entries.sort_by(|a, b| {
        (&a.operation, &a.time, &a.manager, &a.api_version, &a.subresource).cmp(&(&b.operation, &b.time, &b.manager, &b.api_version, &b.subresource))
    });
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else { return };
    if entries.is_empty() {
        meta.shift_remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries.iter().map(Entry::encode).collect()));
    }
}

/// Applies `applied` (an apply configuration) for `manager` over `live` (`None` creates) and
/// returns the new object with its `managedFields`; `now` is the RFC 3339 time to record and
/// `kind` the lists of the object's kind.
pub fn apply(live: Option<&Value>, applied: &Value, manager: &str, force: bool, now: &str, kind: KindLists<'_>) -> Result<Value, ApplyConflicts> {
    let lists = Lists { kind };
    let api_version = str_field(applied, "apiVersion");
    let config = without_managed_fields(applied);
    let live_plain = live.map(without_managed_fields).unwrap_or_else(|| std::borrow::Cow::Owned(json!({})));
    let mut entries = live.map(decode_entries).unwrap_or_default();
    let mut merged = lists.merge(&live_plain, &config);

    let applied_set = lists.field_set(&config).difference(system_fields());
    let mine = match entries.iter().position(|e| e.is(manager, APPLY, api_version)) {
        Some(i) => i,
        None => {
            entries.push(Entry {
                manager: manager.to_string(),
                operation: APPLY.to_string(),
                api_version: String::new(),
                time: None,
                subresource: None,
                set: FieldSet::default(),
            });
            entries.len() - 1
        }
    };
    let last_set = std::mem::replace(&mut entries[mine].set, applied_set);
    entries[mine].api_version = api_version.to_string();
    entries[mine].time = Some(now.to_string());

    // Prune what this applier dropped from its configuration, unless someone still owns it.
    let owned = entries.iter().fold(FieldSet::default(), |acc, e| acc.union(&e.set));
    for path in last_set.difference(&owned).paths() {
        remove_path(&mut merged, &path);
    }

    let (changed, removed) = lists.compare(&live_plain, &merged);
    let conflicts: Vec<(usize, FieldSet)> =
        entries.iter().enumerate().filter(|(i, _)| *i != mine).map(|(i, e)| (i, e.set.intersection(&changed))).filter(|(_, s)| !s.is_empty()).collect();
    if !force && !conflicts.is_empty() {
        let list = conflicts
            .iter()
            .flat_map(|(i, set)| {
                let e = &entries[*i];
                set.paths().into_iter().map(move |p| Conflict {
                    manager: e.manager.clone(),
                    operation: e.operation.clone(),
                    api_version: e.api_version.clone(),
                    field: display_path(&p),
                })
            })
            .collect();
        return Err(ApplyConflicts(list));
    }
    for (i, e) in entries.iter_mut().enumerate() {
        if i != mine {
            e.set = e.set.difference(&changed).difference(&removed);
        }
    }
    store_entries(&mut merged, entries);
    Ok(merged)
}

/// Records a non-apply write (create, update, or a JSON/merge/strategic patch) by `manager`:
/// the fields it changed from `old` (`None` on create) to `new` become an `Update` entry of
/// that manager and are taken from everyone else; fields it removed leave every set.
///
/// If `new` carries its own `managedFields` they are used as the starting point (an empty list
/// resets tracking, as in kube); otherwise `old`'s are.
pub fn track_update(old: Option<&Value>, new: &mut Value, manager: &str, now: &str, kind: KindLists<'_>) {
    let api_version = str_field(new, "apiVersion").to_string();
    let mut entries = match managed_fields(new) {
        Some(Value::Array(_)) => decode_entries(new),
        _ => old.map(decode_entries).unwrap_or_default(),
    };
    let old_plain = old.map(without_managed_fields).unwrap_or_else(|| std::borrow::Cow::Owned(json!({})));
    let new_plain = without_managed_fields(new);
    let (changed, removed) = Lists { kind }.compare(&old_plain, &new_plain);

    for e in entries.iter_mut() {
        if !e.is(manager, UPDATE, &api_version) {
            e.set = e.set.difference(&changed).difference(&removed);
        }
    }
    let system = system_fields();
    match entries.iter_mut().find(|e| e.is(manager, UPDATE, &api_version)) {
        Some(e) => {
            let set = e.set.difference(&removed).union(&changed).difference(system);
            if set != e.set {
                e.set = set;
                e.time = Some(now.to_string());
            }
        }
        None => entries.push(Entry {
            manager: manager.to_string(),
            operation: UPDATE.to_string(),
            api_version,
            time: Some(now.to_string()),
            subresource: None,
            set: changed.difference(system),
        }),
    }
    if new.get("metadata").is_none_or(Value::is_object) {
        if let Value::Object(obj) = new {
            obj.entry("metadata").or_insert_with(|| json!({}));
        }
        store_entries(new, entries);
    }
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
