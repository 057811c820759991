//! Static bearer tokens (`--token-auth-file`), in kube's CSV format:
//! `token,user,uid[,"group1,group2"]`.

use std::collections::BTreeMap;
use std::path::Path;

use super::{AuthError, UserInfo};

/// Tokens loaded from a file.
#[derive(Debug, Default)]
pub struct TokenFile {
    entries: Vec<(Vec<u8>, UserInfo)>,
}

/// Splits one CSV line, honouring double quotes (`""` is a literal quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.is_empty() => quoted = true,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    fields.push(cur);
    Ok(fields)
}

/// Compares without an early exit, so timing does not reveal how much of a token matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

impl TokenFile {
    /// Reads a token file.
    pub fn load(path: &Path) -> Result<TokenFile, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Io { path: path.display().to_string(), source })?;
        TokenFile::parse(&text)
    }

    /// Parses token file contents; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<TokenFile, AuthError> {
        let mut entries = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: &str| AuthError::TokenFile { line: i + 1, message: message.to_string() };
            let f = csv_fields(line).map_err(|m| err(&m))?;
            if f.len() < 3 {
                return Err(err("expected at least 3 columns: token,user,uid"));
            }
            if f[0].is_empty() || f[1].is_empty() {
                return Err(err("token and user must not be empty"));
            }
            let groups = f.get(3).map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(String::from).collect()).unwrap_or_default();
            let user = UserInfo { name: f[1].clone(), uid: f[2].clone(), groups, extra: BTreeMap::new() }.authenticated();
            entries.push((f[0].as_bytes().to_vec(), user));
        }
        Ok(TokenFile { entries })
    }

    /// The user a token belongs to.
    pub fn authenticate(&self, token: &str) -> Option<UserInfo> {
        let mut found = None;
        // Check every entry so the time taken does not depend on which one matched.
        for (t, user) in &self.entries {
            if constant_time_eq(t, token.as_bytes()) && found.is_none() {
                found = Some(user.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kube_format() {
        let f = TokenFile::parse("# admins\nt1,alice,1,\"dev,ops\"\n\nt2,bob,2\n").expect("parses");
        let a = f.authenticate("t1").expect("alice");
        assert_eq!(a.name, "alice");
        assert_eq!(a.groups, vec!["dev", "ops", "system:authenticated"]);
        assert_eq!(f.authenticate("t2").expect("bob").groups, vec!["system:authenticated"]);
        assert!(f.authenticate("t3").is_none());
        assert!(f.authenticate("t").is_none());
    }

    #[test]
    fn rejects_malformed_lines() {
        let e = TokenFile::parse("ok,u,1\nbad,line\n").expect_err("fails");
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(TokenFile::parse("t,u,1,\"open\n").is_err());
    }
}
