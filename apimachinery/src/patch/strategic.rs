//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), the patch type
//! `kubectl patch` and client-side `kubectl apply` send for built-in kinds.
//!
//! It is RFC 7386 plus list awareness: lists with a rule (`lists.rs` and the kind's strategy) merge by key (or as sets of
//! scalars) instead of being replaced, and the patch may carry directives: `$patch`
//! (`replace`/`delete`, and `delete` items in keyed lists), `$retainKeys`,
//! `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`. The algorithm and its
//! error wording follow apimachinery's `strategicpatch` package, including its ordering rules
//! (`$setElementOrder` first, then patch order, then the live order) so that re-applies are
//! stable. Directive keys never reach the stored object.

use serde_json::{Map, Value};

use super::lists::{list_rule, KindLists, ListType};
use super::PatchError;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder";
const DELETE_FROM_PRIMITIVE: &str = "$deleteFromPrimitiveList";

const ERR_BAD_JSON_DOC: &str = "invalid JSON document";
const ERR_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const ERR_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const ERR_SET_ORDER: &str = "invalid patch format of setElementOrder list";

/// Applies a strategic merge patch to `doc`, an object of a built-in kind whose own lists are `lists`.
pub fn strategic_merge_patch(doc: &Value, patch: &Value, lists: KindLists<'_>) -> Result<Value, PatchError> {
    let (Value::Object(original), Value::Object(patch)) = (doc, patch) else {
        return Err(PatchError::BadRequest(ERR_BAD_JSON_DOC.into()));
    };
    let smp = Smp { lists };
    smp.merge_map(original.clone(), patch.clone(), &mut Vec::new()).map(Value::Object)
}

/// The list rules of the kind being patched.
struct Smp<'a> {
    lists: KindLists<'a>,
}

impl Smp<'_> {
    fn list_type(&self, path: &[String]) -> ListType {
        list_rule(self.lists, path).smp
    }

    /// Merges `patch` into `original`; `path` holds the field names leading here.
    fn merge_map(&self, mut original: Map<String, Value>, mut patch: Map<String, Value>, path: &mut Vec<String>) -> Result<Map<String, Value>, PatchError> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.shift_remove(DIRECTIVE);
                    Ok(strip_directives_map(patch))
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(bad_patch_type(directive, &Value::Object(patch.clone()))),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.apply_set_element_orders(&mut original, &mut patch, path)?;

        for (key, patch_v) in patch {
            let (key, is_delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE) {
                Some(rest) => (directive_target(rest, ERR_PRIMITIVE_LIST)?, true),
                None => (key, false),
            };
            if patch_v.is_null() {
                original.shift_remove(&key);
                continue;
            }
            let Some(slot) = original.get_mut(&key) else {
                if !is_delete_list {
                    insert_new(&mut original, key, patch_v);
                }
                continue;
            };
            path.push(key.clone());
            let mut remove = false;
            match (slot, patch_v) {
                (Value::Object(o), Value::Object(p)) => *o = self.merge_map(std::mem::take(o), p, path)?,
                (Value::Array(o), Value::Array(p)) => *o = self.merge_list_field(std::mem::take(o), p, path, is_delete_list)?,
                (slot, mut p) => {
                    if !is_delete_list || same_kind(slot, &p) {
                        discard_nulls(&mut p);
                        match strip_directives(p) {
                            Some(v) => *slot = v,
                            None => remove = true,
                        }
                    }
                }
            }
            path.pop();
            if remove {
                original.shift_remove(&key);
            }
        }
        Ok(original)
    }

    /// Merges a list field according to its rule; atomic lists take the patch as it is.
    fn merge_list_field(&self, original: Vec<Value>, patch: Vec<Value>, path: &[String], is_delete_list: bool) -> Result<Vec<Value>, PatchError> {
        match self.list_type(path) {
            ListType::Map(key) => self.merge_list(original, patch, path, Some(key), is_delete_list),
            ListType::Set => self.merge_list(original, patch, path, None, is_delete_list),
            ListType::Atomic if is_delete_list => self.merge_list(original, patch, path, None, true),
            ListType::Atomic => Ok(patch),
        }
    }

    fn merge_list(
        &self,
        original: Vec<Value>,
        patch: Vec<Value>,
        path: &[String],
        merge_key: Option<&str>,
        is_delete_list: bool,
    ) -> Result<Vec<Value>, PatchError> {
        if original.is_empty() && patch.is_empty() {
            return Ok(original);
        }
        if !elements_are_objects(&original, &patch)? {
            if is_delete_list {
                return Ok(original.into_iter().filter(|v| !patch.contains(v)).collect());
            }
            let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
            for v in original.iter().chain(&patch) {
                if !merged.contains(v) {
                    merged.push(v.clone());
                }
            }
            let (in_patch, server_only) = partition(merged, &patch, None)?;
            return normalize_order(in_patch, server_only, &patch, &original, None);
        }
        let Some(key) = merge_key else {
            return Err(PatchError::Unprocessable(format!("cannot merge lists without merge key for {}", path.join("."))));
        };
        let (original, patch) = split_special_elements(original, patch, key)?;
        let server_order = original.clone();
        let mut merged = original;
        for item in &patch {
            let Value::Object(p) = item else { continue };
            let wanted = merge_value(item, key)?;
            match merged.iter().position(|o| o.get(key) == Some(wanted)) {
                Some(i) => {
                    let current = match &mut merged[i] {
                        Value::Object(o) => std::mem::take(o),
                        _ => Map::new(),
                    };
                    merged[i] = Value::Object(self.merge_map(current, p.clone(), &mut path.to_vec())?);
                }
                None => {
                    let mut v = item.clone();
                    discard_nulls(&mut v);
                    merged.extend(strip_directives(v));
                }
            }
        }
        let (in_patch, server_only) = partition(merged, &patch, Some(key))?;
        normalize_order(in_patch, server_only, &patch, &server_order, Some(key))
    }

    /// Processes every `$setElementOrder/<list>` of `patch`: merges that list and puts its items
    /// in the requested order, then drops both from `patch`.
    fn apply_set_element_orders(&self, original: &mut Map<String, Value>, patch: &mut Map<String, Value>, path: &mut Vec<String>) -> Result<(), PatchError> {
        let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ORDER)).cloned().collect();
        for directive_key in keys {
            let Some(Value::Array(order)) = patch.shift_remove(&directive_key) else {
                return Err(PatchError::BadRequest(ERR_SET_ORDER.into()));
            };
            let list_key = directive_target(&directive_key[SET_ORDER.len()..], ERR_SET_ORDER)?;
            let original_list = take_list(original.get(&list_key))?;
            let patch_list = take_list(patch.shift_remove(&list_key).as_ref())?;
            path.push(list_key.clone());
            let list_type = self.list_type(path);
            let merge_key = match list_type {
                ListType::Map(k) => Some(k),
                _ => None,
            };
            validate_set_order(patch_list.as_deref().unwrap_or_default(), &order, merge_key)?;
            let merged = match (&original_list, patch_list) {
                (Some(o), None) => o.clone(),
                (None, Some(p)) => p.into_iter().filter_map(strip_directives).collect(),
                (Some(o), Some(p)) => self.merge_list_field(o.clone(), p, path, false)?,
                (None, None) => {
                    path.pop();
                    continue;
                }
            };
            path.pop();
            let ordered = if list_type == ListType::Atomic {
                merged
            } else {
                let (in_order, server_only) = partition(merged, &order, merge_key)?;
                normalize_order(in_order, server_only, &order, original_list.as_deref().unwrap_or_default(), merge_key)?
            };
            original.insert(list_key, Value::Array(ordered));
        }
        Ok(())
    }
}

