//! `kcp storage migrate`: copies a stopped shard's objects from sled into etcd and proves the
//! copy complete.
//!
//! Objects are written in the order of their sled revisions, so an object is never copied before
//! the one it was created after (a workspace's logical cluster before its contents). etcd
//! assigns its own revisions; values carry no resourceVersion (it is presented from the storage
//! revision), so nothing inside them goes stale. The target prefix must be empty: a migration
//! copies a shard, it never merges two. Afterwards the count and a SHA-256 over every key and
//! value, in key order, must be equal on both sides.

use std::path::PathBuf;

use apiserver::storage::etcd::{default_prefix, EtcdConfig, EtcdStorage, EtcdTls, OpenError};
use apiserver::storage::sled::SledStorage;
use apiserver::storage::{Storage, StorageError, Stored};

/// Flags of `kcp storage migrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct MigrateFlags {
    /// Source: `sled:DIR`, the sled directory of a stopped shard (`<root-directory>/data`).
    #[arg(long)]
    pub from: String,
    /// Target: `etcd:URL[,URL...]`, the client URLs of the etcd members.
    #[arg(long)]
    pub to: String,
    /// Name of the shard being copied; names the default key prefix.
    #[arg(long, default_value = "root")]
    pub shard_name: String,
    /// Key prefix in etcd (default `/kcp-rs/<shard name>/`), as the shard will be started with.
    #[arg(long)]
    pub etcd_prefix: Option<String>,
    /// CA of the members' serving certificates; required for `https://` URLs.
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate presented to etcd.
    #[arg(long, requires = "etcd_keyfile")]
    pub etcd_certfile: Option<PathBuf>,
    /// Private key of that certificate.
    #[arg(long, requires = "etcd_certfile")]
    pub etcd_keyfile: Option<PathBuf>,
}

/// Why a migration failed or could not be verified.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// `--from` or `--to` is not of the form this command copies between.
    #[error("{flag} must be {expected}, not {given:?}")]
    Usage {
        /// The flag.
        flag: &'static str,
        /// The accepted form.
        expected: &'static str,
        /// What was given.
        given: String,
    },
    /// The source directory holds no sled store.
    #[error("no sled store at {0} (give the shard's <root-directory>/data)")]
    NoSource(PathBuf),
    /// Reading the source or writing the target failed.
    #[error("storage")]
    Storage(#[from] StorageError),
    /// The etcd cluster could not be reached or its settings are unusable.
    #[error(transparent)]
    Etcd(#[from] OpenError),
    /// The target prefix already holds objects.
    #[error("etcd already holds objects under {prefix}; migrate into an empty prefix")]
    TargetNotEmpty {
        /// The prefix.
        prefix: String,
    },
    /// The copy differs from the source.
    #[error("verification failed: sled has {source_count} objects (sha256 {source_sum}), etcd {target_count} (sha256 {target_sum})")]
    Mismatch {
        /// Objects in sled.
        source_count: usize,
        /// Their checksum.
        source_sum: String,
        /// Objects under the etcd prefix.
        target_count: usize,
        /// Their checksum.
        target_sum: String,
    },
}

/// What was copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Objects copied (and found again in etcd).
    pub objects: usize,
    /// SHA-256 over every key and value in key order, equal on both sides.
    pub checksum: String,
    /// The etcd prefix they went to.
    pub prefix: String,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "copied {} objects to etcd under {}; counts and sha256 {} match", self.objects, self.prefix, self.checksum)
    }
}

fn parse(flag: &'static str, expected: &'static str, scheme: &str, given: &str) -> Result<String, MigrateError> {
    given.strip_prefix(scheme).and_then(|rest| rest.strip_prefix(':')).filter(|rest| !rest.is_empty()).map(str::to_owned).ok_or_else(|| MigrateError::Usage {
        flag,
        expected,
        given: given.to_owned(),
    })
}

