//! The audit log's writer: a thread of its own (disk I/O never runs on the request path) that
//! takes events from a bounded queue, links them into the chain and appends them in batches,
//! one `write` per batch. Before a batch would take the file past its size it seals the file,
//! renames it to a timestamped backup (`audit-2026-01-02T03-04-05.678.log`) and prunes the
//! oldest backups beyond the limit; the chain runs on in the new file. On close it seals.
//!
//! Loss bound: a batch is written as soon as the previous write returns, so a SIGKILL loses at
//! most what is queued and not yet written: at most [`QUEUE`] + [`BATCH`] events, in practice
//! the events of the requests that finished during the last write. A written batch is in the
//! kernel's page cache and survives the process; it is fsynced at every seal.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc;

use super::chain::{Chain, SealKey};
use super::event::Event;

/// Events waiting for the writer; a full queue makes requests wait (see `Auditor::record`).
pub const QUEUE: usize = 1024;
/// Most events written in one batch.
pub const BATCH: usize = 256;

/// What the writer is told.
pub enum Msg {
    /// Append an event.
    Event(Box<Event>),
    /// Seal, sync and stop; the sender learns when that is done.
    Close(tokio::sync::oneshot::Sender<()>),
}

/// Where and how the log is written.
pub struct Target {
    /// The current log file.
    pub path: PathBuf,
    /// Size past which the file is rotated.
    pub max_bytes: u64,
    /// Rotated files kept; 0 keeps all.
    pub max_backups: usize,
    /// Signs the seals.
    pub key: SealKey,
}

/// The open log and where its chain stands.
pub struct Writer {
    target: Target,
    file: File,
    size: u64,
    chain: Chain,
    /// Events that could not be written.
    lost: Counter,
}

/// Why the log cannot be opened.
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}")]
pub struct OpenError {
    /// The file.
    pub path: String,
    /// Why.
    pub source: std::io::Error,
}

impl Writer {
    /// Opens (or creates) the log and continues the chain where the log, or its newest
    /// backup, ends. A last line cut off by a crash is dropped: it was never whole.
    pub fn open(target: Target, lost: Counter) -> Result<Writer, OpenError> {
        let err = |source| OpenError { path: target.path.display().to_string(), source };
        if let Some(dir) = target.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&target.path).map_err(err)?;
        let (last, whole) = last_line(&mut file).map_err(err)?;
        let size = file.metadata().map_err(err)?.len();
        if whole < size {
            tracing::warn!(path = %target.path.display(), bytes = size - whole, "dropping an incomplete last line of the audit log");
            file.set_len(whole).map_err(err)?;
        }
        let last = match last {
            Some(line) => Some(line),
            None => match backups(&target.path).last() {
                Some(newest) => last_line(&mut File::open(newest).map_err(err)?).map_err(err)?.0,
                None => None,
            },
        };
        let chain = last.as_deref().map(Chain::after).unwrap_or_default();
        Ok(Writer { size: whole, target, file, chain, lost })
    }

    /// Runs until closed (or every sender is gone): batches, rotation, the final seal.
    pub fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let Some(first) = rx.blocking_recv() else { break };
            batch.push(first);
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let mut closing = None;
            let mut events = Vec::with_capacity(batch.len());
            for msg in batch.drain(..) {
                match msg {
                    Msg::Event(e) => events.push(e),
                    Msg::Close(done) => closing = Some(done),
                }
            }
            self.append(events);
            if let Some(done) = closing {
                self.seal();
                let _ = done.send(());
                return;
            }
        }
        self.seal();
    }

    /// Links and writes one batch, rotating first when it would not fit.
    pub fn append(&mut self, mut events: Vec<Box<Event>>) {
        if events.is_empty() {
            return;
        }
        let before = self.chain.clone();
        let mut lines = self.link(&mut events);
        if self.size > 0 && self.size + lines.len() as u64 > self.target.max_bytes {
            // The seal goes before the batch: link it again after the seal.
            self.chain = before;
            self.rotate();
            lines = self.link(&mut events);
        }
        match self.file.write_all(&lines) {
            Ok(()) => self.size += lines.len() as u64,
            Err(e) => {
                // The chain has moved on: the gap in sequence numbers shows the loss to
                // `kcp audit verify`.
                tracing::error!(error = %e, events = events.len(), "writing the audit log failed; events lost");
                self.lost.inc_by(events.len() as u64);
            }
        }
    }

    fn link(&mut self, events: &mut [Box<Event>]) -> Vec<u8> {
        let mut lines = Vec::new();
        for e in events {
            lines.extend(self.chain.link(e));
            lines.push(b'\n');
        }
        lines
    }

    /// Ends the current file with a seal and syncs it.
    pub fn seal(&mut self) {
        if let Some(mut line) = self.chain.seal(&self.target.key) {
            line.push(b'\n');
            if let Err(e) = self.file.write_all(&line).and_then(|()| self.file.sync_all()) {
                tracing::error!(error = %e, "sealing the audit log failed");
            }
            self.size += line.len() as u64;
        }
    }

    fn rotate(&mut self) {
        self.seal();
        let backup = backup_path(&self.target.path, jiff::Timestamp::now());
        let reopened = std::fs::rename(&self.target.path, &backup).and_then(|()| OpenOptions::new().create(true).append(true).open(&self.target.path));
        match reopened {
            Ok(f) => {
                self.file = f;
                self.size = 0;
                tracing::info!(backup = %backup.display(), "rotated the audit log");
            }
            Err(e) => tracing::error!(error = %e, "rotating the audit log failed; writing on to the same file"),
        }
        if self.target.max_backups > 0 {
            let all = backups(&self.target.path);
            for old in &all[..all.len().saturating_sub(self.target.max_backups)] {
                if let Err(e) = std::fs::remove_file(old) {
                    tracing::warn!(file = %old.display(), error = %e, "removing an old audit log failed");
                }
            }
        }
    }
}

