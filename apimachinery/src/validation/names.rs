//! String-format checks (names, label keys and values, config keys) with kube's exact wording.
//!
//! Each returns the list of problems as kube's `util/validation` does, so callers can turn each
//! message into one `FieldError` exactly like kube-apiserver.

use regex::Regex;
use std::sync::LazyLock;

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MSG: &str =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_MSG: &str =
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const CONFIG_MAP_KEY_FMT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_MAP_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";

const DNS1123_LABEL_MAX: usize = 63;
const DNS1123_SUBDOMAIN_MAX: usize = 253;
const QUALIFIED_NAME_MAX: usize = 63;
const LABEL_VALUE_MAX: usize = 63;

fn dns1123_subdomain_fmt() -> String {
    format!("{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*")
}

fn label_value_fmt() -> String {
    format!("({QUALIFIED_NAME_FMT})?")
}

fn anchored(fmt: &str) -> Regex {
    // The formats are compile-time constants, so failing here is a programming error.
    Regex::new(&format!("^{fmt}$")).expect("validation regex compiles")
}

static DNS1123_LABEL: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_LABEL_FMT));
static DNS1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| anchored(&dns1123_subdomain_fmt()));
static QUALIFIED_NAME: LazyLock<Regex> = LazyLock::new(|| anchored(QUALIFIED_NAME_FMT));
static LABEL_VALUE: LazyLock<Regex> = LazyLock::new(|| anchored(&label_value_fmt()));
static CONFIG_MAP_KEY: LazyLock<Regex> = LazyLock::new(|| anchored(CONFIG_MAP_KEY_FMT));

/// `must be no more than N characters`.
fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// kube's `RegexError`: the message, examples and the regex, with its peculiar double spaces.
fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{fmt}')");
    }
    let examples = examples.iter().map(|e| format!("'{e}', ")).collect::<Vec<_>>().join(" or ");
    format!("{msg} (e.g. {examples}regex used for validation is '{fmt}')")
}

/// RFC 1123 label (namespace names): at most 63 lower-case alphanumerics or '-'.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        errs.push(max_len_error(DNS1123_LABEL_MAX));
    }
    if !DNS1123_LABEL.is_match(value) {
        if DNS1123_SUBDOMAIN.is_match(value) {
            // A valid subdomain that is not a label can only be failing on its dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, &["my-name", "123-abc"]));
        }
    }
    errs
}

/// RFC 1123 subdomain (most object names): at most 253 characters of dot-joined labels.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    if !DNS1123_SUBDOMAIN.is_match(value) {
        errs.push(regex_error(DNS1123_SUBDOMAIN_MSG, &dns1123_subdomain_fmt(), &["example.com"]));
    }
    errs
}

/// Qualified name (label keys, annotation keys, finalizers): `[prefix/]name`.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(is_dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            )]
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX {
        errs.push(format!("name part {}", max_len_error(QUALIFIED_NAME_MAX)));
    }
    if !QUALIFIED_NAME.is_match(name) {
        errs.push(format!("name part {}", regex_error(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])));
    }
    errs
}

/// Label value: empty, or up to 63 alphanumerics, '-', '_' or '.' starting and ending alphanumeric.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > LABEL_VALUE_MAX {
        errs.push(max_len_error(LABEL_VALUE_MAX));
    }
    if !LABEL_VALUE.is_match(value) {
        errs.push(regex_error(LABEL_VALUE_MSG, &label_value_fmt(), &["MyValue", "my_value", "12345"]));
    }
    errs
}

/// Key of a ConfigMap or Secret: file-name-safe and not a relative directory.
pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX));
    }
    if !CONFIG_MAP_KEY.is_match(value) {
        errs.push(regex_error(CONFIG_MAP_KEY_MSG, CONFIG_MAP_KEY_FMT, &["key.name", "KEY_NAME", "key-name"]));
    }
    // Keys become file names when mounted, so they must not climb out of the volume.
    if value == "." {
        errs.push("must not be '.'".to_string());
    } else if value == ".." {
        errs.push("must not be '..'".to_string());
    } else if value.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// Name usable as one URL path segment (RBAC objects); `prefix` relaxes it for generateName.
pub fn is_valid_path_segment_name(value: &str, prefix: bool) -> Vec<String> {
    if !prefix {
        for bad in [".", ".."] {
            if value == bad {
                return vec![format!("may not be '{bad}'")];
            }
        }
    }
    ["/", "%"].iter().filter(|bad| value.contains(**bad)).map(|bad| format!("may not contain '{bad}'")).collect()
}

/// Problems with a resource quantity string (`500m`, `1Gi`, `2e3`), in `resource.ParseQuantity`'s
/// words; `non_negative` adds kube's sign rule for requests and limits.
pub fn quantity_errors(value: &str, non_negative: bool) -> Vec<String> {
    match parse_quantity_sign(value) {
        Err(msg) => vec![msg.to_string()],
        Ok(true) if non_negative => vec!["must be greater than or equal to 0".to_string()],
        Ok(_) => Vec::new(),
    }
}