/// SHA-256 over every (key, value), in key order, each length-prefixed so that no two
/// different listings hash alike.
fn checksum(items: &[Stored]) -> String {
    let mut sorted: Vec<&Stored> = items.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    for item in sorted {
        for part in [item.key.as_bytes(), item.value.as_ref()] {
            hash.update(&(part.len() as u64).to_be_bytes());
            hash.update(part);
        }
    }
    hash.finish().as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies and verifies; the source shard must be stopped (sled refuses a second opener).
pub async fn migrate(flags: &MigrateFlags) -> Result<Report, MigrateError> {
    let dir = PathBuf::from(parse("--from", "sled:DIR", "sled", &flags.from)?);
    let servers = parse("--to", "etcd:URL[,URL...]", "etcd", &flags.to)?.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    if !dir.join("db").is_file() {
        return Err(MigrateError::NoSource(dir));
    }
    let tls = flags.etcd_cafile.clone().map(|ca_file| EtcdTls { ca_file, client: flags.etcd_certfile.clone().zip(flags.etcd_keyfile.clone()) });
    let prefix = flags.etcd_prefix.clone().unwrap_or_else(|| default_prefix(&flags.shard_name));
    // Nobody watches during a migration: the smallest window will do.
    let config = EtcdConfig { servers, tls, prefix: prefix.clone(), compaction_interval: None, window_capacity: 1, read_cache: Vec::new() };
    let source = SledStorage::open(&dir, 1)?;
    let target = EtcdStorage::open(&config).await?;
    if !target.list("", None, 1, None).await?.items.is_empty() {
        return Err(MigrateError::TargetNotEmpty { prefix });
    }
    let mut objects = source.list("", None, 0, None).await?.items;
    objects.sort_by_key(|o| o.revision);
    for object in &objects {
        target.create(&object.key, object.value.clone()).await?;
    }
    let copied = target.list("", None, 0, None).await?.items;
    let (source_sum, target_sum) = (checksum(&objects), checksum(&copied));
    if objects.len() != copied.len() || source_sum != target_sum {
        return Err(MigrateError::Mismatch { source_count: objects.len(), source_sum, target_count: copied.len(), target_sum });
    }
    Ok(Report { objects: objects.len(), checksum: source_sum, prefix })
}

#[cfg(test)]
mod tests {
    use apiserver::storage::etcd::local::LocalEtcd;
    use bytes::Bytes;

    use super::*;

    fn flags(from: &str, to: &str) -> MigrateFlags {
        MigrateFlags {
            from: from.to_owned(),
            to: to.to_owned(),
            shard_name: "root".into(),
            etcd_prefix: None,
            etcd_cafile: None,
            etcd_certfile: None,
            etcd_keyfile: None,
        }
    }

    #[test]
    fn source_and_target_must_name_their_engine() {
        assert_eq!(parse("--from", "sled:DIR", "sled", "sled:/var/kcp/data").expect("sled"), "/var/kcp/data");
        for bad in ["/var/kcp/data", "sled:", "etcd:/x", "sledge:/x"] {
            assert!(matches!(parse("--from", "sled:DIR", "sled", bad), Err(MigrateError::Usage { .. })), "{bad}");
        }
    }

    #[test]
    fn checksum_depends_on_keys_and_values_not_order() {
        let item = |k: &str, v: &'static str, revision| Stored { key: k.into(), value: Bytes::from_static(v.as_bytes()), revision };
        let one = [item("a", "1", 1), item("b", "2", 2)];
        let reordered = [item("b", "2", 9), item("a", "1", 8)];
        assert_eq!(checksum(&one), checksum(&reordered));
        assert_ne!(checksum(&one), checksum(&[item("a", "12", 1), item("b", "", 2)]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn copies_every_object_once_and_refuses_a_second_copy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let expected = {
            let sled = SledStorage::open(&data, 10).expect("sled");
            for i in 0..30 {
                sled.create(&format!("core/configmaps/c{}/ns/{i}", i % 3), Bytes::from(format!("{{\"n\":{i}}}"))).await.expect("create");
            }
            let changed = sled.get("core/configmaps/c0/ns/0").await.expect("get");
            sled.update(&changed.key, changed.revision, Bytes::from_static(b"{\"n\":\"changed\"}")).await.expect("update");
            sled.delete("core/configmaps/c1/ns/1", None).await.expect("delete");
            sled.list("", None, 0, None).await.expect("list").items
        };
        let etcd = LocalEtcd::start(dir.path()).unwrap_or_else(|e| panic!("this test needs a real etcd: {e}"));
        let flags = flags(&format!("sled:{}", data.display()), &format!("etcd:{}", etcd.url));

        let report = migrate(&flags).await.expect("migrate");
        assert_eq!((report.objects, report.prefix.as_str()), (29, "/kcp-rs/root/"));
        assert_eq!(report.checksum, checksum(&expected));
        let config = EtcdConfig {
            servers: vec![etcd.url.clone()],
            tls: None,
            prefix: report.prefix.clone(),
            compaction_interval: None,
            window_capacity: 1,
            read_cache: Vec::new(),
        };
        let copied = EtcdStorage::open(&config).await.expect("open").get("core/configmaps/c0/ns/0").await.expect("get");
        assert_eq!(copied.value, Bytes::from_static(b"{\"n\":\"changed\"}"));

        assert!(matches!(migrate(&flags).await, Err(MigrateError::TargetNotEmpty { .. })));
        let missing = MigrateFlags { from: format!("sled:{}", dir.path().join("nothing").display()), ..flags };
        assert!(matches!(migrate(&missing).await, Err(MigrateError::NoSource(_))));
    }
}
