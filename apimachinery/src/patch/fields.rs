//! Field sets: which fields of an object a manager owns, in the FieldsV1 shape of
//! `metadata.managedFields`, plus the three walks server-side apply needs over plain JSON
//! (the fields a value sets, the difference between two values, and the apply merge).
//!
//! Upstream does this with structured-merge-diff and an OpenAPI schema. This server has no
//! schema at hand here, so every object is treated as a struct, and a list is keyed, a set, or
//! atomic as `lists.rs` says (atomic when unknown). That keeps FieldsV1 identical to kube's for
//! the built-in kinds, which is what users compare.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::lists::{list_rule, KindLists, ListType};

/// One step of a field path; the order (fields, keys, values, indices) is upstream's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathElement {
    /// A named field of an object (`f:name`).
    Field(String),
    /// An item of a keyed list, as canonical JSON of its key fields (`k:{"name":"x"}`).
    Key(String),
    /// An item of a set, as canonical JSON of the item (`v:"x"`).
    Value(String),
    /// An item of a list by position (`i:0`), only ever read from stored sets.
    Index(usize),
}

impl PathElement {
    fn encode(&self) -> String {
        match self {
            PathElement::Field(n) => format!("f:{n}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Option<PathElement> {
        let (prefix, rest) = s.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_string())),
            "k:" => match serde_json::from_str(rest).ok()? {
                Value::Object(m) => Some(PathElement::Key(canonical(&m))),
                _ => None,
            },
            "v:" => serde_json::from_str::<Value>(rest).ok().map(|v| PathElement::Value(v.to_string())),
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }

    /// The element as kube prints it in conflict messages: `.name`, `[name="x"]`, `[="x"]`, `[0]`.
    fn display(&self) -> String {
        match self {
            PathElement::Field(n) => format!(".{n}"),
            PathElement::Key(k) => {
                let fields = match serde_json::from_str::<Value>(k) {
                    Ok(Value::Object(m)) => m.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(","),
                    _ => k.clone(),
                };
                format!("[{fields}]")
            }
            PathElement::Value(v) => format!("[={v}]"),
            PathElement::Index(i) => format!("[{i}]"),
        }
    }

    /// Whether list item `item` is the one this element names.
    fn matches_item(&self, item: &Value) -> bool {
        match self {
            PathElement::Key(k) => match serde_json::from_str::<Value>(k) {
                Ok(Value::Object(m)) => m.iter().all(|(n, v)| item.get(n) == Some(v)),
                _ => false,
            },
            PathElement::Value(v) => serde_json::from_str::<Value>(v).is_ok_and(|v| v == *item),
            _ => false,
        }
    }
}

/// JSON of an object with its keys sorted, so equal keys always encode alike.
fn canonical(m: &Map<String, Value>) -> String {
    let sorted: BTreeMap<&String, &Value> = m.iter().collect();
    Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect()).to_string()
}

/// A path from the object root.
pub(crate) type Path = Vec<PathElement>;

/// Renders a path as kube does in conflict messages, e.g. `.metadata.labels.app`.
pub(crate) fn display_path(path: &[PathElement]) -> String {
    path.iter().map(PathElement::display).collect()
}

/// A set of field paths, stored as a tree. Invariant: every node is a member or has children.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSet {
    children: BTreeMap<PathElement, Node>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    /// The path ending here is itself in the set (FieldsV1 `"."` when it also has children).
    member: bool,
    set: FieldSet,
}

impl FieldSet {
    /// A set holding exactly the given paths.
    pub fn from_paths(paths: &[&[PathElement]]) -> FieldSet {
        let mut s = FieldSet::default();
        paths.iter().for_each(|p| s.insert(p));
        s
    }

    /// Adds one path; the empty path (the whole object) is never a member.
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else { return };
        let node = self.children.entry(first.clone()).or_default();
        if rest.is_empty() {
            node.member = true;
        } else {
            node.set.insert(rest);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.children.is_empty()
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for (pe, n) in &other.children {
            let mine = out.children.entry(pe.clone()).or_default();
            mine.member |= n.member;
            mine.set = mine.set.union(&n.set);
        }
        out
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        self.combine(other, |a, b| a && !b, true)
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        self.combine(other, |a, b| a && b, false)
    }

    /// Node-wise set operation; `keep_unmatched` says whether nodes absent from `other` stay.
    fn combine(&self, other: &FieldSet, member: fn(bool, bool) -> bool, keep_unmatched: bool) -> FieldSet {
        let mut out = FieldSet::default();
        for (pe, n) in &self.children {
            let node = match other.children.get(pe) {
                Some(o) => Node { member: member(n.member, o.member), set: n.set.combine(&o.set, member, keep_unmatched) },
                None if keep_unmatched => n.clone(),
                None => continue,
            };
            if node.member || !node.set.is_empty() {
                out.children.insert(pe.clone(), node);
            }
        }
        out
    }

