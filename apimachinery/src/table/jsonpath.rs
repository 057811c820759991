//! The JSONPath subset CRD printer columns use, and kube's cell typing of its results.
//!
//! apiextensions-apiserver evaluates each column's path with missing keys allowed and keeps the
//! first result; a column whose path finds nothing gets a `null` cell, which kubectl prints as
//! `<none>`. Supported: `.field` (with `\.` escapes), `['field']`, `[n]`, `[*]`, `.*` and
//! filters `[?(@.a.b=="x")]` / `!=` / `[?(@.a)]`.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    Wildcard,
    Filter { path: Vec<String>, test: Option<(bool, Value)> },
}

/// Parses a path such as `.status.conditions[?(@.type=="Ready")].status`; `None` if unsupported.
fn parse(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path.strip_prefix('{').and_then(|p| p.strip_suffix('}')).unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let chars: Vec<char> = path.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let (name, next) = field_name(&chars, i + 1);
                if name.is_empty() {
                    return None;
                }
                steps.push(if name == "*" { Step::Wildcard } else { Step::Field(name) });
                i = next;
            }
            '[' => {
                let close = bracket_end(&chars, i)?;
                steps.push(bracket(&chars[i + 1..close].iter().collect::<String>())?);
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// A dotted field name up to the next unescaped `.` or `[`; `\x` stands for `x`.
fn field_name(chars: &[char], mut i: usize) -> (String, usize) {
    let mut name = String::new();
    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
        if chars[i] == '\\' && i + 1 < chars.len() {
            i += 1;
        }
        name.push(chars[i]);
        i += 1;
    }
    (name, i)
}

/// Index of the `]` closing the bracket at `open`, skipping quoted text.
fn bracket_end(chars: &[char], open: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &c) in chars.iter().enumerate().skip(open + 1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, ']') => return Some(i),
            _ => {}
        }
    }
    None
}

fn unquote(s: &str) -> Option<&str> {
    let s = s.trim();
    s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')).or_else(|| s.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
}

fn bracket(inner: &str) -> Option<Step> {
    let inner = inner.trim();
    if inner == "*" {
        return Some(Step::Wildcard);
    }
    if let Some(name) = unquote(inner) {
        return Some(Step::Field(name.to_string()));
    }
    if let Some(expr) = inner.strip_prefix("?(").and_then(|e| e.strip_suffix(')')) {
        return filter(expr.trim());
    }
    inner.parse().ok().map(Step::Index)
}

/// `@.a.b`, `@.a.b == literal` or `@.a.b != literal`.
fn filter(expr: &str) -> Option<Step> {
    let (lhs, test) = match expr.find("==").map(|i| (i, true)).or_else(|| expr.find("!=").map(|i| (i, false))) {
        Some((i, equal)) => {
            let literal = expr[i + 2..].trim();
            let value = match unquote(literal) {
                Some(s) => Value::String(s.to_string()),
                None => serde_json::from_str(literal).ok()?,
            };
            (expr[..i].trim(), Some((equal, value)))
        }
        None => (expr, None),
    };
    let rest = lhs.strip_prefix('@')?;
    let mut path = Vec::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '.' {
            return None;
        }
        let (name, next) = field_name(&chars, i + 1);
        path.push(name);
        i = next;
    }
    Some(Step::Filter { path, test })
}

fn children(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => map.values().collect(),
        _ => Vec::new(),
    }
}

fn apply<'a>(step: &Step, value: &'a Value) -> Vec<&'a Value> {
    match step {
        Step::Field(name) => value.get(name.as_str()).into_iter().collect(),
        Step::Index(i) => {
            let Some(items) = value.as_array() else { return Vec::new() };
            let len = items.len() as i64;
            let at = if *i < 0 { len + i } else { *i };
            usize::try_from(at).ok().and_then(|at| items.get(at)).into_iter().collect()
        }
        Step::Wildcard => children(value),
        Step::Filter { path, test } => children(value)
            .into_iter()
            .filter(|item| {
                let found = path.iter().try_fold(*item, |v, key| v.get(key.as_str()));
                match (found, test) {
                    (Some(v), None) => !v.is_null(),
                    (Some(v), Some((equal, want))) => (v == want) == *equal,
                    (None, Some((false, _))) => true,
                    (None, _) => false,
                }
            })
            .collect(),
    }
}

