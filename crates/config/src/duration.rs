//! Durations written the way Cilium's configs write them (Go's
//! `time.ParseDuration`): `30s`, `1m30s`, `1.5h`, `500ms`, `0`.

use std::time::Duration;

/// A duration that does not parse: the text and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason} (examples: 30s, 1m30s, 500ms)")]
pub struct DurationError {
    /// The text, trimmed.
    pub text: String,
    /// What is wrong with it.
    pub reason: DurationProblem,
}

/// What is wrong with a duration's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationProblem {
    /// Starts with `-`: no setting of ours has a meaning for it.
    #[error("must not be negative")]
    Negative,
    /// Nothing but white space.
    #[error("empty")]
    Empty,
    /// A unit with no number before it.
    #[error("expected a number")]
    NoNumber,
    /// Digits and dots that are not a number (`1.2.3`).
    #[error("bad number")]
    BadNumber,
    /// A number with no unit after it (`30`): Go refuses it too.
    #[error("missing unit")]
    NoUnit,
    /// Not one of `ns`, `us`, `ms`, `s`, `m`, `h`.
    #[error("unknown unit {0:?}")]
    UnknownUnit(String),
    /// More than 584 years.
    #[error("too long")]
    TooLong,
}

/// Parses a Go duration string. Negative durations are refused.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let invalid = |reason| DurationError { text: text.to_owned(), reason };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(invalid(DurationProblem::Negative));
    }
    if rest.is_empty() {
        return Err(invalid(DurationProblem::Empty));
    }
    let mut total_nanos = 0f64;
    let mut rest = rest;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return Err(invalid(DurationProblem::NoNumber));
        }
        let value: f64 = number.parse().map_err(|_| invalid(DurationProblem::BadNumber))?;
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(invalid(DurationProblem::NoUnit)),
            other => return Err(invalid(DurationProblem::UnknownUnit(other.to_owned()))),
        };
        total_nanos += value * nanos_per_unit;
        rest = after;
    }
    if total_nanos > u64::MAX as f64 {
        return Err(invalid(DurationProblem::TooLong));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_go_accepts() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("30s", Duration::from_secs(30)),
            ("1m30s", Duration::from_secs(90)),
            ("1.5h", Duration::from_secs(5400)),
            ("500ms", Duration::from_millis(500)),
            ("2us", Duration::from_micros(2)),
            ("2µs", Duration::from_micros(2)),
            ("10ns", Duration::from_nanos(10)),
            ("+5s", Duration::from_secs(5)),
            (" 1h2m3s ", Duration::from_secs(3723)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_and_negatives() {
        for text in ["", "30", "s", "1x", "-5s", "1.2.3s", "m5"] {
            let error = parse_go_duration(text).unwrap_err().to_string();
            assert!(error.contains(&format!("{:?}", text.trim())), "{error}");
        }
    }
}
