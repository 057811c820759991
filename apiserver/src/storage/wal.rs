//! The embedded backend's write-ahead log: what makes a write durable before sled has flushed it.
//!
//! A sled 0.34 flush is expensive under load: it hands the write to sled's I/O thread pool, which
//! wakes every idle pool thread for each task, and then waits on `sync_file_range`. Under 32
//! concurrent creates that machinery took about 40 % of a shard's CPU. So a group of writes becomes
//! durable here instead: each group is appended to the current segment as checksummed records
//! with one `write` and one `fdatasync`. sled is flushed only when a segment fills up, after which
//! the segment is deleted; opening the store replays what sled had not yet made durable.
//!
//! A record is `[body length: u32 LE][CRC-32 of body: u32 LE][body]`, and a body is
//! `[revision: u64 BE][op: 1 put, 2 delete][key length: u32 BE][key][value]`. A torn record at the
//! end of the newest segment is a group that was never acknowledged, so reading stops there.
//!
//! Segments grow by writing zeros ahead of the records, a chunk at a time. A group then lands on
//! blocks the file system has already allocated, so its `fdatasync` writes the data alone instead
//! of also committing the file's new size and blocks to the journal: on ext4 that halves a sync.
//! Zeros after the last record are where the log ends, not damage: no body is empty.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::{Event, EventKind};

/// A segment is closed, and sled checkpointed behind it, once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 32 << 20;

/// How far ahead of the records a segment is zeroed at a time.
const ZEROED_CHUNK: u64 = 1 << 20;

const HEADER: usize = 8;
/// Bytes of a body before its key: revision (8), op (1), key length (4).
const BODY_PREFIX: usize = 13;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

/// One logged write, as replay applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The write's revision.
    pub revision: u64,
    /// The storage key written.
    pub key: String,
    /// The new value, or `None` for a delete.
    pub value: Option<Bytes>,
}

/// The append side of the log: one open segment in a directory of segments.
pub struct Wal {
    dir: PathBuf,
    current: File,
    current_path: PathBuf,
    /// Bytes of records in the open segment: where the next group goes.
    size: u64,
    /// Bytes of the open segment written so far, records and the zeros after them.
    zeroed: u64,
    next_sequence: u64,
}

impl Wal {
    /// Opens the log in `dir` (created if absent) and returns it with every intact record of its
    /// existing segments, oldest first. Appends go to a new segment.
    pub fn open(dir: &Path) -> io::Result<(Wal, Vec<Record>)> {
        std::fs::create_dir_all(dir)?;
        let segments = segments(dir)?;
        let mut records = Vec::new();
        for (index, (_, path)) in segments.iter().enumerate() {
            let complete = read_segment(&std::fs::read(path)?, &mut records);
            if !complete && index + 1 < segments.len() {
                // Only the newest segment can end in an unacknowledged group; a gap before
                // later segments would silently drop acknowledged writes.
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("write-ahead log segment {} is damaged", path.display())));
            }
        }
        let next_sequence = segments.last().map_or(0, |(sequence, _)| sequence + 1);
        let (current, current_path) = create_segment(dir, next_sequence)?;
        Ok((Wal { dir: dir.to_path_buf(), current, current_path, size: 0, zeroed: 0, next_sequence: next_sequence + 1 }, records))
    }

    /// Deletes every segment but the open one; for when the engine holds all they recorded.
    pub fn remove_older_segments(&self) -> io::Result<()> {
        let older: Vec<PathBuf> = segments(&self.dir)?.into_iter().map(|(_, path)| path).filter(|path| *path != self.current_path).collect();
        remove_segments(&self.dir, &older)
    }

    /// Appends one group of committed writes and makes it durable. Returns the segment it
    /// closed when this group filled it.
    pub fn append(&mut self, events: &[Event]) -> io::Result<Option<PathBuf>> {
        let mut buf = Vec::with_capacity(events.iter().map(|e| HEADER + BODY_PREFIX + e.key.len() + e.value.len()).sum());
        for event in events {
            encode(event, &mut buf);
        }
        let end = self.size + buf.len() as u64;
        if end > self.zeroed {
            // This sync also commits the new length; the following ones until `end` passes
            // the zeroed chunk do not.
            let zeroed = end.next_multiple_of(ZEROED_CHUNK);
            self.current.write_all_at(&vec![0; (zeroed - end) as usize], end)?;
            self.zeroed = zeroed;
        }
        self.current.write_all_at(&buf, self.size)?;
        self.current.sync_data()?;
        self.size = end;
        if self.size < SEGMENT_BYTES {
            return Ok(None);
        }
        let (next, next_path) = create_segment(&self.dir, self.next_sequence)?;
        self.next_sequence += 1;
        self.current = next;
        self.size = 0;
        self.zeroed = 0;
        Ok(Some(std::mem::replace(&mut self.current_path, next_path)))
    }
}

