//! The string formats the CRD validator checks, keyed by the dash-less names go-openapi's
//! registry uses (`date-time` → `datetime`).
//!
//! Kubernetes strips every other format before validating, so an unknown format never fails;
//! the rarely used ones (isbn, creditcard, ssn) are accepted as-is rather than half-implemented.

use base64::Engine as _;
use regex::Regex;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

/// Formats apiextensions keeps in a CRD schema (names without dashes).
const SUPPORTED: [&str; 24] = [
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

/// Whether the validator checks this (dash-less) format at all.
pub(super) fn is_supported(format: &str) -> bool {
    SUPPORTED.contains(&format)
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("built-in format regex {pattern:?} is invalid: {e}"))
}

static UUID: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    [
        re(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"),
        re(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?3[0-9a-fA-F]{3}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"),
        re(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?4[0-9a-fA-F]{3}-?[89abAB][0-9a-fA-F]{3}-?[0-9a-fA-F]{12}$"),
        re(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?5[0-9a-fA-F]{3}-?[89abAB][0-9a-fA-F]{3}-?[0-9a-fA-F]{12}$"),
    ]
});
static MAC: LazyLock<Regex> = LazyLock::new(|| re(r"^([0-9A-Fa-f]{2}[:-]){5,19}[0-9A-Fa-f]{2}$|^([0-9A-Fa-f]{4}\.){2,9}[0-9A-Fa-f]{4}$"));
static HEXCOLOR: LazyLock<Regex> = LazyLock::new(|| re(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$"));
static RGBCOLOR: LazyLock<Regex> = LazyLock::new(|| {
    re(r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$")
});
static DURATION_PART: LazyLock<Regex> = LazyLock::new(|| re(r"(\d+)\s*([A-Za-zµ]+)"));
static GO_DURATION: LazyLock<Regex> = LazyLock::new(|| re(r"^[-+]?(\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)((\d+(\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h))*$|^[-+]?0$"));

/// Whether `s` is valid for a supported (dash-less) format.
pub(super) fn is_valid(format: &str, s: &str) -> bool {
    match format {
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(s),
        "email" => is_email(s),
        "hostname" => is_hostname(s),
        "ipv4" => s.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "mac" => MAC.is_match(s),
        "uuid" => UUID[0].is_match(s),
        "uuid3" => UUID[1].is_match(s),
        "uuid4" => UUID[2].is_match(s),
        "uuid5" => UUID[3].is_match(s),
        "hexcolor" => HEXCOLOR.is_match(s),
        "rgbcolor" => RGBCOLOR.is_match(s),
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "date" => s.len() == 10 && s.parse::<jiff::civil::Date>().is_ok(),
        "datetime" => is_date_time(s),
        "duration" => is_duration(s),
        _ => true,
    }
}

/// go-openapi's hostname rule: labels of letters, digits, symbols and inner dashes, ending in
/// an alphabetic top-level label; or a single label. Non-ASCII characters count as letters,
/// standing in for the `\p{L}`/`\p{S}` classes the crate's regex build lacks.
fn is_hostname(s: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || !c.is_ascii();
    let label = |l: &str| {
        let chars: Vec<char> = l.chars().collect();
        match (chars.first(), chars.last()) {
            (Some(&first), Some(&last)) => chars.len() <= 63 && word(first) && word(last) && chars.iter().all(|&c| word(c) || c == '-'),
            _ => false,
        }
    };
    if s.len() > 255 {
        return false;
    }
    match s.rsplit_once('.') {
        None => {
            let mut chars = s.chars();
            let first_ok = chars.next().is_some_and(word);
            let rest = chars.as_str();
            let rest = rest.strip_prefix('-').unwrap_or(rest);
            first_ok && rest.chars().count() <= 62 && rest.chars().all(word)
        }
        Some((labels, tld)) => {
            let tld_len = tld.chars().count();
            (2..=63).contains(&tld_len) && tld.chars().all(|c| c.is_ascii_alphabetic() || !c.is_ascii()) && labels.split('.').all(label)
        }
    }
}

fn is_request_uri(s: &str) -> bool {
    if s.starts_with('/') {
        return true;
    }
    match s.split_once(':') {
        Some((scheme, _)) => {
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

fn is_email(s: &str) -> bool {
    // net/mail also accepts `Name <addr>`; the bare address form is what schemas see in practice.
    let addr = match (s.find('<'), s.strip_suffix('>')) {
        (Some(open), Some(rest)) => &rest[open + 1..],
        _ => s,
    };
    match addr.rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !addr.contains(char::is_whitespace) && !domain.starts_with('.'),
        None => false,
    }
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else { return false };
    let Ok(bits) = bits.parse::<u8>() else { return false };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => bits <= 32,
        Ok(IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

fn is_date_time(s: &str) -> bool {
    // RFC 3339 with a `T`/`t`/space separator and a zone; jiff is strict about the zone part.
    s.len() >= 20 && s.parse::<jiff::Timestamp>().is_ok()
}

fn is_duration(s: &str) -> bool {
    if GO_DURATION.is_match(s) {
        return true;
    }
    const UNITS: [&[&str]; 8] =
        [&["ns", "nano"], &["us", "µs", "micro"], &["ms", "milli"], &["s", "sec"], &["m", "min"], &["h", "hr", "hour"], &["d", "day"], &["w", "wk", "week"]];
    DURATION_PART.captures_iter(s).any(|c| {
        let unit = c[2].to_lowercase();
        UNITS.iter().any(|variants| {
            let last = variants.len() - 1;
            variants.iter().enumerate().any(|(i, v)| (i == last && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_accept_and_reject() {
        let cases = [
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", true),
            ("uuid", "not-a-uuid", false),
            ("email", "a@example.com", true),
            ("email", "example.com", false),
            ("hostname", "my-host.example.com", true),
            ("hostname", "-bad", false),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "10.0.0.256", false),
            ("ipv6", "::1", true),
            ("cidr", "10.0.0.0/8", true),
            ("cidr", "10.0.0.0/33", false),
            ("byte", "aGVsbG8=", true),
            ("byte", "hello!", false),
            ("date", "2024-02-29", true),
            ("date", "2023-02-29", false),
            ("datetime", "2024-01-02T03:04:05Z", true),
            ("datetime", "2024-01-02", false),
            ("duration", "1h30m", true),
            ("duration", "3 days", true),
            ("duration", "soon", false),
            ("mac", "00:1a:2b:3c:4d:5e", true),
            ("hexcolor", "#ffF", true),
            ("bsonobjectid", "507f1f77bcf86cd799439011", true),
        ];
        for (format, value, ok) in cases {
            assert_eq!(is_valid(format, value), ok, "{format} {value}");
        }
    }
}
