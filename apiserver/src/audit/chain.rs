//! The hash chain that makes the audit log tamper-evident, and the seals that end its segments.
//!
//! Every event carries, in annotations, its sequence number ([`SEQ_ANNOTATION`], from 1) and the
//! SHA-256 of the previous line of the log as written ([`PREV_HASH_ANNOTATION`]; the first
//! event links to [`GENESIS`]). A seal is a line of its own, linked like an event, that signs
//! the hash of the line before it with an Ed25519 key; since each hash covers everything
//! before it, one signature vouches for the whole log up to there. Seals end every rotated
//! file and the log at a clean shutdown; the chain runs on across files and restarts.

use std::path::Path;

use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use super::event::{timestamp, Event};
use crate::pki::PkiError;

/// Annotation holding an event's sequence number.
pub const SEQ_ANNOTATION: &str = "audit.kcp.io/seq";
/// Annotation holding the hex SHA-256 of the line before the event.
pub const PREV_HASH_ANNOTATION: &str = "audit.kcp.io/prev-hash";
/// What the first event of a log links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// `kind` of a seal line.
pub const SEAL_KIND: &str = "Seal";
/// `apiVersion` of a seal line.
pub const SEAL_API_VERSION: &str = "audit.kcp.io/v1";

/// Hex SHA-256 of one line (without its newline).
pub fn hash(line: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, line).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A line that ends a segment: a signature over the chain up to the line before it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Seal {
    /// [`SEAL_KIND`].
    pub kind: String,
    /// [`SEAL_API_VERSION`].
    pub api_version: String,
    /// Sequence number of the last event before the seal.
    pub last_seq: u64,
    /// Hash of the line before the seal.
    pub prev_hash: String,
    /// When the segment was sealed.
    pub sealed_at: String,
    /// The Ed25519 public key (base64), to tell which key signed.
    pub public_key: String,
    /// Ed25519 signature (base64) of [`Seal::message`].
    pub signature: String,
}

impl Seal {
    /// What a seal signs.
    pub fn message(last_seq: u64, prev_hash: &str, sealed_at: &str) -> Vec<u8> {
        format!("kcp-audit-seal/v1\n{last_seq}\n{prev_hash}\n{sealed_at}").into_bytes()
    }

    /// Whether the signature is the embedded key's over the seal's fields.
    pub fn signature_valid(&self) -> bool {
        let b64 = base64::engine::general_purpose::STANDARD;
        let (Ok(key), Ok(sig)) = (b64.decode(&self.public_key), b64.decode(&self.signature)) else { return false };
        UnparsedPublicKey::new(&ED25519, key).verify(&Seal::message(self.last_seq, &self.prev_hash, &self.sealed_at), &sig).is_ok()
    }
}

/// The Ed25519 key that signs seals.
pub struct SealKey(Ed25519KeyPair);

const PRIVATE_PEM: &str = "PRIVATE KEY";
const PUBLIC_PEM: &str = "PUBLIC KEY";
/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Why the seal key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read or written.
    #[error("audit signing key {path}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The key file could not be written with owner-only permissions.
    #[error("audit signing key")]
    Write(#[from] PkiError),
    /// The file holds no Ed25519 key.
    #[error("audit signing key {0}: not an Ed25519 key in PEM")]
    Malformed(String),
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn unpem(text: &str, label: &str) -> Option<Vec<u8>> {
    let body = text.split(&format!("-----BEGIN {label}-----")).nth(1)?.split(&format!("-----END {label}-----")).next()?;
    base64::engine::general_purpose::STANDARD.decode(body.split_whitespace().collect::<String>()).ok()
}

impl SealKey {
    /// Loads the key at `path`, generating it (owner-only, with its public half beside it as
    /// `<path>.pub`) when there is none.
    pub fn load_or_generate(path: &Path) -> Result<SealKey, KeyError> {
        let io = |source| KeyError::Io { path: path.display().to_string(), source };
        if !path.exists() {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Malformed(path.display().to_string()))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            crate::pki::write_file(path, pem(PRIVATE_PEM, pkcs8.as_ref()).as_bytes(), 0o600)?;
            let key = SealKey::from_pkcs8(pkcs8.as_ref(), path)?;
            let public = [&ED25519_SPKI_PREFIX[..], key.0.public_key().as_ref()].concat();
            crate::pki::write_file(&public_path(path), pem(PUBLIC_PEM, &public).as_bytes(), 0o644)?;
            tracing::info!(path = %path.display(), "generated the audit signing key");
            return Ok(key);
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let der = unpem(&text, PRIVATE_PEM).ok_or_else(|| KeyError::Malformed(path.display().to_string()))?;
        SealKey::from_pkcs8(&der, path)
    }

    fn from_pkcs8(der: &[u8], path: &Path) -> Result<SealKey, KeyError> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map(SealKey).map_err(|_| KeyError::Malformed(path.display().to_string()))
    }

    /// The public key, base64, as seals carry it.
    pub fn public_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.public_key().as_ref())
    }

    fn sign(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0.sign(message).as_ref())
    }
}

/// Where the public half of the key at `path` is written.
pub fn public_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    name.into()
}

