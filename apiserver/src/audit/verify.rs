//! Checks an audit log (its files, oldest first) against its hash chain and seals, and says
//! where it was tampered with: a deleted event leaves a gap in the sequence numbers, an altered
//! one a hash that the next line (or seal) does not record, reordered ones sequence numbers out
//! of order. Pure: it reads text it is given, so `kcp audit verify` only adds the files.

use std::collections::HashMap;

use super::chain::{hash, Seal, GENESIS, PREV_HASH_ANNOTATION, SEAL_KIND, SEQ_ANNOTATION};

/// One finding of tampering (or of damage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// The line, from 1.
    pub line: usize,
    /// The sequence number of the event on that line, if it has one.
    pub seq: Option<u64>,
    /// What is wrong.
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "{}:{}: seq {seq}: {}", self.file, self.line, self.what),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.what),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Default)]
pub struct Report {
    /// Events read.
    pub events: u64,
    /// First and last sequence numbers seen.
    pub seqs: Option<(u64, u64)>,
    /// Seals whose signature and link were checked.
    pub seals: u64,
    /// Events after the last seal: the log of a process still running, or killed.
    pub unsealed: u64,
    /// Public keys (base64) that signed the seals.
    pub keys: Vec<String>,
    /// Tampering found; empty for an intact log.
    pub problems: Vec<Problem>,
    /// Facts worth saying that are not tampering (a chain starting mid-way, an unsealed end).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether no tampering was found.
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

enum Entry {
    Event { seq: u64, prev_hash: String },
    Seal(Seal),
    Malformed,
}

fn parse(line: &str) -> Entry {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else { return Entry::Malformed };
    if value.get("kind").and_then(|k| k.as_str()) == Some(SEAL_KIND) {
        return serde_json::from_value(value).map(Entry::Seal).unwrap_or(Entry::Malformed);
    }
    let annotation = |k: &str| value.pointer("/annotations").and_then(|a| a.get(k)).and_then(|v| v.as_str()).map(String::from);
    match (annotation(SEQ_ANNOTATION).and_then(|s| s.parse().ok()), annotation(PREV_HASH_ANNOTATION)) {
        (Some(seq), Some(prev_hash)) => Entry::Event { seq, prev_hash },
        _ => Entry::Malformed,
    }
}

/// The line before the one being checked.
struct Previous {
    hash: String,
    file: String,
    line: usize,
    seq: Option<u64>,
    /// Whether that line already has a finding, which would explain a broken link to it.
    faulty: bool,
}

/// Verifies `files` (name, contents), oldest first; `trusted` is the public key (base64)
/// seals must be signed with, when the caller has one.
pub fn verify(files: &[(String, String)], trusted: Option<&str>) -> Report {
    let mut report = Report::default();
    // Where every sequence number is, to tell events that moved from events that are gone.
    let mut located: HashMap<u64, (String, usize)> = HashMap::new();
    for (name, text) in files {
        for (i, line) in text.lines().enumerate() {
            if let Entry::Event { seq, .. } = parse(line) {
                located.entry(seq).or_insert_with(|| (name.clone(), i + 1));
            }
        }
    }
    let mut prev: Option<Previous> = None;
    let mut highest: Option<u64> = None;
    for (name, text) in files {
        if !text.is_empty() && !text.ends_with('\n') {
            report.notes.push(format!("{name}: the last line is incomplete (the writer was killed mid-write)"));
        }
        for (i, line) in text.lines().enumerate() {
            let at = |seq: Option<u64>, what: String| Problem { file: name.clone(), line: i + 1, seq, what };
            let mut faulty = false;
            let link = |recorded: &str, this_faulty: bool, report: &mut Report| {
                if let Some(p) = prev.as_ref().filter(|p| p.hash != recorded && !p.faulty && !this_faulty) {
                    let what = format!("altered: its hash does not match the one recorded by {name}:{}", i + 1);
                    report.problems.push(Problem { file: p.file.clone(), line: p.line, seq: p.seq, what });
                }
            };
            let seq = match parse(line) {
                Entry::Malformed => {
                    report.problems.push(at(None, "not an audit event or seal of this log (edited or truncated)".into()));
                    faulty = true;
                    None
                }
                Entry::Event { seq, prev_hash } => {
                    report.events += 1;
                    report.seqs = Some(report.seqs.map_or((seq, seq), |(first, _)| (first, seq)));
                    match highest {
                        None if seq != 1 || prev_hash != GENESIS => {
                            report.notes.push(format!("the chain starts at seq {seq} in {name}:{}: earlier files were not given", i + 1))
                        }
                        Some(h) if seq <= h => {
                            report.problems.push(at(Some(seq), format!("out of order: comes after seq {h}")));
                            faulty = true;
                        }
                        Some(h) if seq > h + 1 => {
                            let expected = h + 1;
                            match located.get(&expected) {
                                Some((file, line)) => {
                                    report.problems.push(at(Some(seq), format!("out of order: seq {expected} was expected here; it is at {file}:{line}")))
                                }
                                None if seq == expected + 1 => {
                                    report.problems.push(at(Some(seq), format!("event seq {expected} is missing before this line (deleted)")))
                                }
                                None => {
                                    report.problems.push(at(Some(seq), format!("events seq {expected}..{} are missing before this line (deleted)", seq - 1)))
                                }
                            }
                            faulty = true;
                        }
                        _ => {}
                    }
                    link(&prev_hash, faulty, &mut report);
                    highest = Some(highest.map_or(seq, |h| h.max(seq)));
                    report.unsealed += 1;
                    Some(seq)
                }
                Entry::Seal(seal) => {
                    link(&seal.prev_hash, false, &mut report);
                    if !seal.signature_valid() {
                        report.problems.push(at(None, "seal signature invalid (the seal was edited)".into()));
                        faulty = true;
                    } else if trusted.is_some_and(|t| t != seal.public_key) {
                        report.problems.push(at(None, format!("sealed with key {} instead of the trusted key", seal.public_key)));
                        faulty = true;
                    } else if highest.is_some_and(|h| h != seal.last_seq) {
                        report.problems.push(at(
                            None,
                            format!("the seal covers events up to seq {}, but seq {} came before it", seal.last_seq, highest.unwrap_or_default()),
                        ));
                        faulty = true;
                    }
                    if !report.keys.contains(&seal.public_key) {
                        report.keys.push(seal.public_key.clone());
                    }
                    report.seals += 1;
                    report.unsealed = 0;
                    None
                }
            };
            prev = Some(Previous { hash: hash(line.as_bytes()), file: name.clone(), line: i + 1, seq, faulty });
        }
    }
    if report.unsealed > 0 {
        report.notes.push(format!("the last {} events are not sealed yet (the writer is still running, or was killed)", report.unsealed));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{Chain, SealKey};
    use crate::audit::testing::event;

    /// A log of `n` events, sealed after every `seal_every`, as (file, text) split at seals.
    fn log(n: usize, seal_every: usize, key: &SealKey) -> Vec<(String, String)> {
        let mut chain = Chain::default();
        let mut files = vec![String::new()];
        for i in 0..n {
            let line = chain.link(&mut event(&format!("e{i}")));
            files.last_mut().expect("file").push_str(&(String::from_utf8(line).expect("utf-8") + "\n"));
            if (i + 1) % seal_every == 0 {
                let seal = chain.seal(key).expect("seal");
                files.last_mut().expect("file").push_str(&(String::from_utf8(seal).expect("utf-8") + "\n"));
                files.push(String::new());
            }
        }
        files.into_iter().filter(|f| !f.is_empty()).enumerate().map(|(i, t)| (format!("f{i}"), t)).collect()
    }

    fn key() -> SealKey {
        let dir = tempfile::tempdir().expect("dir");
        SealKey::load_or_generate(&dir.path().join("k")).expect("key")
    }

    fn edit(files: &[(String, String)], file: usize, f: impl FnOnce(&mut Vec<String>)) -> Vec<(String, String)> {
        let mut out = files.to_vec();
        let mut lines: Vec<String> = out[file].1.lines().map(String::from).collect();
        f(&mut lines);
        out[file].1 = lines.join("\n") + "\n";
        out
    }

    fn problems(files: &[(String, String)]) -> Vec<String> {
        verify(files, None).problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn an_intact_log_across_rotations_verifies() {
        let key = key();
        let files = log(10, 4, &key);
        assert_eq!(files.len(), 3, "two sealed files and an unsealed one");
        let report = verify(&files, Some(&key.public_base64()));
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!((report.events, report.seqs, report.seals, report.unsealed), (10, Some((1, 10)), 2, 2));
        assert!(report.notes.iter().any(|n| n.contains("not sealed")), "{:?}", report.notes);
        let later = verify(&files[1..], None);
        assert!(later.intact() && later.notes.iter().any(|n| n.contains("starts at seq 5")), "{:?}", later.notes);
        assert!(!verify(&files, Some(&self::key().public_base64())).intact(), "another key's seals are refused");
    }

    #[test]
    fn a_deleted_event_is_a_gap() {
        let files = log(6, 100, &key());
        assert_eq!(problems(&edit(&files, 0, |l| drop(l.remove(2)))), ["f0:3: seq 4: event seq 3 is missing before this line (deleted)"]);
        let both = edit(&files, 0, |l| drop(l.drain(1..3)));
        assert_eq!(problems(&both), ["f0:2: seq 4: events seq 2..3 are missing before this line (deleted)"]);
    }

    #[test]
    fn an_altered_event_breaks_the_next_link() {
        let files = log(6, 3, &key());
        let altered = edit(&files, 1, |l| l[0] = l[0].replace("\"verb\":\"create\"", "\"verb\":\"get\""));
        assert_eq!(problems(&altered), ["f1:1: seq 4: altered: its hash does not match the one recorded by f1:2"]);
        // The last event before a seal is covered by the seal.
        let altered = edit(&files, 0, |l| l[2] = l[2].replace("configmaps/e2", "configmaps/zz"));
        assert_eq!(problems(&altered), ["f0:3: seq 3: altered: its hash does not match the one recorded by f0:4"]);
        let resealed = edit(&files, 0, |l| l[3] = l[3].replace("\"lastSeq\":3", "\"lastSeq\":2"));
        assert_eq!(problems(&resealed), ["f0:4: seal signature invalid (the seal was edited)"]);
    }

    #[test]
    fn reordered_events_are_out_of_order() {
        let files = log(6, 100, &key());
        let swapped = edit(&files, 0, |l| l.swap(2, 3));
        assert_eq!(problems(&swapped), ["f0:3: seq 4: out of order: seq 3 was expected here; it is at f0:4", "f0:4: seq 3: out of order: comes after seq 4"]);
    }

    #[test]
    fn a_lost_seal_or_garbage_is_reported() {
        let files = log(6, 3, &key());
        let unsealed = edit(&files, 0, |l| drop(l.pop()));
        assert_eq!(problems(&unsealed), ["f0:3: seq 3: altered: its hash does not match the one recorded by f1:1"]);
        let garbage = edit(&files, 1, |l| l.insert(1, "{}".into()));
        assert_eq!(problems(&garbage), ["f1:2: not an audit event or seal of this log (edited or truncated)"]);
    }
}
