//! Label selectors: kube's string syntax (`a=b,c in (x,y),!d`) and `metav1.LabelSelector`.
//!
//! The lexer and recursive-descent parser mirror `k8s.io/apimachinery/pkg/labels` so that the
//! same inputs fail with the same messages; values are kept sorted and de-duplicated as kube's
//! string sets keep them, which also fixes the index used in value errors.

use super::SelectorError;
use crate::status::FieldError;
use crate::validation::{is_qualified_name, is_valid_label_value};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// How a requirement relates a label to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `key=value`.
    Equals,
    /// `key==value`, the same as `=`.
    DoubleEquals,
    /// `key!=value`; also matches objects without the label.
    NotEquals,
    /// `key in (a,b)`: the label is one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or none of the values.
    NotIn,
    /// `key`: the label is present, whatever its value.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>n`: the label parses as an integer greater than the value.
    GreaterThan,
    /// `key<n`: the label parses as an integer less than the value.
    LessThan,
}

/// One ANDed clause of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key, a qualified name such as `app` or `example.com/tier`.
    pub key: String,
    /// How the label's value is compared with `values`.
    pub operator: Operator,
    /// Sorted and unique for set operators; one value for the others; empty for existence.
    pub values: Vec<String>,
}

impl Requirement {
    /// Builds a requirement with kube's `NewRequirement` checks; errors carry field paths.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        let mut errs = Vec::new();
        let key_msgs = is_qualified_name(key);
        if !key_msgs.is_empty() {
            errs.push(FieldError::invalid("key", key, key_msgs.join("; ")));
        }
        let values_value = || Value::Array(values.iter().cloned().map(Value::String).collect());
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                errs.push(FieldError::invalid("values", values_value(), "for 'in', 'notin' operators, values set can't be empty"))
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
                errs.push(FieldError::invalid("values", values_value(), "exact-match compatibility requires one single value"))
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                errs.push(FieldError::invalid("values", values_value(), "values set must be empty for exists and does not exist"))
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(FieldError::invalid("values", values_value(), "for 'Gt', 'Lt' operators, exactly one value is required"));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(FieldError::invalid(format!("values[{i}]"), v.as_str(), "for 'Gt', 'Lt' operators, the value must be an integer"));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().enumerate() {
            let msgs = is_valid_label_value(v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(format!("values[{i}][{key}]"), v.as_str(), msgs.join("; ")));
            }
        }
        if !errs.is_empty() {
            return Err(SelectorError::Invalid(aggregate(&errs)));
        }
        Ok(Self { key: key.to_string(), operator, values })
    }

    /// Whether the labels satisfy this requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        let value = labels.get(&self.key).and_then(Value::as_str);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => value.is_some_and(has),
            Operator::NotIn | Operator::NotEquals => !value.is_some_and(has),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(have), Some(want)) = (value.and_then(|v| v.parse::<i64>().ok()), self.values.first().and_then(|v| v.parse::<i64>().ok())) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    have > want
                } else {
                    have < want
                }
            }
        }
    }
}

/// kube's `ErrorList.ToAggregate()` rendering: one message, or `[a, b]`.
fn aggregate(errs: &[FieldError]) -> String {
    match errs {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// A parsed label selector: requirements ANDed together.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// A null `metav1.LabelSelector` selects nothing, unlike an empty one.
    nothing: bool,
}

impl LabelSelector {
    /// Parses kube's selector syntax; the empty string selects everything.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Parser::new(input).parse()?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements, nothing: false })
    }

    /// Converts a `metav1.LabelSelector` (`matchLabels`, `matchExpressions`); `null` selects nothing.
    pub fn from_json(selector: &Value) -> Result<Self, SelectorError> {
        if selector.is_null() {
            return Ok(Self { requirements: Vec::new(), nothing: true });
        }
        let mut requirements = Vec::new();
        for (key, value) in selector.get("matchLabels").and_then(Value::as_object).into_iter().flatten() {
            let value = value.as_str().unwrap_or("").to_string();
            requirements.push(Requirement::new(key, Operator::Equals, vec![value])?);
        }
        let expressions = selector.get("matchExpressions").and_then(Value::as_array);
        for expr in expressions.into_iter().flatten() {
            let operator = match expr.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => return Err(SelectorError::Operator(other.to_string())),
            };
            let key = expr.get("key").and_then(Value::as_str).unwrap_or("");
            let values = expr.get("values").and_then(Value::as_array).into_iter().flatten();
            let values = values.map(|v| v.as_str().unwrap_or("").to_string()).collect();
            requirements.push(Requirement::new(key, operator, values)?);
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Self { requirements, nothing: false })
    }

    /// Whether every requirement holds for these labels.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// True when the selector restricts nothing (it matches every object).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    End,
    ClosedPar,
    Comma,
    Not,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier(String),
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