/// The first value `path` finds in `obj`, if any.
pub(super) fn first<'a>(path: &str, obj: &'a Value) -> Option<&'a Value> {
    let steps = parse(path)?;
    let mut current = vec![obj];
    for step in &steps {
        current = current.into_iter().flat_map(|v| apply(step, v)).collect();
    }
    current.into_iter().next()
}

/// Go's `%v` rendering of a float64: shortest digits, exponent form outside [1e-4, 1e6).
fn go_float(f: f64) -> String {
    let exp_form = format!("{f:e}");
    let Some((mantissa, exp)) = exp_form.split_once('e') else { return exp_form };
    let exp: i32 = exp.parse().unwrap_or(0);
    if f == 0.0 || (-4..6).contains(&exp) {
        return f.to_string();
    }
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// The cell kube's CRD table convertor produces for a value found under a column of `type_`.
pub(super) fn cell(type_: &str, value: &Value, now: jiff::Timestamp) -> Value {
    match (type_, value) {
        (_, Value::Null) => Value::Null,
        ("string", Value::String(_)) => value.clone(),
        ("string", Value::Number(n)) if n.is_f64() => Value::String(go_float(n.as_f64().unwrap_or_default())),
        ("string", Value::Number(n)) => Value::String(n.to_string()),
        ("string", Value::Bool(b)) => Value::String(b.to_string()),
        ("string", _) => Value::String(value.to_string()),
        ("integer", Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).map_or(Value::Null, Value::from),
        ("number", Value::Number(n)) => n.as_f64().map_or(Value::Null, Value::from),
        ("boolean", Value::Bool(_)) => value.clone(),
        ("date", Value::String(s)) => Value::String(match s.parse::<jiff::Timestamp>() {
            Ok(t) => super::age(Some(t), now),
            Err(_) => "<invalid>".to_string(),
        }),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn evaluates_paths() {
        let obj = json!({
            "spec": {"size": 3, "items": ["a", "b"]},
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]},
            "metadata": {"labels": {"app": "web", "app.kubernetes.io/name": "x"}},
        });
        let cases: &[(&str, Option<Value>)] = &[
            (".spec.size", Some(json!(3))),
            ("{.spec.size}", Some(json!(3))),
            ("$.spec.size", Some(json!(3))),
            (".spec.items[1]", Some(json!("b"))),
            (".spec.items[-1]", Some(json!("b"))),
            (".spec.items[*]", Some(json!("a"))),
            (".spec.items[5]", None),
            (".spec.missing", None),
            (".status.conditions[?(@.type==\"Ready\")].status", Some(json!("True"))),
            (".status.conditions[?(@.type=='Ready')].status", Some(json!("True"))),
            (".status.conditions[?(@.type!=\"Synced\")].type", Some(json!("Ready"))),
            (".status.conditions[?(@.reason)].type", None),
            (".metadata.labels.app", Some(json!("web"))),
            (".metadata.labels.app\\.kubernetes\\.io/name", Some(json!("x"))),
            (".metadata.labels['app.kubernetes.io/name']", Some(json!("x"))),
            ("spec", None),
        ];
        for (path, want) in cases {
            assert_eq!(first(path, &obj).cloned(), *want, "{path}");
        }
    }

    #[test]
    fn types_cells() {
        let now: jiff::Timestamp = "2024-01-01T01:00:00Z".parse().expect("valid");
        let cases: Vec<(&str, Value, Value)> = vec![
            ("string", json!("x"), json!("x")),
            ("string", json!(3), json!("3")),
            ("string", json!(1.5), json!("1.5")),
            ("string", json!(2000000.0), json!("2e+06")),
            ("string", json!(true), json!("true")),
            ("string", json!({"a": 1}), json!("{\"a\":1}")),
            ("string", Value::Null, Value::Null),
            ("integer", json!(3), json!(3)),
            ("integer", json!(3.7), json!(3)),
            ("integer", json!("3"), Value::Null),
            ("number", json!(2), json!(2.0)),
            ("boolean", json!(false), json!(false)),
            ("date", json!("2024-01-01T00:55:00Z"), json!("5m")),
            ("date", json!("yesterday"), json!("<invalid>")),
            ("date", json!(5), Value::Null),
        ];
        for (type_, value, want) in cases {
            assert_eq!(cell(type_, &value, now), want, "{type_} {value}");
        }
    }
}