fn stem_and_ext(path: &Path) -> (String, String) {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
    (stem, ext)
}

/// `<dir>/<stem>-<UTC time>-<n>.<ext>`, a name that sorts by time; `n` (zero-padded, so it
/// sorts too) tells apart rotations within one millisecond.
fn backup_path(path: &Path, at: jiff::Timestamp) -> PathBuf {
    let (stem, ext) = stem_and_ext(path);
    let time = at.strftime("%Y-%m-%dT%H-%M-%S.%3f").to_string();
    (0u32..)
        .map(|n| path.with_file_name(format!("{stem}-{time}-{n:04}{ext}")))
        .find(|candidate| !candidate.exists())
        .unwrap_or_else(|| path.with_file_name(format!("{stem}-{time}{ext}")))
}

/// The backups of the log at `path`, oldest first.
pub fn backups(path: &Path) -> Vec<PathBuf> {
    let (stem, ext) = stem_and_ext(path);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.strip_prefix(&format!("{stem}-")).is_some_and(|rest| rest.ends_with(&ext) && rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    found.sort();
    found
}

/// The last whole line of `file` (without newline) and the length up to its end, reading
/// backwards so a large log is not read whole.
fn last_line(file: &mut File) -> std::io::Result<(Option<Vec<u8>>, u64)> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.metadata()?.len();
    let mut tail: Vec<u8> = Vec::new();
    let mut start = len;
    loop {
        let from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start = from;
        // Whole lines end at the last newline; the line before it starts after the one before.
        if let Some(end) = tail.iter().rposition(|b| *b == b'\n') {
            if let Some(begin) = tail[..end].iter().rposition(|b| *b == b'\n') {
                return Ok((Some(tail[begin + 1..end].to_vec()), start + end as u64 + 1));
            }
            if start == 0 {
                return Ok((Some(tail[..end].to_vec()), end as u64 + 1));
            }
        } else if start == 0 {
            return Ok((None, 0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::testing::event;
    use crate::audit::verify::verify;

    fn target(dir: &Path, max_bytes: u64, max_backups: usize) -> Target {
        Target { path: dir.join("audit.log"), max_bytes, max_backups, key: SealKey::load_or_generate(&dir.join("audit.key")).expect("key") }
    }

    fn files(dir: &Path) -> Vec<(String, String)> {
        let log = dir.join("audit.log");
        backups(&log).into_iter().chain([log]).map(|p| (p.display().to_string(), std::fs::read_to_string(&p).expect("file"))).collect()
    }

    #[test]
    fn backups_in_one_millisecond_sort_in_rotation_order() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("audit.log");
        let at = jiff::Timestamp::now();
        let mut made = Vec::new();
        for _ in 0..12 {
            let p = backup_path(&log, at);
            std::fs::write(&p, "").expect("backup");
            made.push(p);
        }
        assert_eq!(backups(&log), made);
    }

    #[test]
    fn rotation_keeps_the_chain_and_prunes_backups() {
        let dir = tempfile::tempdir().expect("dir");
        let mut w = Writer::open(target(dir.path(), 2000, 0), Counter::default()).expect("opens");
        for i in 0..12 {
            w.append(vec![Box::new(event(&format!("e{i}")))]);
        }
        w.seal();
        let all = files(dir.path());
        assert!(all.len() > 2, "rotated: {:?}", all.iter().map(|f| &f.0).collect::<Vec<_>>());
        let report = verify(&all, None);
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!((report.events, report.unsealed, report.seals as usize), (12, 0, all.len()));
        let mut w = Writer::open(target(dir.path(), 2000, 1), Counter::default()).expect("reopens");
        for i in 0..4 {
            w.append(vec![Box::new(event(&format!("f{i}")))]);
        }
        assert_eq!(backups(&dir.path().join("audit.log")).len(), 1, "pruned to one backup");
        let report = verify(&files(dir.path()), None);
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!(report.seqs.map(|(_, last)| last), Some(16));
    }

    #[test]
    fn a_restart_continues_the_chain_after_a_cut_line() {
        let dir = tempfile::tempdir().expect("dir");
        let mut w = Writer::open(target(dir.path(), 1 << 20, 0), Counter::default()).expect("opens");
        w.append(vec![Box::new(event("a")), Box::new(event("b"))]);
        drop(w);
        // A kill in the middle of a write leaves part of a line.
        std::fs::OpenOptions::new().append(true).open(dir.path().join("audit.log")).and_then(|mut f| f.write_all(b"{\"kind\":\"Ev")).expect("append");
        let mut w = Writer::open(target(dir.path(), 1 << 20, 0), Counter::default()).expect("reopens");
        w.append(vec![Box::new(event("c"))]);
        w.seal();
        let report = verify(&files(dir.path()), None);
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!((report.events, report.seals, report.unsealed), (3, 1, 0));
    }

    #[test]
    fn last_line_reads_backwards() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("f");
        let long = "x".repeat(200_000);
        for (text, last, whole) in [
            ("", None, 0),
            ("partial", None, 0),
            ("a\n", Some("a"), 2),
            ("a\nb\nc", Some("b"), 4),
            (&format!("a\n{long}\n") as &str, Some(&long as &str), 200_003),
        ] {
            std::fs::write(&path, text).expect("write");
            let (line, end) = last_line(&mut File::open(&path).expect("open")).expect("reads");
            assert_eq!((line.as_deref(), end), (last.map(str::as_bytes), whole), "{:.20}", text);
        }
    }
}