    /// Every member path, parents before their children, in upstream's sort order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (pe, n) in &self.children {
            prefix.push(pe.clone());
            if n.member {
                out.push(prefix.clone());
            }
            n.set.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The FieldsV1 JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        let mut m = Map::new();
        for (pe, n) in &self.children {
            let mut inner = Map::new();
            if n.member && !n.set.is_empty() {
                inner.insert(".".into(), Value::Object(Map::new()));
            }
            if let Value::Object(children) = n.set.to_fields_v1() {
                inner.extend(children);
            }
            m.insert(pe.encode(), Value::Object(inner));
        }
        Value::Object(m)
    }

    /// Reads FieldsV1 JSON; entries it cannot parse are skipped rather than failing the write.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        let mut out = FieldSet::default();
        let Value::Object(m) = v else { return out };
        for (k, child) in m {
            let Some(pe) = PathElement::decode(k) else { continue };
            let set = FieldSet::from_fields_v1(child);
            let member = match child {
                Value::Object(c) => c.is_empty() || c.contains_key("."),
                _ => true,
            };
            if member || !set.is_empty() {
                out.children.insert(pe, Node { member, set });
            }
        }
        out
    }
}

/// The list rules of one kind, for SSA walks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lists<'a> {
    pub kind: KindLists<'a>,
}

impl Lists<'_> {
    fn ssa(&self, names: &[String]) -> ListType {
        list_rule(self.kind, names).ssa
    }

    /// The items of a non-atomic list with their path elements; `None` means "treat as atomic"
    /// (the rule says so, or an item lacks what its rule needs).
    fn items<'v>(&self, names: &[String], list: &'v [Value]) -> Option<Vec<(PathElement, &'v Value)>> {
        match self.ssa(names) {
            ListType::Atomic => None,
            ListType::Set => list.iter().map(|v| (!v.is_object() && !v.is_array()).then(|| (PathElement::Value(v.to_string()), v))).collect(),
            ListType::Map(key) => list
                .iter()
                .map(|v| {
                    let k = v.get(key)?;
                    let mut m = Map::new();
                    m.insert(key.to_string(), k.clone());
                    Some((PathElement::Key(canonical(&m)), v))
                })
                .collect(),
        }
    }

    /// A list's items for comparison: `Some(None)` when absent, `None` when not a non-atomic list.
    #[allow(clippy::type_complexity)]
    fn as_list<'v>(&self, names: &[String], v: Option<&'v Value>) -> Option<Option<Vec<(PathElement, &'v Value)>>> {
        match v {
            None => Some(None),
            Some(Value::Array(l)) => self.items(names, l).map(Some),
            Some(_) => None,
        }
    }

    /// The fields `v` sets, as an applier's ownership: leaves, keyed and set items, empty maps.
    pub fn field_set(&self, v: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        self.walk_set(v, &mut Vec::new(), &mut Vec::new(), &mut set);
        set
    }

    fn walk_set(&self, v: &Value, names: &mut Vec<String>, path: &mut Path, set: &mut FieldSet) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, child) in m {
                    names.push(k.clone());
                    path.push(PathElement::Field(k.clone()));
                    self.walk_set(child, names, path, set);
                    path.pop();
                    names.pop();
                }
            }
            Value::Array(list) => match self.items(names, list) {
                Some(items) => {
                    for (pe, item) in items {
                        path.push(pe);
                        set.insert(path);
                        if item.is_object() {
                            self.walk_set(item, names, path, set);
                        }
                        path.pop();
                    }
                }
                None => set.insert(path),
            },
            _ => set.insert(path),
        }
    }

    /// What changed from `old` to `new`: (added ∪ modified, removed).
    pub fn compare(&self, old: &Value, new: &Value) -> (FieldSet, FieldSet) {
        let mut changed = FieldSet::default();
        let mut removed = FieldSet::default();
        self.walk_compare(Some(old), Some(new), &mut Vec::new(), &mut Vec::new(), &mut changed, &mut removed);
        (changed, removed)
    }

    fn walk_compare(&self, old: Option<&Value>, new: Option<&Value>, names: &mut Vec<String>, path: &mut Path, changed: &mut FieldSet, removed: &mut FieldSet) {
        // Equal values neither change nor remove anything below them; most of an update is
        // unchanged, and walking it would only build paths to throw away.
        if let (Some(l), Some(r)) = (old, new) {
            if l == r {
                return;
            }
        }
        let empty_map = |m: &Option<&Map<String, Value>>| m.is_none_or(|m| m.is_empty());
        match (as_map(old), as_map(new)) {
            (Some(l), Some(r)) if !(empty_map(&l) && empty_map(&r)) => {
                let none = Map::new();
                let (l, r) = (l.unwrap_or(&none), r.unwrap_or(&none));
                let keys: Vec<&String> = l.keys().chain(r.keys().filter(|k| !l.contains_key(*k))).collect();
                for k in keys {
                    names.push(k.clone());
                    path.push(PathElement::Field(k.clone()));
                    self.walk_compare(l.get(k), r.get(k), names, path, changed, removed);
                    path.pop();
                    names.pop();
                }
                mark_container(old, new, path, changed, removed);
                return;
            }
            _ => {}
        }
        match (self.as_list(names, old), self.as_list(names, new)) {
            (Some(l), Some(r)) if !(l.as_ref().is_none_or(Vec::is_empty) && r.as_ref().is_none_or(Vec::is_empty)) => {
                let (l, r) = (l.unwrap_or_default(), r.unwrap_or_default());
                let mut pes: Vec<&PathElement> = l.iter().map(|(pe, _)| pe).collect();
                pes.extend(r.iter().map(|(pe, _)| pe).filter(|pe| !l.iter().any(|(p, _)| p == *pe)));
                for pe in pes {
                    let (lv, rv) = (find_item(&l, pe), find_item(&r, pe));
                    path.push(pe.clone());
                    self.walk_compare(lv, rv, names, path, changed, removed);
                    path.pop();
                }
                mark_container(old, new, path, changed, removed);
            }
            _ => match (old, new) {
                (None, Some(_)) => changed.insert(path),
                (Some(_), None) => removed.insert(path),
                (Some(l), Some(r)) if l != r => changed.insert(path),
                _ => {}
            },
        }
    }

    /// The value an applier's configuration produces over `live`: objects merge, keyed lists
    /// and sets merge item by item, everything else (atomic lists included) is replaced.
    pub fn merge(&self, live: &Value, config: &Value) -> Value {
        self.merge_at(live, config, &mut Vec::new())
    }

    fn merge_at(&self, live: &Value, config: &Value, names: &mut Vec<String>) -> Value {
        match (live, config) {
            (Value::Object(l), Value::Object(c)) => {
                let mut out = l.clone();
                for (k, cv) in c {
                    if cv.is_null() {
                        out.shift_remove(k);
                        continue;
                    }
                    names.push(k.clone());
                    let merged = match out.get(k) {
                        Some(lv) => self.merge_at(lv, cv, names),
                        None => cv.clone(),
                    };
                    names.pop();
                    out.insert(k.clone(), merged);
                }
                Value::Object(out)
            }
            (Value::Array(l), Value::Array(c)) => match (self.items(names, l), self.items(names, c)) {
                (Some(li), Some(ci)) => {
                    let mut out: Vec<Value> = li
                        .iter()
                        .map(|(pe, lv)| match ci.iter().find(|(p, _)| p == pe) {
                            Some((_, cv)) => self.merge_at(lv, cv, names),
                            None => (*lv).clone(),
                        })
                        .collect();
                    out.extend(ci.iter().filter(|(pe, _)| !li.iter().any(|(p, _)| p == pe)).map(|(_, v)| (*v).clone()));
                    Value::Array(out)
                }
                _ => config.clone(),
            },
            _ => config.clone(),
        }
    }
}

