//! Client-certificate subjects with one `O` per group.
//!
//! rcgen 0.14 keeps a single value per attribute type in a `DistinguishedName` (rustls/rcgen#81),
//! but Kubernetes reads every `O` attribute as a group, so `system:masters` plus a second group
//! cannot be expressed through rcgen. A client certificate is therefore issued by rcgen first;
//! this module then swaps its subject for a Name encoded here (`O=…, …, CN=user`, the order Go's
//! `pkix.Name` writes) and signs the new to-be-signed part again with the same CA key and
//! algorithm. Only rcgen's own well-formed output is taken apart, with a minimal DER walker.

use base64::Engine as _;
use rcgen::{KeyPair, SigningKey as _};

use super::PkiError;

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTF8_STRING: u8 = 0x0c;
const BIT_STRING: u8 = 0x03;
/// `[0] EXPLICIT Version`, present in every v3 certificate.
const VERSION: u8 = 0xa0;
/// id-at-commonName (2.5.4.3) and id-at-organizationName (2.5.4.10), DER-encoded.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

/// Re-issues `cert_der` (signed by `ca_key`) with subject `O=orgs…, CN=cn`; returns it as PEM.
pub(super) fn replace_subject(cert_der: &[u8], cn: &str, orgs: &[String], ca_key: &KeyPair) -> Result<String, PkiError> {
    let (cert, _) = Tlv::split(cert_der, SEQUENCE)?;
    let (tbs, rest) = Tlv::split(cert.content, SEQUENCE)?;
    let (signature_algorithm, _) = Tlv::split(rest, SEQUENCE)?;

    // Fields before the subject: version (v3), serial, signature algorithm, issuer, validity.
    let mut fields = tbs.content;
    let mut before_subject = Vec::new();
    let leading = if fields.first() == Some(&VERSION) { 5 } else { 4 };
    for _ in 0..leading {
        let (field, rest) = Tlv::split_any(fields)?;
        before_subject.extend_from_slice(field.whole);
        fields = rest;
    }
    let (_old_subject, after_subject) = Tlv::split(fields, SEQUENCE)?;

    let new_tbs = tlv(SEQUENCE, &[before_subject.as_slice(), &name(cn, orgs), after_subject].concat());
    let signature = ca_key.sign(&new_tbs)?;
    let signature_bits = tlv(BIT_STRING, &[&[0u8][..], &signature].concat());
    let der = tlv(SEQUENCE, &[new_tbs.as_slice(), signature_algorithm.whole, &signature_bits].concat());
    Ok(pem_certificate(&der))
}

/// An X.501 Name with one single-valued RDN per organization, then the common name.
fn name(cn: &str, orgs: &[String]) -> Vec<u8> {
    let rdn = |oid: &[u8], value: &str| {
        let attribute = tlv(SEQUENCE, &[tlv(OID, oid), tlv(UTF8_STRING, value.as_bytes())].concat());
        tlv(SET, &attribute)
    };
    let rdns: Vec<u8> = orgs.iter().map(|o| rdn(ORGANIZATION, o)).chain(std::iter::once(rdn(COMMON_NAME, cn))).flatten().collect();
    tlv(SEQUENCE, &rdns)
}

/// One DER element: its full encoding and its content.
struct Tlv<'a> {
    whole: &'a [u8],
    content: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Splits the first element off `input`, which must carry `tag`.
    fn split(input: &'a [u8], tag: u8) -> Result<(Self, &'a [u8]), PkiError> {
        match input.first() {
            Some(&t) if t == tag => Self::split_any(input),
            _ => Err(PkiError::Der("unexpected element")),
        }
    }

    /// Splits the first element off `input`, whatever its tag.
    fn split_any(input: &'a [u8]) -> Result<(Self, &'a [u8]), PkiError> {
        let first_len = *input.get(1).ok_or(PkiError::Der("truncated header"))?;
        let (header, len) = if first_len < 0x80 {
            (2, usize::from(first_len))
        } else {
            let n = usize::from(first_len & 0x7f);
            let bytes = input.get(2..2 + n).filter(|_| (1..=4).contains(&n)).ok_or(PkiError::Der("bad length"))?;
            (2 + n, bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)))
        };
        let end = header.checked_add(len).filter(|end| *end <= input.len()).ok_or(PkiError::Der("truncated element"))?;
        Ok((Self { whole: &input[..end], content: &input[header..end] }, &input[end..]))
    }
}

/// Encodes one DER element with a definite, minimal length.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let significant = &bytes[bytes.iter().take_while(|b| **b == 0).count()..];
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// PEM armour for a DER certificate, 64 base64 characters per line.
fn pem_certificate(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 70_000] {
            let content = vec![7u8; len];
            let encoded = tlv(SEQUENCE, &content);
            let (parsed, rest) = Tlv::split(&encoded, SEQUENCE).expect("own encoding parses");
            assert_eq!((parsed.content.len(), rest.len(), parsed.whole.len()), (len, 0, encoded.len()), "len {len}");
        }
    }

    #[test]
    fn rejects_truncated_or_mistagged_der() {
        let good = tlv(SEQUENCE, &[1, 2, 3]);
        for (name, input) in [
            ("empty", &[][..]),
            ("header only", &good[..1]),
            ("short content", &good[..4]),
            ("long form without bytes", &[SEQUENCE, 0x82, 0x01][..]),
            ("wrong tag", &tlv(SET, &[1])[..]),
        ] {
            assert!(Tlv::split(input, SEQUENCE).is_err(), "{name}");
        }
    }
}
