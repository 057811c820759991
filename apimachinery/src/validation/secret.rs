//! Secret payload handling: Go-compatible base64 and the `stringData` fold.
//!
//! kube-apiserver decodes `data` with Go's `encoding/base64`, which skips newlines, tolerates
//! non-zero trailing bits and reports the offending byte offset. Users see those offsets, so the
//! decoder here follows Go rather than the stricter `base64` crate.

use crate::status::FieldError;
use base64::Engine;
use serde_json::Value;

/// What users see instead of the secret value in error messages.
const REDACTED: &str = "<redacted>";

fn sextet(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes standard padded base64 as Go's `base64.StdEncoding` does; the error is the input
/// byte offset Go reports in `illegal base64 data at input byte N`.
pub(super) fn decode_go_base64(src: &str) -> Result<Vec<u8>, usize> {
    let src = src.as_bytes();
    let skip_newlines = |mut i: usize| {
        while i < src.len() && (src[i] == b'\n' || src[i] == b'\r') {
            i += 1;
        }
        i
    };
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    loop {
        let mut quantum = [0u32; 4];
        let mut j = 0;
        let mut finished = false;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                // Padding is mandatory, so input ending mid-quantum is corrupt where it began.
                return Err(si - j);
            }
            let c = src[si];
            si += 1;
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if let Some(v) = sextet(c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if c != b'=' {
                return Err(si - 1);
            }
            match j {
                0 | 1 => return Err(si - 1),
                2 => {
                    si = skip_newlines(si);
                    if si == src.len() {
                        return Err(src.len());
                    }
                    if src[si] != b'=' {
                        return Err(si - 1);
                    }
                    si += 1;
                }
                _ => {}
            }
            si = skip_newlines(si);
            if si < src.len() {
                return Err(si);
            }
            finished = true;
            break;
        }
        let bits = (quantum[0] << 18) | (quantum[1] << 12) | (quantum[2] << 6) | quantum[3];
        let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        // j sextets carry j-1 whole bytes; Go ignores the leftover trailing bits.
        out.extend_from_slice(&bytes[..j - 1]);
        if finished {
            return Ok(out);
        }
    }
}

/// Prepares a Secret for validation and storage as kube's v1 conversion and defaulting do:
/// re-encodes `data` canonically, merges `stringData` over it (base64-encoding it), drops
/// `stringData` and defaults `type` to `Opaque`. Undecodable `data` values are reported.
pub fn normalize_secret(obj: &mut Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = obj.as_object_mut() else { return errs };
    let engine = base64::engine::general_purpose::STANDARD;

    let mut data = match map.remove("data") {
        Some(Value::Object(data)) => data,
        _ => serde_json::Map::new(),
    };
    for (key, value) in data.iter_mut() {
        let Some(text) = value.as_str() else { continue };
        match decode_go_base64(text) {
            Ok(bytes) => *value = Value::String(engine.encode(bytes)),
            Err(at) => errs.push(FieldError::invalid(format!("data[{key}]"), REDACTED, format!("illegal base64 data at input byte {at}"))),
        }
    }
    if let Some(Value::Object(string_data)) = map.remove("stringData") {
        for (key, value) in string_data {
            let text = value.as_str().unwrap_or("");
            data.insert(key, Value::String(engine.encode(text)));
        }
    }
    if !data.is_empty() {
        map.insert("data".to_string(), Value::Object(data));
    }
    if map.get("type").and_then(Value::as_str).unwrap_or("").is_empty() {
        map.insert("type".to_string(), Value::String("Opaque".to_string()));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_base64_offsets() {
        let cases: &[(&str, Result<&[u8], usize>)] = &[
            ("", Ok(b"")),
            ("aGk=", Ok(b"hi")),
            ("aGVsbG8=", Ok(b"hello")),
            ("aGVs\nbG8=", Ok(b"hello")),
            ("aGl=", Ok(b"hi")), // non-zero trailing bits are tolerated, like Go
            ("abc", Err(0)),
            ("aGVsbG8", Err(4)),
            ("aGk*", Err(3)),
            ("a===", Err(1)),
            ("aG=", Err(3)),
            ("aG=x", Err(2)),
            ("aGk=aGk=", Err(4)),
            ("!!!!", Err(0)),
        ];
        for (input, want) in cases {
            assert_eq!(decode_go_base64(input), want.map(<[u8]>::to_vec), "{input:?}");
        }
    }

    #[test]
    fn folds_string_data_and_defaults_type() {
        let mut s = json!({"metadata": {"name": "s"}, "data": {"a": "aGk=", "b": "eA=="}, "stringData": {"b": "bye"}});
        assert!(normalize_secret(&mut s).is_empty());
        assert_eq!(s, json!({"metadata": {"name": "s"}, "data": {"a": "aGk=", "b": "Ynll"}, "type": "Opaque"}));
    }

    #[test]
    fn keeps_explicit_type_and_reports_bad_base64() {
        let mut s = json!({"type": "kubernetes.io/tls", "data": {"tls.crt": "abc"}});
        let errs = normalize_secret(&mut s);
        assert_eq!(
            errs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["data[tls.crt]: Invalid value: \"<redacted>\": illegal base64 data at input byte 0"]
        );
        assert_eq!(s["type"], "kubernetes.io/tls");
    }

    #[test]
    fn canonicalises_data() {
        let mut s = json!({"data": {"k": "aGVs\nbG8="}});
        normalize_secret(&mut s);
        assert_eq!(s["data"]["k"], "aGVsbG8=");
    }
}
