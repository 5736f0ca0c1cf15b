//! The one error type of filter parsing and compiling.

use std::borrow::Cow;
use std::fmt;

/// Why a filter could not be read or compiled.
///
/// The message names, as far as they are known, the list (`allowlist` or
/// `denylist`), the filter's 1-based position in it, the byte offset where a
/// filter string went wrong, the FlowFilter field (by its proto name, e.g.
/// `source_pod`), the offending value and the reason:
///
/// ```text
/// denylist filter 2: source_ip: invalid address "320.320.320.320": invalid IP address syntax
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(Box<Details>);

/// Boxed, so that results stay small on the paths that succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Details {
    list: Option<&'static str>,
    index: Option<usize>,
    offset: Option<usize>,
    field: Option<String>,
    problem: Cow<'static, str>,
    value: Option<String>,
    /// The value is JSON text, shown as it is rather than quoted.
    value_is_json: bool,
    detail: Option<String>,
}

impl FilterError {
    /// An error about the whole input, not one field of a filter.
    pub(crate) fn new(problem: impl Into<Cow<'static, str>>) -> Self {
        Self(Box::new(Details {
            list: None,
            index: None,
            offset: None,
            field: None,
            problem: problem.into(),
            value: None,
            value_is_json: false,
            detail: None,
        }))
    }

    /// An error about one value of `field`.
    pub(crate) fn field(field: &str, problem: impl Into<Cow<'static, str>>) -> Self {
        let mut error = Self::new(problem);
        error.0.field = Some(field.to_owned());
        error
    }

    /// Names the offending value, shown quoted after the problem.
    pub(crate) fn with_value(mut self, value: impl Into<String>) -> Self {
        self.0.value = Some(value.into());
        self
    }

    /// Names the offending value as JSON text, shown unquoted.
    pub(crate) fn with_json_value(mut self, json: impl Into<String>) -> Self {
        self.0.value = Some(json.into());
        self.0.value_is_json = true;
        self
    }

    /// Adds the underlying reason, shown last.
    pub(crate) fn with_detail(mut self, detail: impl fmt::Display) -> Self {
        self.0.detail = Some(detail.to_string());
        self
    }

    /// Places the error in the `index`th (0-based) filter of a list.
    pub(crate) fn in_filter(mut self, index: usize) -> Self {
        self.0.index = Some(index);
        self
    }

    /// Places the error at a byte offset of a filter string.
    pub(crate) fn at_offset(mut self, offset: usize) -> Self {
        self.0.offset = Some(offset);
        self
    }

    /// Places the error in the allowlist or the denylist.
    pub(crate) fn in_list(mut self, list: &'static str) -> Self {
        self.0.list = Some(list);
        self
    }

    /// The FlowFilter field at fault, by its proto name, when one is.
    pub fn field_name(&self) -> Option<&str> {
        self.0.field.as_deref()
    }

    /// The offending value as written (JSON text for a value of a filter
    /// object that is not a string), when there is one.
    pub fn value(&self) -> Option<&str> {
        self.0.value.as_deref()
    }

    /// The 0-based position of the filter at fault in its list, when known.
    pub fn filter_index(&self) -> Option<usize> {
        self.0.index
    }
}

impl fmt::Display for Details {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let details = self;
        if let Some(list) = details.list {
            write!(f, "{list} ")?;
        }
        match (details.index, details.offset) {
            (Some(index), Some(offset)) => write!(f, "filter {} (byte {offset}): ", index + 1)?,
            (Some(index), None) => write!(f, "filter {}: ", index + 1)?,
            (None, Some(offset)) => write!(f, "byte {offset}: ")?,
            (None, None) if details.list.is_some() => f.write_str(": ")?,
            (None, None) => {}
        }
        if let Some(field) = &details.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&details.problem)?;
        match &details.value {
            Some(value) if details.value_is_json => write!(f, " {value}")?,
            Some(value) => write!(f, " {value:?}")?,
            None => {}
        }
        if let Some(detail) = &details.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_list_filter_field_value_and_reason() {
        let error = FilterError::field("source_ip", "invalid address")
            .with_value("320.320.320.320")
            .with_detail("invalid IP address syntax")
            .in_filter(1)
            .in_list("denylist");
        assert_eq!(
            error.to_string(),
            r#"denylist filter 2: source_ip: invalid address "320.320.320.320": invalid IP address syntax"#
        );
        assert_eq!(error.field_name(), Some("source_ip"));
        assert_eq!(error.value(), Some("320.320.320.320"));
        assert_eq!(error.filter_index(), Some(1));
    }

    #[test]
    fn message_without_context_is_the_reason() {
        assert_eq!(
            FilterError::new("expected a JSON object").at_offset(3).to_string(),
            "byte 3: expected a JSON object"
        );
    }
}
