//! Storage key encoding: `<group>/<resource>/<cluster>/<namespace>/<name>`.
//!
//! The core group is spelled `core` so that keys never start with a separator. Cluster-scoped
//! objects have an empty namespace segment. None of the segments may contain `/`; request parsing
//! guarantees that before a key is ever built.

/// The parts of one object's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key<'a> {
    /// API group; empty for the core group, which is encoded as `core`.
    pub group: &'a str,
    /// Resource, plural and lower-case, e.g. `configmaps`.
    pub resource: &'a str,
    /// Logical cluster name the object lives in.
    pub cluster: &'a str,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: &'a str,
    /// Object name.
    pub name: &'a str,
}

fn group_segment(group: &str) -> &str {
    if group.is_empty() {
        "core"
    } else {
        group
    }
}

impl<'a> Key<'a> {
    /// The key of a logical cluster's `LogicalCluster` singleton, whose existence makes the
    /// logical cluster exist.
    pub fn logical_cluster(cluster: &'a str) -> Key<'a> {
        Key { group: "core.kcp.io", resource: "logicalclusters", cluster, namespace: "", name: "cluster" }
    }

    /// The parts of an encoded key (the inverse of [`Key::encode`]); None for a prefix.
    pub fn parse(key: &'a str) -> Option<Key<'a>> {
        let mut parts = key.splitn(5, '/');
        let group = match parts.next()? {
            "core" => "",
            g => g,
        };
        Some(Key { group, resource: parts.next()?, cluster: parts.next()?, namespace: parts.next()?, name: parts.next()? })
    }

    /// The encoded key.
    pub fn encode(&self) -> String {
        format!("{}/{}/{}/{}/{}", group_segment(self.group), self.resource, self.cluster, self.namespace, self.name)
    }
}

/// Prefix of every object of a resource in every cluster (wildcard lists).
pub fn resource_prefix(group: &str, resource: &str) -> String {
    format!("{}/{}/", group_segment(group), resource)
}

/// Prefix of every object of a resource in one cluster.
pub fn cluster_prefix(group: &str, resource: &str, cluster: &str) -> String {
    format!("{}/{}/{}/", group_segment(group), resource, cluster)
}

/// Prefix of every object of a resource in one namespace of one cluster.
pub fn namespace_prefix(group: &str, resource: &str, cluster: &str, namespace: &str) -> String {
    format!("{}/{}/{}/{}/", group_segment(group), resource, cluster, namespace)
}

/// Splits an encoded key into (cluster, namespace, name).
pub fn decode(key: &str) -> Option<(&str, &str, &str)> {
    Key::parse(key).map(|k| (k.cluster, k.namespace, k.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_never_share_a_prefix() {
        let a = Key { group: "", resource: "configmaps", cluster: "a", namespace: "default", name: "x" }.encode();
        assert_eq!(a, "core/configmaps/a/default/x");
        assert!(a.starts_with(&cluster_prefix("", "configmaps", "a")));
        assert!(!a.starts_with(&cluster_prefix("", "configmaps", "ab")));
        assert!(!Key { group: "", resource: "configmaps", cluster: "ab", namespace: "default", name: "x" }.encode().starts_with(&cluster_prefix(
            "",
            "configmaps",
            "a"
        )));
        assert_eq!(decode(&a), Some(("a", "default", "x")));
    }
}
