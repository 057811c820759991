//! Label and field selectors, parsed and matched as Kubernetes does.

use serde_json::{Map, Value};

/// A selector that could not be parsed; the message is kube's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<(String, Op)>,
}

fn valid_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty() && p.len() <= 253 && p.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    });
    name_ok && prefix_ok
}

fn valid_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

impl LabelSelector {
    /// Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
    pub fn parse(s: &str) -> Result<LabelSelector, SelectorError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector { reqs });
        }
        for part in split_top(s) {
            let p = part.trim();
            if p.is_empty() {
                return Err(SelectorError(format!("unable to parse requirement: found '', expected: identifier in {s:?}")));
            }
            let (key, op) = if let Some(k) = p.strip_prefix('!') {
                (k.trim().to_string(), Op::NotExists)
            } else if let Some((k, v)) = p.split_once("!=") {
                (k.trim().to_string(), Op::NotEq(v.trim().to_string()))
            } else if let Some((k, v)) = p.split_once("==") {
                (k.trim().to_string(), Op::Eq(v.trim().to_string()))
            } else if let Some((k, v)) = p.split_once('=') {
                (k.trim().to_string(), Op::Eq(v.trim().to_string()))
            } else if let Some((k, rest)) = p.split_once(char::is_whitespace) {
                let rest = rest.trim();
                let (word, list) = rest.split_once('(').ok_or_else(|| SelectorError(format!("unable to parse requirement: found '{rest}', expected: '=', '!=', '==', 'in', notin'")))?;
                let list = list.strip_suffix(')').ok_or_else(|| SelectorError(format!("unable to parse requirement: found '{list}', expected: ')'")))?;
                let values: Vec<String> = list.split(',').map(|v| v.trim().to_string()).collect();
                match word.trim() {
                    "in" => (k.trim().to_string(), Op::In(values)),
                    "notin" => (k.trim().to_string(), Op::NotIn(values)),
                    other => return Err(SelectorError(format!("unable to parse requirement: found '{other}', expected: 'in', 'notin'"))),
                }
            } else {
                (p.to_string(), Op::Exists)
            };
            if !valid_key(&key) {
                return Err(SelectorError(format!("unable to parse requirement: invalid label key \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")));
            }
            let values: Vec<&String> = match &op {
                Op::Eq(v) | Op::NotEq(v) => vec![v],
                Op::In(vs) | Op::NotIn(vs) => vs.iter().collect(),
                _ => vec![],
            };
            if let Some(bad) = values.iter().find(|v| !valid_value(v)) {
                return Err(SelectorError(format!("unable to parse requirement: values[0][{key}]: Invalid value: \"{bad}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character")));
            }
            reqs.push((key, op));
        }
        Ok(LabelSelector { reqs })
    }

    /// A metav1.LabelSelector (`matchLabels`, `matchExpressions`).
    pub fn from_json(v: &Value) -> Result<LabelSelector, SelectorError> {
        let mut reqs = Vec::new();
        if let Some(m) = v["matchLabels"].as_object() {
            for (k, val) in m {
                reqs.push((k.clone(), Op::Eq(val.as_str().unwrap_or_default().to_string())));
            }
        }
        for e in v["matchExpressions"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let key = e["key"].as_str().unwrap_or_default().to_string();
            let values: Vec<String> = e["values"].as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect()).unwrap_or_default();
            let op = match e["operator"].as_str().unwrap_or_default() {
                "In" => Op::In(values),
                "NotIn" => Op::NotIn(values),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::NotExists,
                other => return Err(SelectorError(format!("{other:?} is not a valid label selector operator"))),
            };
            reqs.push((key, op));
        }
        Ok(LabelSelector { reqs })
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// True when the labels satisfy every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.reqs.iter().all(|(k, op)| {
            let v = labels.get(k).and_then(Value::as_str);
            match op {
                Op::Eq(want) => v == Some(want.as_str()),
                Op::NotEq(want) => v != Some(want.as_str()),
                Op::In(vs) => v.is_some_and(|v| vs.iter().any(|x| x == v)),
                Op::NotIn(vs) => v.is_none_or(|v| !vs.iter().any(|x| x == v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
            }
        })
    }
}

/// A parsed field selector (`a=b,c!=d`); empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    reqs: Vec<(String, bool, String)>,
}