/// Parses a quantity far enough to validate it; returns whether it is negative (and non-zero).
fn parse_quantity_sign(value: &str) -> Result<bool, &'static str> {
    const FORMAT: &str = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
    let (negative, rest) = match value.as_bytes().first() {
        Some(b'-') => (true, &value[1..]),
        Some(b'+') => (false, &value[1..]),
        Some(_) => (false, value),
        None => return Err(FORMAT),
    };
    let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_end);
    if number.is_empty() {
        return Err(FORMAT);
    }
    if number.matches('.').count() > 1 || number == "." {
        return Err("unable to parse numeric part of quantity");
    }
    let valid_suffix = matches!(suffix, "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E")
        || suffix
            .strip_prefix(['e', 'E'])
            .map(|exp| {
                let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            })
            .unwrap_or(false);
    if !valid_suffix {
        let format_ok = suffix.trim_start_matches(|c: char| "eEinumkKMGTP".contains(c)).trim_start_matches(['+', '-']).bytes().all(|b| b.is_ascii_digit());
        return Err(if format_ok { "unable to parse quantity's suffix" } else { FORMAT });
    }
    let nonzero = number.bytes().any(|b| matches!(b, b'1'..=b'9'));
    Ok(negative && nonzero)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBDOMAIN_REGEX_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL_REGEX_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

    #[test]
    fn dns1123_subdomain() {
        let long = "a".repeat(254);
        let cases: &[(&str, &[&str])] = &[
            ("example.com", &[]),
            ("a", &[]),
            ("Web", &[SUBDOMAIN_REGEX_MSG]),
            ("-a", &[SUBDOMAIN_REGEX_MSG]),
            ("a..b", &[SUBDOMAIN_REGEX_MSG]),
            ("", &[SUBDOMAIN_REGEX_MSG]),
            (&long, &["must be no more than 253 characters"]),
        ];
        for (input, want) in cases {
            assert_eq!(is_dns1123_subdomain(input), *want, "{input}");
        }
    }

    #[test]
    fn dns1123_label() {
        let long = "a".repeat(64);
        let cases: &[(&str, &[&str])] =
            &[("my-ns", &[]), ("a.b", &["must not contain dots"]), ("UPPER", &[LABEL_REGEX_MSG]), (&long, &["must be no more than 63 characters"])];
        for (input, want) in cases {
            assert_eq!(is_dns1123_label(input), *want, "{input}");
        }
    }

    #[test]
    fn qualified_name() {
        let cases: &[(&str, Vec<String>)] = &[
            ("app", vec![]),
            ("example.com/My_Name", vec![]),
            ("bad key", vec![NAME_PART_MSG.to_string()]),
            ("/x", vec!["prefix part must be non-empty".to_string()]),
            ("x/", vec!["name part must be non-empty".to_string(), NAME_PART_MSG.to_string()]),
            ("Ex.com/x", vec![format!("prefix part {SUBDOMAIN_REGEX_MSG}")]),
            ("a/b/c", vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]),
            (&"n".repeat(64), vec!["name part must be no more than 63 characters".to_string()]),
        ];
        for (input, want) in cases {
            assert_eq!(&is_qualified_name(input), want, "{input}");
        }
    }

    #[test]
    fn label_value() {
        let msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
        assert!(is_valid_label_value("").is_empty());
        assert!(is_valid_label_value("v1.2_x").is_empty());
        assert_eq!(is_valid_label_value("a b"), vec![msg]);
        assert_eq!(is_valid_label_value(&"v".repeat(64)), vec!["must be no more than 63 characters"]);
    }

    #[test]
    fn config_map_key() {
        let regex_msg = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
        let cases: &[(&str, &[&str])] = &[
            ("app.properties", &[]),
            ("a/b", &[regex_msg]),
            ("..", &["must not be '..'"]),
            (".", &["must not be '.'"]),
            ("..data", &["must not start with '..'"]),
        ];
        for (input, want) in cases {
            assert_eq!(is_config_map_key(input), *want, "{input}");
        }
    }

    #[test]
    fn path_segment_name() {
        assert!(is_valid_path_segment_name("system:admin", false).is_empty());
        assert_eq!(is_valid_path_segment_name("..", false), vec!["may not be '..'"]);
        assert!(is_valid_path_segment_name("..", true).is_empty());
        assert_eq!(is_valid_path_segment_name("a/b%", false), vec!["may not contain '/'", "may not contain '%'"]);
    }

    #[test]
    fn quantities() {
        let cases: &[(&str, bool, &[&str])] = &[
            ("500m", true, &[]),
            ("1Gi", true, &[]),
            ("2e3", true, &[]),
            ("0", true, &[]),
            ("-0", true, &[]),
            ("-1", true, &["must be greater than or equal to 0"]),
            ("-1", false, &[]),
            ("1.2.3", true, &["unable to parse numeric part of quantity"]),
            ("1Zi", true, &["quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]),
            ("1ii", true, &["unable to parse quantity's suffix"]),
            ("", true, &["quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"]),
        ];
        for (input, non_negative, want) in cases {
            assert_eq!(quantity_errors(input, *non_negative), *want, "{input}");
        }
    }
}
