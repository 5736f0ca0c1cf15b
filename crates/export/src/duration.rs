//! Durations written the way Cilium's configs write them (Go's
//! `time.ParseDuration`): `30s`, `1m30s`, `1.5h`, `500ms`, `0`.

use std::time::Duration;

/// Parses a Go duration string. Negative durations are refused: no setting
/// of ours has a meaning for them.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let invalid = |why: &str| format!("invalid duration {text:?}: {why} (examples: 30s, 1m30s, 500ms)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(invalid("must not be negative"));
    }
    if rest.is_empty() {
        return Err(invalid("empty"));
    }
    let mut total_nanos = 0f64;
    let mut rest = rest;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() || number == "." {
            return Err(invalid("expected a number"));
        }
        let value: f64 = number.parse().map_err(|_| invalid("bad number"))?;
        let unit_end = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(invalid("missing unit")),
            other => return Err(invalid(&format!("unknown unit {other:?}"))),
        };
        total_nanos += value * nanos_per_unit;
        rest = after;
    }
    if total_nanos > u64::MAX as f64 {
        return Err(invalid("too long"));
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
            let error = parse_go_duration(text).unwrap_err();
            assert!(error.contains(&format!("{:?}", text.trim())), "{error}");
        }
    }
}
