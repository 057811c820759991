//! The string formats the Kubernetes schema validator checks.

fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

fn is_ipv6(s: &str) -> bool {
    s.parse::<std::net::Ipv6Addr>().is_ok()
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !l.starts_with('-') && !l.ends_with('-')
        })
}

fn is_duration(s: &str) -> bool {
    let re = regex::Regex::new(r"^[-+]?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$").expect("literal regex");
    s == "0" || re.is_match(s)
}

/// True when `s` has format `f`; unknown formats accept everything, as kube does.
pub fn matches(f: &str, s: &str) -> bool {
    match f {
        "date-time" | "datetime" => s.parse::<jiff::Timestamp>().is_ok(),
        "date" => s.parse::<jiff::civil::Date>().is_ok(),
        "uuid" => uuid::Uuid::parse_str(s).is_ok() && s.len() == 36,
        "email" => s.split_once('@').is_some_and(|(l, d)| !l.is_empty() && is_hostname(d)),
        "hostname" => is_hostname(s),
        "ipv4" => is_ipv4(s),
        "ipv6" => is_ipv6(s),
        "cidr" => s.split_once('/').is_some_and(|(ip, bits)| (is_ipv4(ip) || is_ipv6(ip)) && bits.parse::<u8>().is_ok()),
        "byte" => base64::Engine::decode(&base64::engine::general_purpose::STANDARD, s).is_ok(),
        "duration" => is_duration(s),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert!(super::matches("date-time", "2026-11-24T12:00:00Z"));
        assert!(!super::matches("date-time", "yesterday"));
        assert!(super::matches("email", "a@example.com"));
        assert!(!super::matches("ipv4", "1.2.3"));
        assert!(super::matches("duration", "1h30m"));
        assert!(super::matches("whatever", "x"));
    }
}
