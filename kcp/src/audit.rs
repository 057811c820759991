//! `kcp audit verify`: checks audit log files against their hash chain and seals (see
//! `apiserver::audit::verify`), printing a summary, or where the log was tampered with.

use std::path::PathBuf;

use apiserver::audit::chain::read_public_key;
use apiserver::audit::verify::{verify as check, Report};

/// Flags of `kcp audit verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyFlags {
    /// The key seals must be signed with: the `.pub` file written beside the signing key (or
    /// the key itself). Without it any valid signature passes, and the signing keys are listed.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Log files, oldest first: the rotated backups (their names sort by time), then the
    /// current file.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Why the log could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A log or key file cannot be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `--key` holds no Ed25519 key.
    #[error("{0}: not an Ed25519 public or private key in PEM")]
    Key(PathBuf),
}

/// Reads and checks the files.
pub fn verify(flags: &VerifyFlags) -> Result<Report, VerifyError> {
    let read = |path: &PathBuf| std::fs::read_to_string(path).map_err(|source| VerifyError::Read { path: path.clone(), source });
    let trusted = match &flags.key {
        Some(path) => Some(read_public_key(&read(path)?).ok_or_else(|| VerifyError::Key(path.clone()))?),
        None => None,
    };
    let files = flags.files.iter().map(|p| Ok((p.display().to_string(), read(p)?))).collect::<Result<Vec<_>, VerifyError>>()?;
    Ok(check(&files, trusted.as_deref()))
}

/// What `kcp audit verify` prints: a line per finding of tampering, then the summary and notes.
pub fn summary(report: &Report, files: usize, key_checked: bool) -> String {
    let mut out: Vec<String> = report.problems.iter().map(|p| format!("TAMPERED {p}")).collect();
    let range = report.seqs.map(|(first, last)| format!(" (seq {first}..{last})")).unwrap_or_default();
    let verdict = if report.intact() { "chain intact".to_string() } else { format!("{} problem(s) found", report.problems.len()) };
    out.push(format!("{} events{range} in {files} file(s), {} seal(s): {verdict}", report.events, report.seals));
    if !key_checked {
        out.extend(report.keys.iter().map(|k| format!("note: seals signed with key {k} (pass --key to require it)")));
    }
    out.extend(report.notes.iter().map(|n| format!("note: {n}")));
    out.join("\n")
}
