//! How each list field of the built-in kinds merges, for strategic merge patch and for
//! server-side apply.
//!
//! Upstream carries this as Go struct tags (`patchStrategy`/`patchMergeKey` for SMP,
//! `listType`/`listMapKey` for SSA) on the k8s.io/api types. The two can disagree (CRD
//! `status.conditions` is atomic for SMP but keyed by `type` for SSA), so each rule holds both.
//! Every list not named here is atomic, which is what upstream says for all remaining lists of
//! the kinds this server serves (LimitRange `spec.limits`, RBAC `rules`/`subjects`, CRD
//! `spec.versions`, ServiceAccount `imagePullSecrets`, Namespace `spec.finalizers`, ...).

/// How the items of one list are identified when two versions of the list meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListType {
    /// The list is one value: a patch or an applier replaces it whole.
    Atomic,
    /// A list of distinct scalars, merged as a set.
    Set,
    /// A list of objects identified by the named key.
    Map(&'static str),
}

/// The SMP and SSA behaviour of one list field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListRule {
    pub smp: ListType,
    pub ssa: ListType,
}

const ATOMIC: ListRule = ListRule { smp: ListType::Atomic, ssa: ListType::Atomic };

/// Lists every object has, through `ObjectMeta`.
const COMMON: &[(&str, ListRule)] = &[
    ("metadata.finalizers", ListRule { smp: ListType::Set, ssa: ListType::Set }),
    ("metadata.ownerReferences", ListRule { smp: ListType::Map("uid"), ssa: ListType::Map("uid") }),
];

/// Per-kind lists: (group, kind, dotted path of field names from the object root, rule).
const BY_KIND: &[(&str, &str, &str, ListRule)] = &[
    ("", "Namespace", "status.conditions", ListRule { smp: ListType::Map("type"), ssa: ListType::Map("type") }),
    ("", "ServiceAccount", "secrets", ListRule { smp: ListType::Map("name"), ssa: ListType::Map("name") }),
    (
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "status.conditions",
        ListRule { smp: ListType::Atomic, ssa: ListType::Map("type") },
    ),
];

/// The rule for the list at `path` (field names only; list positions are not part of it).
pub(crate) fn list_rule(group: &str, kind: &str, path: &[String]) -> ListRule {
    let dotted = path.join(".");
    COMMON
        .iter()
        .find(|(p, _)| *p == dotted)
        .map(|(_, r)| *r)
        .or_else(|| {
            BY_KIND.iter().find(|(g, k, p, _)| *g == group && *k == kind && *p == dotted).map(|(_, _, _, r)| *r)
        })
        .unwrap_or(ATOMIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn rules_follow_upstream_tags() {
        let cases = [
            ("", "ConfigMap", "metadata.finalizers", ListType::Set, ListType::Set),
            ("rbac.authorization.k8s.io", "Role", "metadata.ownerReferences", ListType::Map("uid"), ListType::Map("uid")),
            ("", "ServiceAccount", "secrets", ListType::Map("name"), ListType::Map("name")),
            ("", "ServiceAccount", "imagePullSecrets", ListType::Atomic, ListType::Atomic),
            ("", "LimitRange", "spec.limits", ListType::Atomic, ListType::Atomic),
            ("rbac.authorization.k8s.io", "RoleBinding", "subjects", ListType::Atomic, ListType::Atomic),
            ("apiextensions.k8s.io", "CustomResourceDefinition", "spec.versions", ListType::Atomic, ListType::Atomic),
            ("apiextensions.k8s.io", "CustomResourceDefinition", "status.conditions", ListType::Atomic, ListType::Map("type")),
            ("", "Namespace", "status.conditions", ListType::Map("type"), ListType::Map("type")),
            // The same path on another kind does not inherit the rule.
            ("", "ConfigMap", "secrets", ListType::Atomic, ListType::Atomic),
        ];
        for (g, k, p, smp, ssa) in cases {
            assert_eq!(list_rule(g, k, &path(p)), ListRule { smp, ssa }, "{g}/{k} {p}");
        }
    }
}