impl Token {
    /// Tokens whose text is fixed; `in`/`notin` are keywords only where an operator may appear.
    fn fixed(text: &str) -> Option<Token> {
        Some(match text {
            ")" => Token::ClosedPar,
            "," => Token::Comma,
            "!" => Token::Not,
            "==" => Token::DoubleEquals,
            "=" => Token::Equals,
            ">" => Token::GreaterThan,
            "in" => Token::In,
            "<" => Token::LessThan,
            "!=" => Token::NotEquals,
            "notin" => Token::NotIn,
            "(" => Token::OpenPar,
            _ => return None,
        })
    }

    fn literal(&self) -> &str {
        match self {
            Token::End => "",
            Token::ClosedPar => ")",
            Token::Comma => ",",
            Token::Not => "!",
            Token::DoubleEquals => "==",
            Token::Equals => "=",
            Token::GreaterThan => ">",
            Token::Identifier(s) => s,
            Token::In => "in",
            Token::LessThan => "<",
            Token::NotEquals => "!=",
            Token::NotIn => "notin",
            Token::OpenPar => "(",
        }
    }
}

fn is_special(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn lex(input: &str) -> Vec<Token> {
    let bytes = input.as_bytes();
    let mut tokens = Vec::new();
    let mut pos = 0;
    loop {
        while pos < bytes.len() && is_space(bytes[pos]) {
            pos += 1;
        }
        if pos == bytes.len() {
            tokens.push(Token::End);
            return tokens;
        }
        let start = pos;
        if is_special(bytes[pos]) {
            // Longest run of symbols that still forms an operator ("!=" rather than "!" "=").
            let mut best = None;
            while pos < bytes.len() && is_special(bytes[pos]) {
                match Token::fixed(&input[start..=pos]) {
                    Some(t) => best = Some((t, pos + 1)),
                    None => break,
                }
                pos += 1;
            }
            // Every special byte is an operator on its own, so `best` is always set here.
            let (token, end) = best.unwrap_or((Token::End, start + 1));
            tokens.push(token);
            pos = end;
        } else {
            while pos < bytes.len() && !is_special(bytes[pos]) && !is_space(bytes[pos]) {
                pos += 1;
            }
            let text = &input[start..pos];
            tokens.push(Token::fixed(text).unwrap_or_else(|| Token::Identifier(text.to_string())));
        }
    }
}

/// Where the parser is: after a key `in`/`notin` are operators, among values they are values.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

fn syntax(found: &Token, expected: &'static str) -> SelectorError {
    SelectorError::Syntax { found: found.literal().to_string(), expected }
}

impl Parser {
    fn new(input: &str) -> Self {
        Self { tokens: lex(input), position: 0 }
    }

    fn lookahead(&self, context: Context) -> Token {
        // The lexer always ends with `End`, and the parser never moves past it.
        let token = self.tokens.get(self.position).cloned().unwrap_or(Token::End);
        match token {
            Token::In | Token::NotIn if context == Context::Values => Token::Identifier(token.literal().to_string()),
            other => other,
        }
    }

    fn consume(&mut self, context: Context) -> Token {
        let token = self.lookahead(context);
        self.position = (self.position + 1).min(self.tokens.len().saturating_sub(1));
        token
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut requirements = Vec::new();
        loop {
            match self.lookahead(Context::Values) {
                Token::Identifier(_) | Token::Not => {
                    let r = self.parse_requirement().map_err(|e| SelectorError::Requirement(Box::new(e)))?;
                    requirements.push(r);
                    match self.consume(Context::Values) {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let next = self.lookahead(Context::Values);
                            if !matches!(next, Token::Identifier(_) | Token::Not) {
                                return Err(syntax(&next, "identifier after ','"));
                            }
                        }
                        other => return Err(syntax(&other, "',' or 'end of string'")),
                    }
                }
                Token::End => return Ok(requirements),
                other => return Err(syntax(&other, "!, identifier, or 'end of string'")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (key, inferred) = self.parse_key_and_infer_operator()?;
        if let Some(op) = inferred {
            return Requirement::new(&key, op, Vec::new());
        }
        let op = match self.consume(Context::KeyAndOperator) {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            other => return Err(syntax(&other, "in, notin, =, ==, !=, gt, lt")),
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values.into_iter().collect())
    }

    /// The key, and the operator when none follows it (`key` exists, `!key` does not).
    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), SelectorError> {
        let mut token = self.consume(Context::Values);
        let negated = token == Token::Not;
        if negated {
            token = self.consume(Context::Values);
        }
        let Token::Identifier(key) = token else {
            return Err(syntax(&token, "identifier"));
        };
        let msgs = is_qualified_name(&key);
        if !msgs.is_empty() {
            // kube validates the key against a nil field path, which prints as `<nil>`.
            return Err(SelectorError::Invalid(FieldError::invalid("<nil>", key.as_str(), msgs.join("; ")).to_string()));
        }
        if negated {
            return Ok((key, Some(Operator::DoesNotExist)));
        }
        let unary = matches!(self.lookahead(Context::Values), Token::End | Token::Comma);
        Ok((key, unary.then_some(Operator::Exists)))
    }

    fn parse_values(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let open = self.consume(Context::Values);
        if open != Token::OpenPar {
            return Err(SelectorError::ExpectedOpenParen { found: open.literal().to_string() });
        }
        match self.lookahead(Context::Values) {
            Token::Identifier(_) | Token::Comma => {
                let values = self.parse_identifiers_list()?;
                // The list only returns once it sees ')', which is consumed here.
                self.consume(Context::Values);
                Ok(values)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(BTreeSet::from([String::new()]))
            }
            other => Err(syntax(&other, "',', ')' or identifier")),
        }
    }

    /// A comma-separated list in which empty entries are the empty value.
    fn parse_identifiers_list(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let mut values = BTreeSet::new();
        loop {
            match self.consume(Context::Values) {
                Token::Identifier(v) => {
                    values.insert(v);
                    match self.lookahead(Context::Values) {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(values),
                        other => return Err(syntax(&other, "',' or ')'")),
                    }
                }
                Token::Comma => {
                    if values.is_empty() {
                        values.insert(String::new());
                    }
                    match self.lookahead(Context::Values) {
                        Token::ClosedPar => {
                            values.insert(String::new());
                            return Ok(values);
                        }
                        Token::Comma => {
                            values.insert(String::new());
                        }
                        _ => {}
                    }
                }
                other => return Err(syntax(&other, "',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        if matches!(self.lookahead(Context::Values), Token::End | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        match self.consume(Context::Values) {
            Token::Identifier(v) => Ok(BTreeSet::from([v])),
            other => Err(syntax(&other, "identifier")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn parse_and_match() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app = web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (web, db)", true),
            ("app in(db)", false),
            ("app notin (db)", true),
            ("missing notin (db)", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier=front", true),
            ("app=web,tier=back", false),
            ("  app  ,  !missing  ", true),
            ("n>4", true),
            ("n<4", false),
            ("x in (in,notin)", false),
            ("app=", false),
            ("missing in ()", false),
        ];
        for (input, want) in cases {
            let sel = LabelSelector::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(sel.matches(&l), *want, "{input}");
        }
    }

    #[test]
    fn empty_values_and_sets() {
        let sel = LabelSelector::parse("x in (b,,a),y").expect("parses");
        assert_eq!(sel.requirements()[0].values, ["", "a", "b"]);
        assert_eq!(sel.requirements()[1].operator, Operator::Exists);
        assert!(LabelSelector::parse("").expect("parses").is_empty());
        assert!(!LabelSelector::parse("a").expect("parses").is_empty());
    }

    #[test]
    fn parse_errors_use_kube_wording() {
        let name_part = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
        let value_msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
        let cases: Vec<(&str, String)> = vec![
            ("a=b c", "found 'c', expected: ',' or 'end of string'".into()),
            ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt".into()),
            ("a,", "found '', expected: identifier after ','".into()),
            ("=a", "found '=', expected: !, identifier, or 'end of string'".into()),
            ("a in b", "unable to parse requirement: found 'b' expected: '('".into()),
            ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'".into()),
            ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier".into()),
            ("a=(", "unable to parse requirement: found '(', expected: identifier".into()),
            ("!!a", "unable to parse requirement: found '!', expected: identifier".into()),
            ("-a=b", format!("unable to parse requirement: <nil>: Invalid value: \"-a\": {name_part}")),
            ("a=b-", format!("unable to parse requirement: values[0][a]: Invalid value: \"b-\": {value_msg}")),
            ("a>b", "unable to parse requirement: values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer".into()),
        ];
        for (input, want) in cases {
            let got = LabelSelector::parse(input).map(|_| ()).expect_err(input).to_string();
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn from_metav1_selector() {
        let l = labels(json!({"app": "web", "env": "prod"}));
        let cases: Vec<(Value, bool)> = vec![
            (json!({}), true),
            (Value::Null, false),
            (json!({"matchLabels": {"app": "web"}}), true),
            (json!({"matchLabels": {"app": "db"}}), false),
            (json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "dev"]}]}), true),
            (json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}), false),
            (json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]}), true),
            (json!({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}), false),
        ];
        for (sel, want) in cases {
            assert_eq!(LabelSelector::from_json(&sel).expect("valid").matches(&l), want, "{sel}");
        }
        assert!(LabelSelector::from_json(&json!({})).expect("valid").is_empty());
        assert!(!LabelSelector::from_json(&Value::Null).expect("valid").is_empty());
    }

    #[test]
    fn from_metav1_selector_errors() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}), "\"Gt\" is not a valid label selector operator"),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "In"}]}),
                "values: Invalid value: [...]: for 'in', 'notin' operators, values set can't be empty",
            ),
            (
                json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}),
                "values: Invalid value: [...]: values set must be empty for exists and does not exist",
            ),
        ];
        for (sel, want) in cases {
            assert_eq!(LabelSelector::from_json(&sel).map(|_| ()).expect_err("invalid").to_string(), want);
        }
        let bad_key = LabelSelector::from_json(&json!({"matchLabels": {"a b": "c d"}})).map(|_| ());
        let msg = bad_key.expect_err("invalid").to_string();
        assert!(msg.starts_with("[key: Invalid value: \"a b\": name part"), "{msg}");
        assert!(msg.contains(", values[0][a b]: Invalid value: \"c d\": a valid label"), "{msg}");
    }
}
