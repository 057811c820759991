//! On-disk layout of certificate pairs: `<dir>/<stem>.crt` (0644) and `<dir>/<stem>.key` (0600).
//!
//! Each file is written under a temporary name that is created with its final mode, then renamed
//! into place: a key is never readable by others, not even while it is being written, and a crash
//! leaves either the old file or the new one, never half of one.

use std::fs::{self, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rcgen::KeyPair;

use super::{CertPair, PkiError};

/// Writes `<stem>.key` (mode 0600) and `<stem>.crt` (mode 0644) into `dir`, creating `dir` if needed.
pub fn write_pair(dir: &Path, stem: &str, pair: &CertPair) -> Result<(), PkiError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    // The key goes first: ensure_pair reuses a pair only once its certificate exists as well.
    write_file(&key_path(dir, stem), pair.key_pem.as_bytes(), 0o600)?;
    write_file(&cert_path(dir, stem), pair.cert_pem.as_bytes(), 0o644)?;
    // Make the renames themselves durable.
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

/// Reads `<stem>.crt` and `<stem>.key` from `dir`, checking that both parse.
pub fn read_pair(dir: &Path, stem: &str) -> Result<CertPair, PkiError> {
    let read = |path: PathBuf| fs::read_to_string(&path).map_err(io_error(&path));
    let pair = CertPair { cert_pem: read(cert_path(dir, stem))?, key_pem: read(key_path(dir, stem))? };
    // Fail here, naming the files' stem, rather than later inside a TLS handshake.
    super::not_after(&pair.cert_pem)?;
    KeyPair::from_pem(&pair.key_pem)?;
    Ok(pair)
}

/// Reuses the pair stored under `stem` in `dir`, or makes, stores and returns a new one.
pub fn ensure_pair(dir: &Path, stem: &str, make: impl FnOnce() -> Result<CertPair, PkiError>) -> Result<CertPair, PkiError> {
    let (cert, key) = (cert_path(dir, stem), key_path(dir, stem));
    let exists = |path: &Path| path.try_exists().map_err(io_error(path));
    if exists(&cert)? && exists(&key)? {
        return read_pair(dir, stem);
    }
    let pair = make()?;
    write_pair(dir, stem, &pair)?;
    Ok(pair)
}

fn cert_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.crt"))
}

fn key_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!("{stem}.key"))
}

/// Writes `contents` atomically (temporary file with its final mode, fsync, rename).
pub fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", apimachinery::uid::new_v4().simple()));
    let written = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp)?;
        // The umask may have narrowed a certificate's mode; certificates are meant to be public.
        file.set_permissions(Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // Best effort: the error that matters is the one being returned.
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io_error(path))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_owned(), source }
}