/// The list field a `$setElementOrder/x` or `$deleteFromPrimitiveList/x` key names, given the
/// part after the prefix.
fn directive_target(rest: &str, err: &str) -> Result<String, PatchError> {
    rest.strip_prefix('/').map(str::to_string).ok_or_else(|| PatchError::BadRequest(err.into()))
}

fn take_list(v: Option<&Value>) -> Result<Option<Vec<Value>>, PatchError> {
    match v {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.clone())),
        Some(other) => Err(PatchError::Unprocessable(format!("expected a list, but received {other}"))),
    }
}

fn bad_patch_type(directive: &Value, patch: &Value) -> PatchError {
    let name = directive.as_str().map(str::to_string).unwrap_or_else(|| directive.to_string());
    PatchError::BadRequest(format!("unknown patch type: {name} in map: {patch}"))
}

fn no_merge_key(item: &Value, key: &str) -> PatchError {
    PatchError::Unprocessable(format!("map: {item} does not contain declared merge key: {key}"))
}

fn merge_value<'v>(item: &'v Value, key: &str) -> Result<&'v Value, PatchError> {
    item.get(key).ok_or_else(|| no_merge_key(item, key))
}

/// `$retainKeys`: keeps only the listed keys of `original`; the patch may not set others.
fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else { return Ok(()) };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRequest(ERR_RETAIN_KEYS.into()));
    };
    let retained = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    let offending = patch.iter().any(|(k, v)| !(v.is_null() || k.starts_with(DELETE_FROM_PRIMITIVE) || k.starts_with(SET_ORDER) || retained(k)));
    if offending {
        return Err(PatchError::BadRequest(ERR_RETAIN_KEYS.into()));
    }
    original.retain(|k, _| retained(k));
    Ok(())
}

