//! Field selectors (`metadata.name=x,type!=Opaque`) and the field labels each kind supports.
//!
//! Parsing follows `k8s.io/apimachinery/pkg/fields`: terms split on unescaped commas, the first
//! operator in a term splits it, and values unescape `\\`, `\,` and `\=`. Which labels a kind
//! supports is kube's per-type field-label conversion, which each kind's strategy declares;
//! [`field_value`] answers `None` for the rest so the caller can reply `field label not supported: <label>`.

use super::SelectorError;
use serde_json::Value;

/// How a field requirement compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One ANDed term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The field label, e.g. `metadata.name`.
    pub field: String,
    /// Whether the field must equal the value or differ from it.
    pub op: FieldOp,
    /// The unescaped value.
    pub value: String,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

/// Splits on commas not preceded by a backslash, keeping escapes for [`unescape`].
fn split_terms(selector: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in selector.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            terms.push(&selector[start..i]);
            start = i + 1;
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits a term at the first operator; the left side has no escaping, so it cannot hide one.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    const OPERATORS: [(&str, FieldOp); 3] = [("!=", FieldOp::NotEquals), ("==", FieldOp::Equals), ("=", FieldOp::Equals)];
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        OPERATORS.iter().find(|(op, _)| rest.starts_with(op)).map(|(op, kind)| (&term[..i], *kind, &rest[op.len()..]))
    })
}

fn unescape(value: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError::InvalidEscape(format!("\\{c}")));
            }
            out.push(c);
            escaped = false;
        } else {
            match c {
                '\\' => escaped = true,
                ',' | '=' => return Err(SelectorError::UnescapedChar(c)),
                _ => out.push(c),
            }
        }
    }
    if escaped {
        return Err(SelectorError::InvalidEscape("\\".to_string()));
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses a field selector; terms come back sorted, as kube sorts them.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut terms = if selector.is_empty() { Vec::new() } else { split_terms(selector) };
        terms.sort_unstable();
        let mut requirements = Vec::new();
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let Some((field, op, value)) = split_term(term) else {
                return Err(SelectorError::FieldTerm { selector: selector.to_string(), term: term.to_string() });
            };
            requirements.push(FieldRequirement { field: field.to_string(), op, value: unescape(value)? });
        }
        Ok(Self { requirements })
    }

    /// The terms, so the caller can reject field labels the kind does not support.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether every term holds; `get` returns a field's value, and a missing field reads as "".
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let equal = get(&r.field).unwrap_or_default() == r.value;
            match r.op {
                FieldOp::Equals => equal,
                FieldOp::NotEquals => !equal,
            }
        })
    }
}

/// The string at a dotted path; absent or non-string fields read as "" like Go's zero values.
fn string_at(obj: &Value, path: &str) -> String {
    path.split('.').try_fold(obj, |v, key| v.get(key)).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Value of field label `field` of `obj`, or `None` when its kind does not support it.
/// `metadata.name` and `metadata.namespace` hold for every kind; `kind_path` maps the kind's own
/// labels to the dotted field path they read.
pub fn field_value<'f>(obj: &Value, field: &'f str, kind_path: impl FnOnce(&'f str) -> Option<&'f str>) -> Option<String> {
    if matches!(field, "metadata.name" | "metadata.namespace") {
        return Some(string_at(obj, field));
    }
    kind_path(field).map(|path| string_at(obj, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type Term<'a> = (&'a str, FieldOp, &'a str);

    #[test]
    fn parse_terms() {
        let cases: &[(&str, &[Term])] = &[
            ("", &[]),
            ("metadata.name=x", &[("metadata.name", FieldOp::Equals, "x")]),
            ("metadata.name==x", &[("metadata.name", FieldOp::Equals, "x")]),
            ("type!=Opaque,metadata.name=a", &[("metadata.name", FieldOp::Equals, "a"), ("type", FieldOp::NotEquals, "Opaque")]),
            ("a=x\\,y\\=z\\\\", &[("a", FieldOp::Equals, "x,y=z\\")]),
            ("a=", &[("a", FieldOp::Equals, "")]),
            ("a=b,,", &[("a", FieldOp::Equals, "b")]),
        ];
        for (input, want) in cases {
            let got = FieldSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            let got: Vec<_> = got.requirements().iter().map(|r| (r.field.as_str(), r.op, r.value.as_str())).collect();
            assert_eq!(got, *want, "{input}");
        }
    }

    #[test]
    fn parse_errors() {
        let cases = [
            ("foo", "invalid selector: 'foo'; can't understand 'foo'"),
            ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
            ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
            ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
            ("a=b=c", "invalid field selector: unescaped character in value: ="),
        ];
        for (input, want) in cases {
            assert_eq!(FieldSelector::parse(input).map(|_| ()).expect_err(input).to_string(), want);
        }
    }

    #[test]
    fn matching() {
        let get = |f: &str| match f {
            "metadata.name" => Some("c1".to_string()),
            _ => None,
        };
        let cases = [("metadata.name=c1", true), ("metadata.name=c2", false), ("metadata.name!=c2", true), ("spec.x=", true), ("spec.x!=", false), ("", true)];
        for (input, want) in cases {
            assert_eq!(FieldSelector::parse(input).expect("parses").matches(get), want, "{input}");
        }
    }

    #[test]
    fn generic_and_kind_labels() {
        let obj = json!({"metadata": {"name": "e", "namespace": "ns"}, "source": {"component": "kubelet"}});
        let kind_path = |f: &str| (f == "source").then_some("source.component");
        let cases = [("metadata.name", Some("e")), ("metadata.namespace", Some("ns")), ("source", Some("kubelet")), ("spec.foo", None)];
        for (field, want) in cases {
            assert_eq!(field_value(&obj, field, kind_path).as_deref(), want, "{field}");
        }
    }
}