/// Deletes closed segments whose writes the engine has made durable.
pub fn remove_segments(dir: &Path, paths: &[PathBuf]) -> io::Result<()> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    // A removal the disk forgets only means replaying writes the engine already holds.
    File::open(dir)?.sync_all()
}

/// The segments of `dir`, oldest first.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let sequence = path.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("wal-")?.strip_suffix(".log")?.parse().ok());
        if let Some(sequence) = sequence {
            found.push((sequence, path));
        }
    }
    found.sort();
    Ok(found)
}

/// Creates an empty segment and makes its directory entry durable before anything relies on it.
fn create_segment(dir: &Path, sequence: u64) -> io::Result<(File, PathBuf)> {
    let path = dir.join(format!("wal-{sequence:016}.log"));
    let file = OpenOptions::new().create_new(true).write(true).open(&path)?;
    File::open(dir)?.sync_all()?;
    Ok((file, path))
}

fn encode(event: &Event, buf: &mut Vec<u8>) {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    buf.extend_from_slice(&event.revision.to_be_bytes());
    let deleted = event.kind == EventKind::Deleted;
    buf.push(if deleted { OP_DELETE } else { OP_PUT });
    buf.extend_from_slice(&(event.key.len() as u32).to_be_bytes());
    buf.extend_from_slice(event.key.as_bytes());
    if !deleted {
        buf.extend_from_slice(&event.value);
    }
    let body = &buf[start + HEADER..];
    let (len, crc) = ((body.len() as u32).to_le_bytes(), crc32fast::hash(body).to_le_bytes());
    buf[start..start + 4].copy_from_slice(&len);
    buf[start + 4..start + HEADER].copy_from_slice(&crc);
}

/// Appends the segment's intact records to `out`; returns whether the whole segment was intact:
/// nothing but zeros after its last record.
fn read_segment(data: &[u8], out: &mut Vec<Record>) -> bool {
    let mut rest = data;
    while let Some((record, used)) = decode(rest) {
        out.push(record);
        rest = &rest[used..];
    }
    rest.iter().all(|&b| b == 0)
}