/// Splits on unescaped `sep` and unescapes `\,`, `\=`, `\\`.
fn split_escaped(s: &str, sep: char) -> Vec<String> {
    let (mut out, mut cur, mut esc) = (Vec::new(), String::new(), false);
    for c in s.chars() {
        if esc {
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

impl FieldSelector {
    /// Parses `metadata.name=x,type!=y`.
    pub fn parse(s: &str) -> Result<FieldSelector, SelectorError> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(FieldSelector { reqs });
        }
        for part in split_escaped(s, ',') {
            let (field, neg, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(SelectorError(format!("invalid selector: '{s}'; can't understand '{part}'")));
            };
            reqs.push((field.trim().to_string(), neg, value.trim().to_string()));
        }
        Ok(FieldSelector { reqs })
    }

    /// The field labels the selector uses.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.reqs.iter().map(|(f, _, _)| f.as_str())
    }

    /// True when every requirement holds for the values `get` returns.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.reqs.iter().all(|(f, neg, want)| {
            let have = get(f).unwrap_or_default();
            (have == *want) != *neg
        })
    }
}

/// Field labels a kind supports beyond `metadata.name` and `metadata.namespace`.
fn extra_fields(group: &str, kind: &str) -> &'static [&'static str] {
    match (group, kind) {
        ("", "Secret") => &["type"],
        ("", "Namespace") => &["status.phase"],
        ("", "Event") => &[
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
            "reason", "reportingComponent", "source", "type",
        ],
        ("events.k8s.io", "Event") => &[
            "regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid", "regarding.apiVersion",
            "regarding.resourceVersion", "regarding.fieldPath", "reason", "reportingController", "type",
        ],
        _ => &[],
    }
}

/// True when `field` is a supported field label of the kind.
pub fn field_supported(group: &str, kind: &str, field: &str) -> bool {
    field == "metadata.name" || field == "metadata.namespace" || extra_fields(group, kind).contains(&field)
}

/// The value of a supported field label on an object (missing fields read as "").
pub fn field_value(group: &str, kind: &str, obj: &Value, field: &str) -> Option<String> {
    if !field_supported(group, kind, field) {
        return None;
    }
    if (group, kind, field) == ("", "Event", "source") {
        return Some(obj.pointer("/source/component").and_then(Value::as_str).unwrap_or_default().to_string());
    }
    let pointer = format!("/{}", field.replace('.', "/"));
    Some(obj.pointer(&pointer).and_then(Value::as_str).unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("map")
    }

    #[test]
    fn label_selector_operators() {
        let l = labels(json!({"app":"web","tier":"fe"}));
        let cases = [
            ("", true), ("app=web", true), ("app==web", true), ("app!=web", false), ("app in (web,db)", true),
            ("app notin (web)", false), ("tier", true), ("!tier", false), ("!missing", true),
            ("app=web,tier=be", false), ("missing notin (x)", true), ("  app = web ", true),
        ];
        for (sel, want) in cases {
            assert_eq!(LabelSelector::parse(sel).expect(sel).matches(&l), want, "{sel}");
        }
        assert!(LabelSelector::parse("app in web").is_err());
        assert!(LabelSelector::parse("-bad=x").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
    }

    #[test]
    fn label_selector_from_json() {
        let s = LabelSelector::from_json(&json!({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["fe"]}]})).expect("parses");
        assert!(s.matches(&labels(json!({"app":"web","tier":"fe"}))));
        assert!(!s.matches(&labels(json!({"app":"web"}))));
    }

    #[test]
    fn field_selectors() {
        let secret = json!({"metadata":{"name":"s","namespace":"d"},"type":"Opaque"});
        let get = |f: &str| field_value("", "Secret", &secret, f);
        assert!(FieldSelector::parse("metadata.name=s,type=Opaque").expect("parses").matches(get));
        assert!(!FieldSelector::parse("type!=Opaque").expect("parses").matches(get));
        assert!(FieldSelector::parse("a\\,b=c").expect("parses").fields().any(|f| f == "a,b"));
        assert!(FieldSelector::parse("nonsense").is_err());
        assert!(field_supported("example.com", "Widget", "metadata.name"));
        assert!(!field_supported("", "ConfigMap", "spec.foo"));
        let ev = json!({"involvedObject":{"name":"p1"},"source":{"component":"kubelet"}});
        assert_eq!(field_value("", "Event", &ev, "involvedObject.name").as_deref(), Some("p1"));
        assert_eq!(field_value("", "Event", &ev, "source").as_deref(), Some("kubelet"));
    }
}
