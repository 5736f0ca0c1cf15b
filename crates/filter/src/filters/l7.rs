//! Layer 7: `dns_query` and the HTTP fields (`http_status_code`,
//! `http_method`, `http_path`, `http_url`, `http_header`).

use flowlog_flow::HttpHeader;
use flowlog_flow::layer7::Record;
use regex::Regex;

use super::FilterError;
use super::event::{Event, http};
use super::request_uri::request_uri_path;

/// Compiles RE2-style regexes, unanchored, one per value.
fn regexes(name: &str, values: &[String]) -> Result<Vec<Regex>, FilterError> {
    values
        .iter()
        .map(|value| {
            Regex::new(value).map_err(|e| FilterError::field(name, "invalid regex").with_value(value).with_detail(e))
        })
        .collect()
}

/// Some regex matches the DNS query of a DNS flow.
#[derive(Debug)]
pub(crate) struct DnsQueryFilter(Vec<Regex>);

impl DnsQueryFilter {
    pub(crate) fn new(name: &str, values: &[String]) -> Result<Self, FilterError> {
        regexes(name, values).map(Self)
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        match event.flow().and_then(|flow| flow.l7.as_ref()).and_then(|l7| l7.record.as_ref()) {
            Some(Record::Dns(dns)) => self.0.iter().any(|regex| regex.is_match(&dns.query)),
            _ => false,
        }
    }
}

/// One `http_status_code` value: a code (`404`) or a prefix (`5+`, `40+`).
#[derive(Debug, Clone, Copy)]
enum StatusCode {
    Exact([u8; 3]),
    /// The digits before `+`; the second is unused when `len` is 1.
    Prefix {
        digits: [u8; 2],
        len: usize,
    },
}

impl StatusCode {
    fn parse(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        let class_ok = |b: u8| (b'1'..=b'5').contains(&b);
        match bytes {
            [a, b, c] if class_ok(*a) && b.is_ascii_digit() && c.is_ascii_digit() => Some(Self::Exact([*a, *b, *c])),
            [a, b'+'] if class_ok(*a) => Some(Self::Prefix { digits: [*a, 0], len: 1 }),
            [a, b, b'+'] if class_ok(*a) && b.is_ascii_digit() => Some(Self::Prefix { digits: [*a, *b], len: 2 }),
            _ => None,
        }
    }

    /// `code` is the flow's code formatted as `%03d`.
    fn matches(self, code: &[u8]) -> bool {
        match self {
            Self::Exact(exact) => code == exact,
            Self::Prefix { digits, len } => code.starts_with(&digits[..len]),
        }
    }
}

/// The HTTP response code of the flow is one of the codes or has one of the prefixes.
#[derive(Debug)]
pub(crate) struct HttpStatusFilter(Vec<StatusCode>);

impl HttpStatusFilter {
    pub(crate) fn new(name: &str, values: &[String]) -> Result<Self, FilterError> {
        let codes = values
            .iter()
            .map(|value| {
                StatusCode::parse(value).ok_or_else(|| {
                    FilterError::field(name, "invalid status code").with_value(value).with_detail(
                        "expected a code from 100 to 599 (`404`) or a prefix of one or two digits and `+` (`5+`, `40+`)",
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self(codes))
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(code) = event.flow().and_then(http).map(|http| http.code).filter(|code| *code != 0) else {
            return false;
        };
        let mut buffer = [0; 10];
        let code = format_code(code, &mut buffer);
        self.0.iter().any(|status| status.matches(code))
    }
}

/// `%03d` into `buffer`, without going through `fmt`.
fn format_code(mut code: u32, buffer: &mut [u8; 10]) -> &[u8] {
    let mut start = buffer.len();
    while code > 0 || buffer.len() - start < 3 {
        start -= 1;
        buffer[start] = b'0' + (code % 10) as u8;
        code /= 10;
    }
    &buffer[start..]
}

/// The HTTP method is one of the listed ones, ignoring case.
#[derive(Debug)]
pub(crate) struct HttpMethodFilter(pub(crate) Vec<String>);

impl HttpMethodFilter {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(http) = event.flow().and_then(http).filter(|http| !http.method.is_empty()) else {
            return false;
        };
        self.0.iter().any(|method| method.eq_ignore_ascii_case(&http.method))
    }
}

/// Some regex matches the path of the HTTP request URL.
#[derive(Debug)]
pub(crate) struct HttpPathFilter(Vec<Regex>);

impl HttpPathFilter {
    pub(crate) fn new(name: &str, values: &[String]) -> Result<Self, FilterError> {
        regexes(name, values).map(Self)
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(path) = event.flow().and_then(http).and_then(|http| request_uri_path(&http.url)) else {
            return false;
        };
        self.0.iter().any(|regex| regex.is_match(&path))
    }
}

/// Some regex matches the whole HTTP request URL.
#[derive(Debug)]
pub(crate) struct HttpUrlFilter(Vec<Regex>);

impl HttpUrlFilter {
    pub(crate) fn new(name: &str, values: &[String]) -> Result<Self, FilterError> {
        regexes(name, values).map(Self)
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(http) = event.flow().and_then(http) else {
            return false;
        };
        self.0.iter().any(|regex| regex.is_match(&http.url))
    }
}

/// Some header of the request is one of the listed key/value pairs, exactly.
#[derive(Debug)]
pub(crate) struct HttpHeaderFilter(pub(crate) Vec<HttpHeader>);

impl HttpHeaderFilter {
    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(http) = event.flow().and_then(http) else {
            return false;
        };
        http.headers
            .iter()
            .any(|header| self.0.iter().any(|wanted| wanted.key == header.key && wanted.value == header.value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_formatted_with_three_digits_at_least() {
        let mut buffer = [0; 10];
        assert_eq!(format_code(200, &mut buffer), b"200");
        assert_eq!(format_code(7, &mut buffer), b"007");
        assert_eq!(format_code(42, &mut buffer), b"042");
        assert_eq!(format_code(1234, &mut buffer), b"1234");
        assert_eq!(format_code(u32::MAX, &mut buffer), b"4294967295");
    }

    #[test]
    fn status_code_syntax() {
        for good in ["100", "404", "599", "5+", "40+", "1+"] {
            assert!(StatusCode::parse(good).is_some(), "{good}");
        }
        for bad in ["", "+", "909", "3++", "3+0", "600", "0+", "60+", "4040", "40", "4", "abc", "20x"] {
            assert!(StatusCode::parse(bad).is_none(), "{bad}");
        }
    }
}