/// Adds a key the original lacks: the patch value minus its nulls and directives.
fn insert_new(original: &mut Map<String, Value>, key: String, mut v: Value) {
    discard_nulls(&mut v);
    if let Some(v) = strip_directives(v) {
        original.insert(key, v);
    }
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Whether the list items are objects; all items must share one kind and none may be a list.
fn elements_are_objects(a: &[Value], b: &[Value]) -> Result<bool, PatchError> {
    let mut first: Option<&Value> = None;
    for v in a.iter().chain(b) {
        if v.is_array() {
            return Err(PatchError::Unprocessable("lists of lists are not supported".into()));
        }
        match first {
            None => first = Some(v),
            Some(f) if !same_kind(f, v) => {
                return Err(PatchError::Unprocessable(format!(
                    "list element types are not identical: {} {}",
                    Value::Array(a.to_vec()),
                    Value::Array(b.to_vec())
                )))
            }
            Some(_) => {}
        }
    }
    Ok(first.is_some_and(Value::is_object))
}

/// Handles `$patch` items of a keyed list: `delete` removes matching originals, `replace` makes
/// the remaining patch items the whole list. Returns the original and patch to merge.
fn split_special_elements(mut original: Vec<Value>, patch: Vec<Value>, key: &str) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let wanted = merge_value(&item, key)?;
                original.retain(|o| o.get(key) != Some(wanted));
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(PatchError::Unprocessable("merging lists cannot yet be specified in the patch".into())),
            _ => return Err(bad_patch_type(directive, &item)),
        }
    }
    if replace {
        Ok((plain.into_iter().filter_map(strip_directives).collect(), Vec::new()))
    } else {
        Ok((original, plain))
    }
}

/// The identity of a list item: its merge-key value, or the item itself for scalars.
fn identity<'v>(item: &'v Value, merge_key: Option<&str>) -> Option<&'v Value> {
    match merge_key {
        Some(k) => item.get(k),
        None => Some(item),
    }
}

fn position(list: &[Value], item: &Value, merge_key: Option<&str>) -> Option<usize> {
    let id = identity(item, merge_key)?;
    list.iter().position(|v| identity(v, merge_key) == Some(id))
}

/// Splits `items` into those present in `by` and the rest, keeping their order.
fn partition(items: Vec<Value>, by: &[Value], merge_key: Option<&str>) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for item in items {
        if let Some(k) = merge_key {
            merge_value(&item, k)?;
        }
        if position(by, &item, merge_key).is_some() {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// Orders patch items by `patch_order` and server-only items by `server_order`, then
/// interleaves them: a server-only item goes before a patch item only when the live list had
/// it first.
fn normalize_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: Option<&str>,
) -> Result<Vec<Value>, PatchError> {
    if let Some(k) = merge_key {
        for item in patch_items.iter().chain(&server_only).chain(patch_order).chain(server_order) {
            if item.get(DIRECTIVE).is_none() {
                merge_value(item, k)?;
            }
        }
    }
    patch_items.sort_by_key(|v| position(patch_order, v, merge_key).unwrap_or(usize::MAX));
    server_only.sort_by_key(|v| position(server_order, v, merge_key).unwrap_or(usize::MAX));

    let mut out = Vec::with_capacity(patch_items.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (Some(l), Some(r)) => matches!(
                (position(server_order, l, merge_key), position(server_order, r, merge_key)),
                (Some(li), Some(ri)) if li < ri
            ),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend(if take_left { left.next() } else { right.next() });
    }
    Ok(out)
}

/// Checks that the patch list's items appear in the `$setElementOrder` list, in its order.
fn validate_set_order(patch_list: &[Value], order: &[Value], merge_key: Option<&str>) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = patch_list.iter().filter(|v| merge_key.is_none() || v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete")).collect();
    let (mut pi, mut oi) = (0, 0);
    while pi < items.len() && oi < order.len() {
        if items[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        let equal = match merge_key {
            Some(k) => merge_value(items[pi], k)? == merge_value(&order[oi], k)?,
            None => items[pi] == &order[oi],
        };
        if equal {
            pi += 1;
        }
        oi += 1;
    }
    if pi < items.len() {
        return Err(PatchError::Unprocessable(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ORDER} list:\n{}\n",
            Value::Array(patch_list.to_vec()),
            Value::Array(order.to_vec())
        )));
    }
    Ok(())
}

/// Drops `null` members, recursively, from a value about to be stored as new.
fn discard_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null());
            m.values_mut().for_each(discard_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(discard_nulls),
        _ => {}
    }
}

fn is_directive_key(k: &str) -> bool {
    k == DIRECTIVE || k == RETAIN_KEYS || k.starts_with(SET_ORDER) || k.starts_with(DELETE_FROM_PRIMITIVE)
}

/// Removes directive keys from a value taken from the patch; `None` when the value is itself a
/// `$patch` directive and must not be kept.
fn strip_directives(v: Value) -> Option<Value> {
    match v {
        Value::Object(m) if m.contains_key(DIRECTIVE) => None,
        Value::Object(m) => Some(Value::Object(strip_directives_map(m))),
        Value::Array(a) => Some(Value::Array(a.into_iter().filter_map(strip_directives).collect())),
        other => Some(other),
    }
}

fn strip_directives_map(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter().filter(|(k, _)| !is_directive_key(k)).filter_map(|(k, v)| strip_directives(v).map(|v| (k, v))).collect()
}

#[cfg(test)]
#[path = "strategic_tests.rs"]
mod tests;
