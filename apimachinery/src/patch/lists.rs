//! How list fields merge, for strategic merge patch and for server-side apply.
//!
//! Upstream carries this as Go struct tags (`patchStrategy`/`patchMergeKey` for SMP,
//! `listType`/`listMapKey` for SSA) on the k8s.io/api types. The two can disagree (CRD
//! `status.conditions` is atomic for SMP but keyed by `type` for SSA), so each rule holds both.
//! `ObjectMeta`'s lists are here; each kind's strategy names its own lists, and every list named
//! nowhere is atomic, which is what upstream says for all remaining lists of the kinds this
//! server serves (LimitRange `spec.limits`, RBAC `rules`/`subjects`, CRD `spec.versions`,
//! ServiceAccount `imagePullSecrets`, Namespace `spec.finalizers`, ...).

/// How the items of one list are identified when two versions of the list meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// The list is one value: a patch or an applier replaces it whole.
    Atomic,
    /// A list of distinct scalars, merged as a set.
    Set,
    /// A list of objects identified by the named key.
    Map(&'static str),
}

/// The SMP and SSA behaviour of one list field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRule {
    /// How strategic merge patch merges the list.
    pub smp: ListType,
    /// How server-side apply merges the list.
    pub ssa: ListType,
}

const ATOMIC: ListRule = ListRule { smp: ListType::Atomic, ssa: ListType::Atomic };

/// One kind's own list fields: the dotted path of field names from the object root, and its rule.
pub type KindLists<'a> = &'a [(&'a str, ListRule)];

/// Lists every object has, through `ObjectMeta`.
const COMMON: &[(&str, ListRule)] = &[
    ("metadata.finalizers", ListRule { smp: ListType::Set, ssa: ListType::Set }),
    ("metadata.ownerReferences", ListRule { smp: ListType::Map("uid"), ssa: ListType::Map("uid") }),
];

/// The rule for the list at `path` (field names only; list positions are not part of it) of a
/// kind whose own lists are `kind`.
pub(crate) fn list_rule(kind: KindLists<'_>, path: &[String]) -> ListRule {
    let dotted = path.join(".");
    COMMON.iter().chain(kind).find(|(p, _)| *p == dotted).map(|(_, r)| *r).unwrap_or(ATOMIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn common_rules_then_the_kinds_own() {
        let keyed = ListRule { smp: ListType::Map("name"), ssa: ListType::Map("name") };
        let kind: KindLists = &[("secrets", keyed)];
        let cases = [
            ("metadata.finalizers", ListType::Set, ListType::Set),
            ("metadata.ownerReferences", ListType::Map("uid"), ListType::Map("uid")),
            ("secrets", ListType::Map("name"), ListType::Map("name")),
            ("imagePullSecrets", ListType::Atomic, ListType::Atomic),
        ];
        for (p, smp, ssa) in cases {
            assert_eq!(list_rule(kind, &path(p)), ListRule { smp, ssa }, "{p}");
        }
        assert_eq!(list_rule(&[], &path("secrets")), ATOMIC);
    }
}
