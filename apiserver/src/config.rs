//! What every binary's configuration shares: the YAML file (read and parsed the same way
//! everywhere, so every binary names the file and the problem alike), durations written as kube
//! flags write them, and the error that makes a binary exit with status 64.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

/// A configuration that cannot be used; binaries exit with status 64 on these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("reading config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// The config file is not valid YAML for this binary (unknown keys included).
    #[error("parsing config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's account of the problem.
        message: String,
    },
    /// A setting without a default was given neither as a flag nor in the file.
    #[error("missing required setting {0}")]
    Missing(&'static str),
    /// A setting has a value that cannot work.
    #[error("invalid setting {setting}: {message}")]
    Invalid {
        /// The flag naming the setting.
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// Reads the config file at `path`, or the empty configuration when there is none.
pub fn load<T: DeserializeOwned + Default>(path: Option<&Path>) -> Result<T, ConfigError> {
    let Some(path) = path else { return Ok(T::default()) };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    parse(&text, path)
}

/// Parses the text of the config file `path`.
pub fn parse<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })
}

/// Why a duration flag or setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was given.
    #[error("empty duration")]
    Empty,
    /// Not numbers with units.
    #[error("{0:?} is not a duration such as 10s, 500ms or 1m30s")]
    Malformed(String),
    /// More than a duration holds.
    #[error("{0:?} is too long")]
    TooLong(String),
    /// Zero.
    #[error("{0:?}: must be longer than zero")]
    Zero(String),
}

/// Parses a duration as kube flags write it (`10s`, `500ms`, `1m30s`, `1h`); zero is refused
/// because a limit of nothing would close every connection, and a wait of nothing (the
/// plugins' `--timeout`) would give up before it began.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(DurationError::Empty);
    }
    let malformed = || DurationError::Malformed(text.to_string());
    let too_long = || DurationError::TooLong(text.to_string());
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| malformed())?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let scale = match &rest[..unit] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(malformed()),
        };
        rest = &rest[unit..];
        total += scale.checked_mul(u32::try_from(number).map_err(|_| too_long())?).ok_or_else(too_long)?;
    }
    if total.is_zero() {
        return Err(DurationError::Zero(text.to_string()));
    }
    Ok(total)
}

/// Reads an optional duration from a config file (same syntax as the flags).
pub fn deserialize_duration<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text: Option<String> = serde::Deserialize::deserialize(de)?;
    text.map(|t| parse_duration(&t).map_err(serde::de::Error::custom)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_kube_writes_them() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "10", "s", "1.5s", "-1s", "0s", "10 s", "1d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Sample {
        #[serde(default, deserialize_with = "deserialize_duration")]
        idle_timeout: Option<Duration>,
    }

    #[test]
    fn files_name_themselves_in_errors() {
        let path = Path::new("/etc/kcp/sample.yaml");
        assert_eq!(parse::<Sample>("idleTimeout: 1m\n", path).expect("parses").idle_timeout, Some(Duration::from_secs(60)));
        for bad in ["bogus: 1\n", "idleTimeout: 0s\n", "idleTimeout: [1]\n"] {
            let e = parse::<Sample>(bad, path).expect_err(bad);
            assert!(matches!(&e, ConfigError::Parse { path: p, .. } if p == path), "{e:?}");
        }
        assert!(load::<Sample>(None).expect("no file").idle_timeout.is_none());
        let missing = load::<Sample>(Some(Path::new("/nonexistent/kcp.yaml"))).expect_err("unreadable");
        assert_eq!(missing.to_string(), "reading config file /nonexistent/kcp.yaml");
    }
}
