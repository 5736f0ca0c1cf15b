//! The JSON primitives the encoder is built from, each appending to a `Vec<u8>`.
//!
//! Objects and arrays are written with a comma after every member; [`close`]
//! turns the last comma into the closing bracket. That keeps the generated code
//! free of "is this the first field?" bookkeeping.

use prost_types::Timestamp;

use super::EncodeError;

/// Closes an object (`b'}'`) or array (`b']'`) whose members were each followed by a comma.
#[inline]
pub fn close(out: &mut Vec<u8>, bracket: u8) {
    match out.last_mut() {
        Some(last) if *last == b',' => *last = bracket,
        _ => out.push(bracket),
    }
}

/// Appends `true` or `false`.
#[inline]
pub fn boolean(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// Appends a 32-bit integer as a JSON number.
#[inline]
pub fn int32<T: itoa::Integer>(out: &mut Vec<u8>, value: T) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends a 64-bit integer as a JSON string, as protojson does so that
/// JavaScript readers do not lose precision.
#[inline]
pub fn int64<T: itoa::Integer>(out: &mut Vec<u8>, value: T) {
    out.push(b'"');
    int32(out, value);
    out.push(b'"');
}

/// Appends an enum value by name, or by number when this schema does not know it.
#[inline]
pub fn enumeration(out: &mut Vec<u8>, number: i32, name: Option<&str>) {
    match name {
        Some(name) => {
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
        }
        None => int32(out, number),
    }
}

/// What a byte turns into inside a JSON string: 0 for itself, else the letter
/// after the backslash (`u` for a `\u00XX` escape).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x0c] = b'f';
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    // Go's json.Encoder escapes these for safe embedding in HTML.
    table[b'<' as usize] = b'u';
    table[b'>' as usize] = b'u';
    table[b'&' as usize] = b'u';
    // First byte of U+2028 and U+2029, checked further in `string`.
    table[0xe2] = b'2';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// True when one of the eight bytes of `word` may need escaping: a control
/// byte, `"`, `\\`, `<`, `>`, `&`, or any non-ASCII byte (which may start
/// U+2028/U+2029). A false positive only sends the bytes to the exact check.
fn needs_attention(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The classic "has zero byte" test, applied to the word xor each byte value.
    let has = |byte: u8| {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    (word & HIGHS) | below_space | has(b'"') | has(b'\\') | has(b'<') | has(b'>') | has(b'&') != 0
}

/// Appends a quoted, escaped JSON string exactly as Cilium's exporter writes it.
pub fn string(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Most bytes need no escape: skip them eight at a time.
        if let Some(word) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            if !needs_attention(word) {
                i += 8;
                continue;
            }
        }
        let escape = ESCAPE[bytes[i] as usize];
        if escape == 0 {
            i += 1;
            continue;
        }
        if escape == b'2' {
            // U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR are E2 80 A8/A9.
            if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u202");
                out.push(HEX[(bytes[i + 2] & 0xf) as usize]);
                i += 3;
                start = i;
            } else {
                i += 1;
            }
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(escape);
        if escape == b'u' {
            let byte = bytes[i];
            out.extend_from_slice(&[b'0', b'0', HEX[(byte >> 4) as usize], HEX[(byte & 0xf) as usize]]);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// The range protojson accepts: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const MIN_SECONDS: i64 = -62_135_596_800;
const MAX_SECONDS: i64 = 253_402_300_799;

/// Appends a timestamp as RFC 3339 in UTC with 0, 3, 6 or 9 fraction digits
/// (`"2023-08-21T12:12:18.510175415Z"`, `"1970-01-01T00:00:01Z"`).
pub fn timestamp(out: &mut Vec<u8>, ts: &Timestamp) -> Result<(), EncodeError> {
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&ts.seconds) || !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(EncodeError::TimestampOutOfRange { seconds: ts.seconds, nanos: ts.nanos });
    }
    let days = ts.seconds.div_euclid(86_400);
    let second_of_day = ts.seconds.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);

    let mut text = [0u8; 32];
    let mut len = 0;
    let mut put = |digits: u32, value: u32| {
        let mut divisor = 10u32.pow(digits - 1);
        for _ in 0..digits {
            text[len] = b'0' + (value / divisor % 10) as u8;
            len += 1;
            divisor /= 10;
        }
    };
    put(4, year as u32);
    put(2, month);
    put(2, day);
    put(2, second_of_day / 3600);
    put(2, second_of_day / 60 % 60);
    put(2, second_of_day % 60);
    let mut nanos = ts.nanos as u32;
    let fraction_digits = match nanos {
        0 => 0,
        n if n % 1_000_000 == 0 => {
            nanos /= 1_000_000;
            3
        }
        n if n % 1_000 == 0 => {
            nanos /= 1_000;
            6
        }
        _ => 9,
    };
    if fraction_digits > 0 {
        put(fraction_digits, nanos);
    }

    let d = &text[..len];
    out.push(b'"');
    out.extend_from_slice(&d[0..4]);
    out.push(b'-');
    out.extend_from_slice(&d[4..6]);
    out.push(b'-');
    out.extend_from_slice(&d[6..8]);
    out.push(b'T');
    out.extend_from_slice(&d[8..10]);
    out.push(b':');
    out.extend_from_slice(&d[10..12]);
    out.push(b':');
    out.extend_from_slice(&d[12..14]);
    if fraction_digits > 0 {
        out.push(b'.');
        out.extend_from_slice(&d[14..]);
    }
    out.extend_from_slice(b"Z\"");
    Ok(())
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days`: exact for every day in protojson's range,
/// and much cheaper than a general date library on the hot path.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_string(value: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn render_timestamp(seconds: i64, nanos: i32) -> Result<String, EncodeError> {
        let mut out = Vec::new();
        timestamp(&mut out, &Timestamp { seconds, nanos })?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn strings_are_escaped_like_go_json_encoder() {
        let cases = [
            ("plain", r#""plain""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("<&>", r#""\u003c\u0026\u003e""#),
            ("\u{1}\t\n\r\u{8}\u{c}\u{1f}", r#""\u0001\t\n\r\b\f\u001f""#),
            ("line\u{2028}para\u{2029}", r#""line\u2028para\u2029""#),
            ("é/\u{7f}€", "\"é/\u{7f}€\""),
            ("\u{2027}\u{202a}", "\"\u{2027}\u{202a}\""),
        ];
        for (input, expected) in cases {
            assert_eq!(render_string(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn timestamps_use_0_3_6_or_9_fraction_digits() {
        let cases = [
            (0, 0, r#""1970-01-01T00:00:00Z""#),
            (1, 0, r#""1970-01-01T00:00:01Z""#),
            (1_692_619_938, 510_175_415, r#""2023-08-21T12:12:18.510175415Z""#),
            (1_692_619_938, 510_000_000, r#""2023-08-21T12:12:18.510Z""#),
            (1_692_619_938, 510_100_000, r#""2023-08-21T12:12:18.510100Z""#),
            (1_692_619_938, 1, r#""2023-08-21T12:12:18.000000001Z""#),
            (951_782_400, 0, r#""2000-02-29T00:00:00Z""#),
            (-1, 0, r#""1969-12-31T23:59:59Z""#),
            (MIN_SECONDS, 0, r#""0001-01-01T00:00:00Z""#),
            (MAX_SECONDS, 999_999_999, r#""9999-12-31T23:59:59.999999999Z""#),
        ];
        for (seconds, nanos, expected) in cases {
            assert_eq!(render_timestamp(seconds, nanos).unwrap(), expected, "{seconds}.{nanos}");
        }
    }

    #[test]
    fn timestamps_outside_protojson_range_are_refused() {
        for (seconds, nanos) in [(MIN_SECONDS - 1, 0), (MAX_SECONDS + 1, 0), (0, -1), (0, 1_000_000_000)] {
            assert!(render_timestamp(seconds, nanos).is_err(), "{seconds}.{nanos}");
        }
    }

    #[test]
    fn days_round_trip_against_chrono_for_four_centuries() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for days in (-146_097 * 2..146_097 * 2).step_by(13) {
            let date = epoch + chrono::Duration::days(days);
            let (y, m, d) = civil_from_days(days);
            use chrono::Datelike;
            assert_eq!((y, m, d), (i64::from(date.year()), date.month(), date.day()), "day {days}");
        }
    }
}