fn find_item<'v>(items: &[(PathElement, &'v Value)], pe: &PathElement) -> Option<&'v Value> {
    items.iter().find(|(p, _)| p == pe).map(|(_, v)| *v)
}

/// An object for comparison: `Some(None)` when absent, `None` when not an object.
fn as_map(v: Option<&Value>) -> Option<Option<&Map<String, Value>>> {
    match v {
        None => Some(None),
        Some(Value::Object(m)) => Some(Some(m)),
        Some(_) => None,
    }
}

/// A map or list that appears or disappears is itself added or removed, besides its contents.
fn mark_container(old: Option<&Value>, new: Option<&Value>, path: &[PathElement], changed: &mut FieldSet, removed: &mut FieldSet) {
    match (old, new) {
        (None, Some(_)) => changed.insert(path),
        (Some(_), None) => removed.insert(path),
        _ => {}
    }
}

/// Removes the field or list item at `path` from `v`, if it is there.
pub(crate) fn remove_path(v: &mut Value, path: &[PathElement]) {
    let Some((first, rest)) = path.split_first() else { return };
    match (v, first) {
        (Value::Object(m), PathElement::Field(name)) => {
            if rest.is_empty() {
                m.shift_remove(name);
            } else if let Some(child) = m.get_mut(name) {
                remove_path(child, rest);
            }
        }
        (Value::Array(items), pe) => {
            let Some(i) = items.iter().position(|item| pe.matches_item(item)) else { return };
            if rest.is_empty() {
                items.remove(i);
            } else {
                remove_path(&mut items[i], rest);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
