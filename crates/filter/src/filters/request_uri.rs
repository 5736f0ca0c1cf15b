//! The path of an HTTP request URL, read as Go's `url.ParseRequestURI` does,
//! so that `http_path` matches the same flows as in Hubble.

use std::borrow::Cow;

/// The percent-decoded path of `raw`, an absolute URL (`scheme://host/path?q`)
/// or an absolute path (`/path?q`); `None` when Go would refuse to parse it.
pub(crate) fn request_uri_path(raw: &str) -> Option<Cow<'_, str>> {
    if raw.is_empty() || raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    if raw == "*" {
        return Some(Cow::Borrowed("*"));
    }
    let (has_scheme, rest) = split_scheme(raw)?;
    // A request URI has no fragment: `#` is part of the path.
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    if !rest.starts_with('/') {
        // `mailto:x` is opaque: a URL without a path. A relative path is no request URI.
        return has_scheme.then_some(Cow::Borrowed(""));
    }
    let path = match rest.strip_prefix("//") {
        Some(after) if has_scheme => {
            let (authority, path) = after.find('/').map_or((after, ""), |slash| after.split_at(slash));
            if !valid_authority(authority) {
                return None;
            }
            path
        }
        _ => rest,
    };
    unescape(path)
}

/// `(true, rest)` after a `scheme:`; `(false, raw)` when there is none;
/// `None` for a leading `:` ("missing protocol scheme").
fn split_scheme(raw: &str) -> Option<(bool, &str)> {
    for (i, b) in raw.bytes().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return None,
            b':' => return Some((true, &raw[i + 1..])),
            _ => return Some((false, raw)),
        }
    }
    Some((false, raw))
}

/// `[userinfo@]host[:port]`, with a bracketed IPv6 host, and a port of digits only.
fn valid_authority(authority: &str) -> bool {
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let port = if let Some(bracketed) = host.strip_prefix('[') {
        let Some((_, after)) = bracketed.split_once(']') else {
            return false;
        };
        if !after.is_empty() && !after.starts_with(':') {
            return false;
        }
        after.strip_prefix(':')
    } else {
        host.rsplit_once(':').map(|(_, port)| port)
    };
    port.is_none_or(|port| port.bytes().all(|b| b.is_ascii_digit())) && unescape(host).is_some()
}

/// Decodes `%XX` escapes; a malformed escape makes the URL invalid.
fn unescape(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('%') {
        return Some(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let high = (hex[0] as char).to_digit(16)?;
            let low = (hex[1] as char).to_digit(16)?;
            decoded.push((high * 16 + low) as u8);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Some(match String::from_utf8(decoded) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_of_request_uris() {
        let cases = [
            ("/api/v1?x=1", Some("/api/v1")),
            ("/", Some("/")),
            ("http://example.com/api/v1?x=1", Some("/api/v1")),
            ("http://example.com", Some("")),
            ("http://example.com:8080/a", Some("/a")),
            ("http://user:pw@[::1]:8080/a", Some("/a")),
            ("https://example.com/a%20b", Some("/a b")),
            ("/a#frag", Some("/a#frag")),
            ("//host/path", Some("//host/path")),
            ("mailto:someone", Some("")),
            ("*", Some("*")),
            ("", None),
            ("api/v1", None),
            ("example.com/x", None),
            (":foo", None),
            ("/a%zz", None),
            ("/a%2", None),
            ("http://example.com:port/a", None),
            ("http://[::1/a", None),
            ("/a\nb", None),
        ];
        for (url, expected) in cases {
            assert_eq!(request_uri_path(url).as_deref(), expected, "{url:?}");
        }
    }
}
