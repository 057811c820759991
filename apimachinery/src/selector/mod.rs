//! Label and field selectors, parsed and matched exactly as Kubernetes does.
//!
//! `kubectl get -l`, `--field-selector`, `delete`, `wait` and `get x -w` all depend on these, and
//! their error messages reach users verbatim inside a 400, so the label parser follows kube's
//! lexer/parser token for token ([`label`]) and the field parser keeps kube's escaping rules and
//! per-kind field labels ([`field`]).

mod field;
mod label;

pub use field::{field_value, FieldOp, FieldRequirement, FieldSelector};
pub use label::{LabelSelector, Operator, Requirement};

/// Why a selector could not be parsed, in kube-apiserver's words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SelectorError {
    /// A requirement of a label selector is malformed; wraps the precise cause.
    #[error("unable to parse requirement: {0}")]
    Requirement(Box<SelectorError>),
    /// The label selector has an unexpected token.
    #[error("found '{found}', expected: {expected}")]
    Syntax {
        /// Text of the token found, empty at the end of the input.
        found: String,
        /// What the parser would have accepted there, as kube lists it.
        expected: &'static str,
    },
    /// A set-based requirement lacks its opening parenthesis (kube words this one differently).
    #[error("found '{found}' expected: '('")]
    ExpectedOpenParen {
        /// Text of the token found instead of `(`.
        found: String,
    },
    /// Keys or values failed validation; the text is the rendered field errors.
    #[error("{0}")]
    Invalid(String),
    /// A `metav1.LabelSelector` expression uses an unknown operator.
    #[error("{0:?} is not a valid label selector operator")]
    Operator(String),
    /// A field selector term has no `=`, `==` or `!=`.
    #[error("invalid selector: '{selector}'; can't understand '{term}'")]
    FieldTerm {
        /// The whole field selector as given.
        selector: String,
        /// The term without an operator.
        term: String,
    },
    /// A field selector value has a backslash escape other than `\\`, `\,` or `\=`.
    #[error("invalid field selector: invalid escape sequence: {0}")]
    InvalidEscape(String),
    /// A field selector value has an unescaped `,` or `=`.
    #[error("invalid field selector: unescaped character in value: {0}")]
    UnescapedChar(char),
}