/// The trusted public key (base64) in a PEM file: the `.pub` written beside the key, or the
/// private key itself.
pub fn read_public_key(text: &str) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(spki) = unpem(text, PUBLIC_PEM) {
        return spki.strip_prefix(&ED25519_SPKI_PREFIX[..]).filter(|k| k.len() == 32).map(|k| b64.encode(k));
    }
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&unpem(text, PRIVATE_PEM)?).ok()?;
    Some(b64.encode(pair.public_key().as_ref()))
}

/// Where the chain stands: the next sequence number and the hash of the last line written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    next_seq: u64,
    prev_hash: String,
    /// Events linked since the last seal; a seal with nothing to cover is not written.
    unsealed: u64,
}

impl Default for Chain {
    fn default() -> Self {
        Chain { next_seq: 1, prev_hash: GENESIS.into(), unsealed: 0 }
    }
}

impl Chain {
    /// Continues after `last_line`, the last whole line of an existing log (an event or a seal).
    /// A line that is neither starts a fresh count but still links to it.
    pub fn after(last_line: &[u8]) -> Chain {
        let prev_hash = hash(last_line);
        let value: serde_json::Value = serde_json::from_slice(last_line).unwrap_or_default();
        if let Ok(seal) = serde_json::from_value::<Seal>(value.clone()) {
            return Chain { next_seq: seal.last_seq + 1, prev_hash, unsealed: 0 };
        }
        let seq = value.pointer("/annotations").and_then(|a| a.get(SEQ_ANNOTATION)).and_then(|s| s.as_str()).and_then(|s| s.parse::<u64>().ok());
        Chain { next_seq: seq.map_or(1, |s| s + 1), prev_hash, unsealed: 1 }
    }

    /// Numbers and links `event`, returning its line (without newline).
    pub fn link(&mut self, event: &mut Event) -> Vec<u8> {
        event.annotations.insert(SEQ_ANNOTATION.into(), self.next_seq.to_string());
        event.annotations.insert(PREV_HASH_ANNOTATION.into(), self.prev_hash.clone());
        let line = serde_json::to_vec(event).unwrap_or_default();
        self.advance(&line);
        self.next_seq += 1;
        self.unsealed += 1;
        line
    }

    /// The seal of everything linked so far, or `None` when nothing is left to seal.
    pub fn seal(&mut self, key: &SealKey) -> Option<Vec<u8>> {
        if self.unsealed == 0 {
            return None;
        }
        let last_seq = self.next_seq - 1;
        let sealed_at = timestamp(jiff::Timestamp::now());
        let signature = key.sign(&Seal::message(last_seq, &self.prev_hash, &sealed_at));
        let seal = Seal {
            kind: SEAL_KIND.into(),
            api_version: SEAL_API_VERSION.into(),
            last_seq,
            prev_hash: self.prev_hash.clone(),
            sealed_at,
            public_key: key.public_base64(),
            signature,
        };
        let line = serde_json::to_vec(&seal).unwrap_or_default();
        self.advance(&line);
        self.unsealed = 0;
        Some(line)
    }

    fn advance(&mut self, line: &[u8]) {
        self.prev_hash = hash(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::testing::event;

    #[test]
    fn events_link_to_the_line_before() {
        let mut chain = Chain::default();
        let first = chain.link(&mut event("a"));
        let second = chain.link(&mut event("b"));
        let parsed: Event = serde_json::from_slice(&second).expect("event");
        assert_eq!(parsed.annotations[SEQ_ANNOTATION], "2");
        assert_eq!(parsed.annotations[PREV_HASH_ANNOTATION], hash(&first));
        let parsed: Event = serde_json::from_slice(&first).expect("event");
        assert_eq!(parsed.annotations[PREV_HASH_ANNOTATION], GENESIS);
    }

    #[test]
    fn seals_sign_the_chain_and_resume_it() {
        let dir = tempfile::tempdir().expect("dir");
        let key = SealKey::load_or_generate(&dir.path().join("k")).expect("key");
        let mut chain = Chain::default();
        assert!(chain.seal(&key).is_none(), "nothing to seal");
        chain.link(&mut event("a"));
        let line = chain.seal(&key).expect("seal");
        let seal: Seal = serde_json::from_slice(&line).expect("seal");
        assert!(seal.signature_valid());
        assert_eq!(seal.last_seq, 1);
        assert!(chain.seal(&key).is_none(), "sealed already");
        let mut forged = seal.clone();
        forged.last_seq = 2;
        assert!(!forged.signature_valid());
        assert_eq!(Chain::after(&line), chain);
        let again = SealKey::load_or_generate(&dir.path().join("k")).expect("same key");
        assert_eq!(again.public_base64(), key.public_base64());
        let public = std::fs::read_to_string(public_path(&dir.path().join("k"))).expect("public key");
        assert_eq!(read_public_key(&public), Some(key.public_base64()));
        let private = std::fs::read_to_string(dir.path().join("k")).expect("private key");
        assert_eq!(read_public_key(&private), Some(key.public_base64()));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.path().join("k")).expect("meta").permissions().mode() & 0o777, 0o600);
    }
}
