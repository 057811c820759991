//! An object's metadata read straight from its stored JSON.

/// An object's metadata read from its stored bytes without building the rest of the object,
/// for the checks that run on every request or every write and need a field or two.
#[derive(Debug, Default, serde::Deserialize)]
pub struct StoredMeta {
    #[serde(default)]
    metadata: StoredMetaFields,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredMetaFields {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    owner_references: Option<Vec<StoredOwnerReference>>,
    #[serde(default)]
    finalizers: Option<Vec<String>>,
    #[serde(default)]
    deletion_timestamp: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, serde::Deserialize)]
struct StoredOwnerReference {
    #[serde(default)]
    uid: Option<String>,
}

impl StoredMeta {
    /// Parses a stored object's metadata.
    pub fn parse(stored: &[u8]) -> serde_json::Result<StoredMeta> {
        serde_json::from_slice(stored)
    }

    /// `metadata.uid`, if set.
    pub fn uid(&self) -> Option<&str> {
        self.metadata.uid.as_deref()
    }

    /// Whether `metadata.deletionTimestamp` is set.
    pub fn deleting(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }

    /// `metadata.finalizers`.
    pub fn finalizers(&self) -> &[String] {
        self.metadata.finalizers.as_deref().unwrap_or_default()
    }

    /// The uids its ownerReferences name.
    pub fn owner_uids(&self) -> impl Iterator<Item = &str> {
        self.metadata.owner_references.iter().flatten().filter_map(|r| r.uid.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::StoredMeta;

    #[test]
    fn stored_meta_reads_uid_owners_and_deletion_and_tolerates_nulls() {
        let stored = br#"{"kind":"ConfigMap","metadata":{"name":"a","uid":"u1","ownerReferences":[{"uid":"o1","kind":"X"},{"name":"no-uid"}],"finalizers":["foregroundDeletion"],"deletionTimestamp":"2026-12-04T00:00:00Z"},"data":{"big":"x"}}"#;
        let meta = StoredMeta::parse(stored).expect("parse");
        assert_eq!(
            (meta.uid(), meta.owner_uids().collect::<Vec<_>>(), meta.finalizers(), meta.deleting()),
            (Some("u1"), vec!["o1"], &["foregroundDeletion".to_string()][..], true)
        );
        let nulls = StoredMeta::parse(br#"{"metadata":{"uid":null,"ownerReferences":null,"finalizers":null,"deletionTimestamp":null}}"#).expect("parse");
        assert!(nulls.uid().is_none() && nulls.owner_uids().next().is_none() && nulls.finalizers().is_empty() && !nulls.deleting());
        assert!(StoredMeta::parse(b"not json").is_err());
    }
}
