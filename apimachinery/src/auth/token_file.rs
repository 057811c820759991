//! Static bearer tokens from a kube `--token-auth-file` CSV (`token,user,uid[,"g1,g2"]`).
//!
//! Lookups compare the presented token against every stored token in constant time and never
//! stop early, so response timing reveals neither which token matched nor how much of it did.
//! Tokens are never logged, and the type's `Debug` hides them.

use std::collections::BTreeMap;

use super::user::UserInfo;
use super::AuthError;

/// Origin shown in errors of [`TokenFile::parse`], which has no file path.
const INLINE_ORIGIN: &str = "<inline>";

/// The parsed token file: each token with the identity it authenticates as.
#[derive(Clone, Default)]
pub struct TokenFile {
    entries: Vec<(Vec<u8>, UserInfo)>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile").field("tokens", &self.entries.len()).finish()
    }
}

impl TokenFile {
    /// Parses CSV text. Blank lines and lines starting with `#` are skipped; lines with an
    /// empty token are skipped with a warning (as kube does); a later duplicate token wins.
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        Self::parse_from(INLINE_ORIGIN, text)
    }

    /// Parses CSV text read from `origin` (a path), which errors name.
    pub fn parse_from(origin: &str, text: &str) -> Result<Self, AuthError> {
        let mut file = TokenFile::default();
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let err = |detail: String| AuthError::TokenFile { path: origin.to_string(), line, detail };
            let fields = split_csv_line(raw).map_err(|d| err(d.to_string()))?;
            if fields.len() < 3 {
                return Err(err(format!("must have at least 3 columns (token, user name, user uid), found {}", fields.len())));
            }
            let mut fields = fields.into_iter();
            let (token, name, uid) = match (fields.next(), fields.next(), fields.next()) {
                (Some(t), Some(n), Some(u)) => (t, n, u),
                _ => return Err(err("must have at least 3 columns".to_string())),
            };
            if token.is_empty() {
                tracing::warn!(origin, line, "empty token in token file, skipping the line");
                continue;
            }
            // kube splits on "," verbatim; empty pieces (from "" or "a,") would be nameless groups.
            let groups = fields.next().map(|g| g.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()).unwrap_or_default();
            let user = UserInfo { name, uid, groups, extra: BTreeMap::new() };
            let token = token.into_bytes();
            match file.entries.iter_mut().find(|(t, _)| constant_time_eq(t, &token)) {
                Some(existing) => {
                    tracing::warn!(origin, line, "duplicate token in token file, the later line wins");
                    existing.1 = user;
                }
                None => file.entries.push((token, user)),
            }
        }
        Ok(file)
    }

    /// Number of distinct tokens loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token was loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The identity (with `system:authenticated` added) the token belongs to, if any.
    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        let presented = token.as_bytes();
        let mut found = None;
        // Every entry is compared, even after a match, so timing is independent of the position.
        for (stored, user) in &self.entries {
            if constant_time_eq(stored, presented) {
                found = Some(user);
            }
        }
        found.map(|u| u.clone().with_authenticated_group())
    }
}

/// Byte equality whose running time depends only on the lengths, not on where bytes differ.
fn constant_time_eq(stored: &[u8], presented: &[u8]) -> bool {
    let mut diff = u64::from(stored.len() != presented.len());
    for (i, a) in stored.iter().enumerate() {
        let b = presented.get(i).copied().unwrap_or(0);
        diff |= u64::from(a ^ b);
    }
    std::hint::black_box(diff) == 0
}

/// Splits one CSV record with RFC 4180 quoting (`""` inside quotes is a literal quote).
/// Error texts follow Go's `encoding/csv`, which kube uses to read this file.
fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("extraneous or missing \" in quoted-field"),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("extraneous or missing \" in quoted-field"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare \" in non-quoted-field"),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kube_token_file_shapes() {
        let text = "# comment\n\
                    \n\
                    tok1,alice,uid-1,\"dev,ops\"\n\
                    tok2,bob,uid-2\r\n\
                    \"tok,3\",\"carol \"\"c\"\"\",uid-3,single\n\
                    ,nobody,uid-0\n";
        let file = TokenFile::parse(text).expect("valid file");
        assert_eq!(file.len(), 3);

        let alice = file.authenticate("tok1").expect("alice");
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.uid, "uid-1");
        assert_eq!(alice.groups, vec!["dev", "ops", "system:authenticated"]);

        let bob = file.authenticate("tok2").expect("bob");
        assert_eq!((bob.name.as_str(), bob.uid.as_str()), ("bob", "uid-2"));
        assert_eq!(bob.groups, vec!["system:authenticated"]);

        let carol = file.authenticate("tok,3").expect("carol");
        assert_eq!(carol.name, "carol \"c\"");
        assert_eq!(carol.groups, vec!["single", "system:authenticated"]);

        for bad in ["", "tok", "tok11", "TOK1", "nobody"] {
            assert!(file.authenticate(bad).is_none(), "token {bad:?} must not authenticate");
        }
    }

    #[test]
    fn later_duplicate_wins() {
        let file = TokenFile::parse("t,first,1\nt,second,2\n").expect("valid");
        assert_eq!(file.len(), 1);
        assert_eq!(file.authenticate("t").map(|u| u.name), Some("second".to_string()));
    }

    #[test]
    fn malformed_lines_report_their_number() {
        let cases = [
            ("ok,a,1\ntoken,user\n", 2, "must have at least 3 columns (token, user name, user uid), found 2"),
            ("\"tok,a,1\n", 1, "extraneous or missing \" in quoted-field"),
            ("# c\n\"tok\"x,a,1\n", 2, "extraneous or missing \" in quoted-field"),
            ("to\"k,a,1\n", 1, "bare \" in non-quoted-field"),
        ];
        for (text, want_line, want_detail) in cases {
            match TokenFile::parse(text) {
                Err(AuthError::TokenFile { line, detail, .. }) => {
                    assert_eq!((line, detail.as_str()), (want_line, want_detail), "input {text:?}");
                }
                other => panic!("input {text:?}: expected a line error, got {other:?}"),
            }
        }
    }

    #[test]
    fn constant_time_eq_cases() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(constant_time_eq(b"", b""));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abc\0", b"abc"));
    }
}
