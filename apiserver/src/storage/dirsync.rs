//! Real `fdatasync`/`fsync` of everything an embedded store keeps in its directory.
//!
//! sled 0.34's `flush()` ends with `sync_file_range`, which pushes dirty pages to the device but
//! neither flushes the drive's write cache nor the file metadata a reader needs after a power cut
//! (sled#1452), and it never syncs the blob files that hold large values or the directory entries
//! of files it creates. [`DirSync`] closes that gap: after each group commit it `fdatasync`s the log
//! file, `fsync`s every file that appeared since the last call (new blobs and snapshots), and
//! `fsync`s each directory whose entries changed. Its cost is one `fdatasync` per batch plus one
//! `readdir` of two small directories.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// Sub-directories of the store whose files are created by the engine itself.
const SUBDIRS: &[&str] = &["blobs"];

/// Tracks which files of a store directory are already on disk, and syncs the rest.
pub struct DirSync {
    /// The store directory and its engine-made sub-directories.
    dirs: Vec<PathBuf>,
    /// The append-only log every write lands in; kept open so a sync costs no `open`.
    log: File,
    /// Paths whose contents and directory entry have been synced.
    known: HashSet<PathBuf>,
}

impl DirSync {
    /// Starts tracking `root`, whose main log file is `root/log_name`, and syncs what is there.
    pub fn open(root: &Path, log_name: &str) -> io::Result<DirSync> {
        let log = File::open(root.join(log_name))?;
        let dirs = std::iter::once(root.to_path_buf()).chain(SUBDIRS.iter().map(|d| root.join(d))).collect();
        let mut sync = DirSync { dirs, log, known: HashSet::new() };
        // A previous run may have died between creating a file and syncing it.
        sync.sync()?;
        Ok(sync)
    }

    /// Makes everything written so far survive a power cut; returns how many files and
    /// directories besides the log it had to sync.
    pub fn sync(&mut self) -> io::Result<usize> {
        self.log.sync_data()?;
        let mut synced = 0;
        for dir in &self.dirs {
            synced += sync_new_entries(&mut self.known, dir)?;
        }
        Ok(synced)
    }

    /// Whether `path` has been synced (contents and directory entry).
    pub fn is_synced(&self, path: &Path) -> bool {
        self.known.contains(path)
    }
}

/// Syncs the files of `dir` not seen before, then `dir` itself if any were found or removed.
fn sync_new_entries(known: &mut HashSet<PathBuf>, dir: &Path) -> io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut present = HashSet::new();
    let mut synced = 0;
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let path = entry.path();
        if !known.contains(&path) {
            match File::open(&path) {
                Ok(file) => file.sync_all()?,
                // The engine removed it between readdir and open (an obsolete snapshot or blob).
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            synced += 1;
        }
        present.insert(path);
    }
    let before = known.len();
    known.retain(|p| p.parent() != Some(dir) || present.contains(p));
    let removed = before - known.len();
    if synced > 0 || removed > 0 {
        File::open(dir)?.sync_all()?;
        synced += 1;
    }
    known.extend(present);
    Ok(synced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_synced_once_and_removals_resync_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("db"), b"log").expect("write log");
        std::fs::create_dir(dir.path().join("blobs")).expect("mkdir");
        let mut sync = DirSync::open(dir.path(), "db").expect("open");
        assert_eq!(sync.sync().expect("sync"), 0, "nothing new since open");

        std::fs::write(dir.path().join("blobs/17"), b"blob").expect("write blob");
        // The blob and the blobs directory.
        assert_eq!(sync.sync().expect("sync"), 2);
        assert_eq!(sync.sync().expect("sync"), 0);

        std::fs::remove_file(dir.path().join("blobs/17")).expect("remove");
        assert_eq!(sync.sync().expect("sync"), 1, "the directory entry went away");
    }
}
