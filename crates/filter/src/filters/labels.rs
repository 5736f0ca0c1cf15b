//! `source_label`, `destination_label`, `node_labels`: Kubernetes label
//! selectors over Cilium labels.
//!
//! A selector is Kubernetes' syntax (`k=v`, `k==v`, `k!=v`, `k in (a,b)`,
//! `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`, comma for AND). A key may name a
//! Cilium label source, `k8s:app=x`; a key without one, or with `any:`,
//! matches labels of every source. Flow labels are `source:key=value`; one
//! without a source has source `unspec`. Like Kubernetes on Cilium's label
//! arrays, a requirement looks at the first label with its key.

use super::FilterError;
use super::event::{Event, Side};

/// The source of a flow label written without one.
const UNSPEC_SOURCE: &str = "unspec";
/// The selector source that matches labels of every source.
const ANY_SOURCE: &str = "any";

/// Whose labels a [`LabelFilter`] looks at.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LabelField {
    Endpoint(Side),
    Node,
}

/// Some selector matches the labels. Non-flow events have no labels, which
/// selectors such as `!key` match.
#[derive(Debug)]
pub(crate) struct LabelFilter {
    field: LabelField,
    selectors: Vec<Selector>,
}

impl LabelFilter {
    pub(crate) fn new(field: LabelField, name: &str, values: &[String]) -> Result<Self, FilterError> {
        let selectors = values
            .iter()
            .map(|value| {
                Selector::parse(value).map_err(|reason| {
                    FilterError::field(name, "invalid label selector").with_value(value).with_detail(reason)
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { field, selectors })
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let labels: &[String] = match (event.flow(), self.field) {
            (None, _) => &[],
            (Some(flow), LabelField::Node) => &flow.node_labels,
            (Some(flow), LabelField::Endpoint(side)) => side.endpoint(flow).map_or(&[], |e| &e.labels),
        };
        self.selectors.iter().any(|selector| selector.matches(labels))
    }
}

/// Requirements that must all hold; none matches everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    /// `None` for any source.
    source: Option<String>,
    key: String,
    op: Op,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Exists,
    DoesNotExist,
    In(Vec<String>),
    NotIn(Vec<String>),
    GreaterThan(i64),
    LessThan(i64),
}

impl Selector {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        Parser { tokens: tokenize(text), position: 0 }.selector()
    }

    pub(crate) fn matches(&self, labels: &[String]) -> bool {
        self.0.iter().all(|requirement| requirement.matches(labels))
    }
}

impl Requirement {
    fn matches(&self, labels: &[String]) -> bool {
        let value = labels.iter().map(|label| split_label(label)).find_map(|(source, key, value)| {
            (key == self.key && self.source.as_deref().is_none_or(|s| s == source)).then_some(value)
        });
        match (&self.op, value) {
            (Op::Exists, found) => found.is_some(),
            (Op::DoesNotExist, found) => found.is_none(),
            (Op::In(values), Some(value)) => values.iter().any(|v| v == value),
            (Op::NotIn(values), Some(value)) => !values.iter().any(|v| v == value),
            (Op::In(_), None) => false,
            (Op::NotIn(_), None) => true,
            (Op::GreaterThan(bound), Some(value)) => value.parse::<i64>().is_ok_and(|v| v > *bound),
            (Op::LessThan(bound), Some(value)) => value.parse::<i64>().is_ok_and(|v| v < *bound),
            (Op::GreaterThan(_) | Op::LessThan(_), None) => false,
        }
    }
}

/// (source, key, value) of a Cilium label `source:key=value`.
fn split_label(label: &str) -> (&str, &str, &str) {
    let (source, rest) = match label.strip_prefix('$') {
        Some(rest) => ("reserved", rest),
        None => match (label.find(':'), label.find('=')) {
            (Some(colon), equals) if equals.is_none_or(|equals| colon < equals) => {
                (&label[..colon], &label[colon + 1..])
            }
            _ => (UNSPEC_SOURCE, label),
        },
    };
    let (key, value) = rest.split_once('=').unwrap_or((rest, ""));
    (source, key, value)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Identifier(&'a str),
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    GreaterThan,
    LessThan,
    OpenParen,
    CloseParen,
    Comma,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match self {
            Token::Identifier(text) => format!("{text:?}"),
            Token::Not => "`!`".to_owned(),
            Token::Equals => "`=`".to_owned(),
            Token::DoubleEquals => "`==`".to_owned(),
            Token::NotEquals => "`!=`".to_owned(),
            Token::In => "`in`".to_owned(),
            Token::NotIn => "`notin`".to_owned(),
            Token::GreaterThan => "`>`".to_owned(),
            Token::LessThan => "`<`".to_owned(),
            Token::OpenParen => "`(`".to_owned(),
            Token::CloseParen => "`)`".to_owned(),
            Token::Comma => "`,`".to_owned(),
        }
    }
}

fn is_special(c: char) -> bool {
    matches!(c, '!' | '=' | '(' | ')' | ',' | '>' | '<')
}

fn tokenize(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut rest = text.trim_start();
    while let Some(c) = rest.chars().next() {
        let (token, len) = match c {
            '!' if rest.starts_with("!=") => (Token::NotEquals, 2),
            '=' if rest.starts_with("==") => (Token::DoubleEquals, 2),
            '!' => (Token::Not, 1),
            '=' => (Token::Equals, 1),
            '(' => (Token::OpenParen, 1),
            ')' => (Token::CloseParen, 1),
            ',' => (Token::Comma, 1),
            '>' => (Token::GreaterThan, 1),
            '<' => (Token::LessThan, 1),
            _ => {
                let len = rest.find(|c: char| c.is_whitespace() || is_special(c)).unwrap_or(rest.len());
                let word = &rest[..len];
                let token = match word {
                    "in" => Token::In,
                    "notin" => Token::NotIn,
                    _ => Token::Identifier(word),
                };
                (token, len)
            }
        };
        tokens.push(token);
        rest = rest[len..].trim_start();
    }
    tokens
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    position: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn found(token: Option<&Token<'_>>) -> String {
        token.map_or_else(|| "end of string".to_owned(), Token::describe)
    }

    fn selector(mut self) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        if self.peek().is_none() {
            return Ok(Selector(requirements));
        }
        loop {
            requirements.push(self.requirement()?);
            match self.next() {
                None => return Ok(Selector(requirements)),
                Some(Token::Comma) => {}
                other => {
                    return Err(format!("found {}, expected `,` or end of string", Self::found(other.as_ref())));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        match self.next() {
            Some(Token::Not) => match self.next() {
                Some(Token::Identifier(key)) => key_requirement(key, Op::DoesNotExist),
                other => Err(format!("found {} after `!`, expected a label key", Self::found(other.as_ref()))),
            },
            Some(Token::Identifier(key)) => {
                let op = match self.peek() {
                    None | Some(Token::Comma) => Op::Exists,
                    Some(Token::Equals | Token::DoubleEquals) => {
                        self.position += 1;
                        Op::In(vec![self.exact_value()?])
                    }
                    Some(Token::NotEquals) => {
                        self.position += 1;
                        Op::NotIn(vec![self.exact_value()?])
                    }
                    Some(Token::In) => {
                        self.position += 1;
                        Op::In(self.value_set()?)
                    }
                    Some(Token::NotIn) => {
                        self.position += 1;
                        Op::NotIn(self.value_set()?)
                    }
                    Some(Token::GreaterThan) => {
                        self.position += 1;
                        Op::GreaterThan(self.integer()?)
                    }
                    Some(Token::LessThan) => {
                        self.position += 1;
                        Op::LessThan(self.integer()?)
                    }
                    other => {
                        return Err(format!(
                            "found {} after key {key:?}, expected an operator (=, ==, !=, in, notin, >, <), `,` or end of string",
                            Self::found(other)
                        ));
                    }
                };
                key_requirement(key, op)
            }
            other => Err(format!("found {}, expected `!` or a label key", Self::found(other.as_ref()))),
        }
    }

    /// The value after `=`, `==` or `!=`; nothing there means the empty value.
    fn exact_value(&mut self) -> Result<String, String> {
        match self.peek() {
            None | Some(Token::Comma) => Ok(String::new()),
            Some(Token::Identifier(value)) => {
                let value = validate_value(value)?;
                self.position += 1;
                Ok(value)
            }
            other => Err(format!("found {}, expected a label value", Self::found(other))),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Some(Token::OpenParen) => {}
            other => {
                return Err(format!("found {}, expected `(`", Self::found(other.as_ref())));
            }
        }
        let mut values = Vec::new();
        loop {
            let value = match self.peek() {
                Some(Token::Identifier(value)) => {
                    let value = validate_value(value)?;
                    self.position += 1;
                    value
                }
                Some(Token::Comma | Token::CloseParen) => String::new(),
                other => {
                    return Err(format!("found {}, expected a label value", Self::found(other)));
                }
            };
            values.push(value);
            match self.next() {
                Some(Token::Comma) => {}
                Some(Token::CloseParen) => return Ok(values),
                other => {
                    return Err(format!("found {}, expected `,` or `)`", Self::found(other.as_ref())));
                }
            }
        }
    }

    fn integer(&mut self) -> Result<i64, String> {
        match self.next() {
            Some(Token::Identifier(value)) => value.parse().map_err(|_| format!("{value:?} is not an integer")),
            other => Err(format!("found {}, expected an integer", Self::found(other.as_ref()))),
        }
    }
}

fn key_requirement(key: &str, op: Op) -> Result<Requirement, String> {
    let (source, name) = match key.split_once(':') {
        Some(("", _)) => return Err(format!("label key {key:?}: empty source before `:`")),
        Some((ANY_SOURCE, name)) => (None, name),
        Some((source, name)) => (Some(source.to_owned()), name),
        None => (None, key),
    };
    // Cilium hands Kubernetes `source.key`, so that is what must be a valid key.
    let qualified = format!("{}.{name}", source.as_deref().unwrap_or(ANY_SOURCE));
    validate_key(&qualified).map_err(|reason| format!("label key {key:?}: {reason}"))?;
    Ok(Requirement { source, key: name.to_owned(), op })
}

/// Kubernetes' qualified name: an optional DNS subdomain prefix and `/`, then
/// a name of at most 63 alphanumerics, `-`, `_` and `.`.
fn validate_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if prefix.len() > 253 || !prefix.split('.').all(label_ok) {
            return Err(format!("prefix {prefix:?} is not a lowercase DNS subdomain"));
        }
    }
    if name.is_empty() || name.len() > 63 || !is_name_like(name) {
        return Err(format!(
            "name {name:?} must be 1 to 63 alphanumerics, `-`, `_` or `.`, starting and ending with an alphanumeric"
        ));
    }
    Ok(())
}

fn validate_value(value: &str) -> Result<String, String> {
    if value.len() > 63 || !(value.is_empty() || is_name_like(value)) {
        return Err(format!(
            "label value {value:?} must be at most 63 alphanumerics, `-`, `_` or `.`, starting and ending with an alphanumeric"
        ));
    }
    Ok(value.to_owned())
}

fn is_name_like(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn selectors_match_cilium_labels() {
        let flow = labels(&["k8s:app=frontend", "k8s:io.kubernetes.pod.namespace=shop", "reserved:host", "team=a"]);
        let cases = [
            ("", true),
            ("   ", true),
            ("app", true),
            ("app=frontend", true),
            ("app==frontend", true),
            ("app=backend", false),
            ("app!=backend", true),
            ("app!=frontend", false),
            ("k8s:app=frontend", true),
            ("any:app=frontend", true),
            ("container:app=frontend", false),
            ("app in (backend, frontend)", true),
            ("app in (backend)", false),
            ("app notin (backend)", true),
            ("app notin (frontend,backend)", false),
            ("missing notin (x)", true),
            ("missing!=x", true),
            ("missing=x", false),
            ("!missing", true),
            ("!app", false),
            ("!k8s:app", false),
            ("!reserved:app", true),
            ("reserved:host", true),
            ("host", true),
            ("team=a", true),
            ("unspec:team=a", true),
            ("k8s:team=a", false),
            ("app=frontend,k8s:io.kubernetes.pod.namespace=shop", true),
            ("app=frontend,k8s:io.kubernetes.pod.namespace=default", false),
        ];
        for (selector, expected) in cases {
            let parsed = Selector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
            assert_eq!(parsed.matches(&flow), expected, "{selector:?}");
        }
    }

    #[test]
    fn empty_label_sets() {
        for (selector, expected) in [("", true), ("!app", true), ("app!=x", true), ("app", false), ("app=x", false)] {
            assert_eq!(Selector::parse(selector).unwrap().matches(&[]), expected, "{selector:?}");
        }
    }

    #[test]
    fn numeric_comparisons() {
        let flow = labels(&["k8s:replicas=3"]);
        assert!(Selector::parse("replicas>2").unwrap().matches(&flow));
        assert!(!Selector::parse("replicas<3").unwrap().matches(&flow));
        assert!(Selector::parse("replicas>x").is_err());
    }

    #[test]
    fn rejects_malformed_selectors() {
        for bad in [
            "()",
            "=",
            "!",
            "any:k8s:bla",
            "app=",
            "app in",
            "app in (a",
            "app b",
            "app,",
            ",app",
            ":app",
            "a=b=c",
            "app=-x",
        ] {
            // `app=` is valid (empty value); everything else is not.
            if bad == "app=" {
                assert!(Selector::parse(bad).is_ok());
                continue;
            }
            assert!(Selector::parse(bad).is_err(), "{bad:?} parsed as {:?}", Selector::parse(bad));
        }
    }

    #[test]
    fn splits_labels_by_source() {
        assert_eq!(split_label("k8s:app=x"), ("k8s", "app", "x"));
        assert_eq!(split_label("app=x:y"), ("unspec", "app", "x:y"));
        assert_eq!(split_label("reserved:world"), ("reserved", "world", ""));
        assert_eq!(split_label("$host"), ("reserved", "host", ""));
    }
}