/// Decodes the record at the start of `data`, with the bytes it took; `None` if torn or damaged.
fn decode(data: &[u8]) -> Option<(Record, usize)> {
    let len = u32::from_le_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(data.get(4..HEADER)?.try_into().ok()?);
    let body = data.get(HEADER..HEADER + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    let revision = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
    let op = *body.get(8)?;
    let key_len = u32::from_be_bytes(body.get(9..BODY_PREFIX)?.try_into().ok()?) as usize;
    let key = std::str::from_utf8(body.get(BODY_PREFIX..BODY_PREFIX + key_len)?).ok()?.to_owned();
    let value = match op {
        OP_PUT => Some(Bytes::copy_from_slice(&body[BODY_PREFIX + key_len..])),
        OP_DELETE => None,
        _ => return None,
    };
    Some((Record { revision, key, value }, HEADER + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, key: &str, value: &str, revision: u64) -> Event {
        Event { kind, key: key.into(), value: Bytes::from(value.to_owned()), revision, prev: None }
    }

    #[test]
    fn records_round_trip_across_reopens_and_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut wal, replayed) = Wal::open(dir.path()).expect("open");
        assert!(replayed.is_empty());
        wal.append(&[event(EventKind::Added, "core/configmaps/a/ns/x", "{\"v\":1}", 1), event(EventKind::Deleted, "core/configmaps/a/ns/y", "{}", 2)])
            .expect("append");
        drop(wal);
        let (mut wal, replayed) = Wal::open(dir.path()).expect("reopen");
        wal.append(&[event(EventKind::Modified, "core/configmaps/a/ns/x", "{\"v\":3}", 3)]).expect("append");
        drop(wal);
        let (_, replayed_again) = Wal::open(dir.path()).expect("reopen");
        assert_eq!(
            replayed,
            [
                Record { revision: 1, key: "core/configmaps/a/ns/x".into(), value: Some(Bytes::from_static(b"{\"v\":1}")) },
                Record { revision: 2, key: "core/configmaps/a/ns/y".into(), value: None },
            ]
        );
        assert_eq!(replayed_again.len(), 3);
        assert_eq!(replayed_again[2].value.as_deref(), Some(&b"{\"v\":3}"[..]));
    }

    #[test]
    fn a_torn_last_group_is_dropped_and_older_segments_can_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut wal, _) = Wal::open(dir.path()).expect("open");
        wal.append(&[event(EventKind::Added, "core/configmaps/a/ns/x", "{}", 1), event(EventKind::Added, "core/configmaps/a/ns/z", "{}", 2)]).expect("append");
        let (path, written) = (wal.current_path.clone(), wal.size as usize);
        drop(wal);
        // Cut the second record in half, as a crash in the middle of its write would.
        let data = std::fs::read(&path).expect("read");
        std::fs::write(&path, &data[..written - 5]).expect("truncate");
        let (wal, replayed) = Wal::open(dir.path()).expect("reopen");
        assert_eq!(replayed.iter().map(|r| r.revision).collect::<Vec<_>>(), [1]);
        wal.remove_older_segments().expect("remove");
        assert_eq!(segments(dir.path()).expect("list").len(), 1, "only the open segment is left");
    }

    #[test]
    fn damage_before_the_newest_segment_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut wal, _) = Wal::open(dir.path()).expect("open");
        wal.append(&[event(EventKind::Added, "core/configmaps/a/ns/x", "{}", 1)]).expect("append");
        let (first, written) = (wal.current_path.clone(), wal.size as usize);
        drop(wal);
        let (mut wal, _) = Wal::open(dir.path()).expect("reopen");
        wal.append(&[event(EventKind::Added, "core/configmaps/a/ns/y", "{}", 2)]).expect("append");
        drop(wal);
        let mut data = std::fs::read(&first).expect("read");
        data[written - 1] ^= 0xff;
        std::fs::write(&first, data).expect("write");
        assert!(Wal::open(dir.path()).is_err());
    }

    #[test]
    fn groups_land_on_zeros_written_ahead_which_end_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut wal, _) = Wal::open(dir.path()).expect("open");
        let big = "x".repeat(ZEROED_CHUNK as usize);
        wal.append(&[event(EventKind::Added, "core/configmaps/a/ns/x", "{}", 1)]).expect("append");
        let path = wal.current_path.clone();
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), ZEROED_CHUNK, "the first group zeroes a chunk");
        // A group longer than what is left of the chunk zeroes past its own end.
        wal.append(&[event(EventKind::Added, "core/configmaps/a/ns/big", &big, 2)]).expect("append");
        let written = wal.size;
        assert!(written > ZEROED_CHUNK);
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 2 * ZEROED_CHUNK);
        drop(wal);
        let data = std::fs::read(&path).expect("read");
        let mut records = Vec::new();
        assert!(read_segment(&data, &mut records), "zeros after the last record are not damage");
        assert_eq!(records.iter().map(|r| r.revision).collect::<Vec<_>>(), [1, 2]);
        let mut damaged = data.clone();
        damaged[written as usize + 10] = 1;
        assert!(!read_segment(&damaged, &mut Vec::new()), "anything else after the last record is");
    }
}
