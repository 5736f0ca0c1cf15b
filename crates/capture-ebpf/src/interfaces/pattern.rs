//! [`InterfacePattern`]: which interfaces to capture on, and what they are.

use std::fmt;
use std::str::FromStr;

use crate::decode::InterfaceRole;

/// Interfaces to capture on: a glob over interface names and the role those
/// interfaces play, written `PATTERN` or `PATTERN:ROLE` (`veth*`,
/// `lxc*:endpoint`, `eth0:network`).
///
/// The role is `endpoint` or `network` in any case; `network` when omitted,
/// since an interface nobody described is most likely an uplink. Whitespace
/// around the text and either part is ignored: interface names cannot hold
/// any, and lists such as `eth*, lxc*` then read naturally.
///
/// [`Display`](fmt::Display) gives the `PATTERN:role` form back, with the
/// role always written out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InterfacePattern {
    /// Matched against whole interface names.
    pub pattern: glob::Pattern,
    /// The role of the interfaces it matches.
    pub role: InterfaceRole,
}

/// The role of an interface matched by a pattern that names none.
const DEFAULT_ROLE: InterfaceRole = InterfaceRole::Network;

impl InterfacePattern {
    /// Whether `ifname` is one of the interfaces this pattern describes.
    pub fn matches(&self, ifname: &str) -> bool {
        self.pattern.matches(ifname)
    }
}

impl FromStr for InterfacePattern {
    type Err = String;

    /// Parses `PATTERN` or `PATTERN:ROLE`. The error says what was wrong
    /// with which text, ready to show as it is.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        // Linux refuses ':' in interface names (dev_valid_name), so the first
        // one can only be the separator; a second one is part of a bad role.
        let (pattern, role) = match text.split_once(':') {
            Some((pattern, role)) => (pattern.trim(), Some(role.trim())),
            None => (text.trim(), None),
        };
        if pattern.is_empty() {
            return Err(format!("empty interface pattern in {text:?}: expected PATTERN or PATTERN:ROLE"));
        }
        let role = match role {
            None => DEFAULT_ROLE,
            Some(role) => parse_role(role).ok_or_else(|| {
                format!("unknown interface role {role:?} in {text:?}: expected \"endpoint\" or \"network\"")
            })?,
        };
        let pattern = glob::Pattern::new(pattern)
            .map_err(|e| format!("invalid interface pattern {pattern:?} in {text:?}: {e}"))?;
        Ok(InterfacePattern { pattern, role })
    }
}

impl fmt::Display for InterfacePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.pattern.as_str(), role_name(self.role))
    }
}

/// The name a pattern gives `role`, also used in log messages.
pub(crate) fn role_name(role: InterfaceRole) -> &'static str {
    match role {
        InterfaceRole::Endpoint => "endpoint",
        InterfaceRole::Network => "network",
    }
}

fn parse_role(name: &str) -> Option<InterfaceRole> {
    [InterfaceRole::Endpoint, InterfaceRole::Network]
        .into_iter()
        .find(|&role| role_name(role).eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> InterfacePattern {
        text.parse().unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn a_pattern_without_a_role_is_a_network_interface() {
        let pattern = parse("veth*");
        assert_eq!((pattern.pattern.as_str(), pattern.role), ("veth*", InterfaceRole::Network));
    }

    #[test]
    fn roles_are_read_in_any_case() {
        assert_eq!(parse("lxc*:endpoint").role, InterfaceRole::Endpoint);
        assert_eq!(parse("lxc*:Endpoint").role, InterfaceRole::Endpoint);
        assert_eq!(parse("eth0:NETWORK").role, InterfaceRole::Network);
    }

    #[test]
    fn whitespace_around_the_parts_is_ignored() {
        let pattern = parse(" lxc* : endpoint ");
        assert_eq!((pattern.pattern.as_str(), pattern.role), ("lxc*", InterfaceRole::Endpoint));
    }

    #[test]
    fn display_gives_the_pattern_and_role_back() {
        assert_eq!(parse("veth*").to_string(), "veth*:network");
        assert_eq!(parse("lxc[0-9]*:ENDPOINT").to_string(), "lxc[0-9]*:endpoint");
        assert_eq!(parse(&parse("eth?:endpoint").to_string()), parse("eth?:endpoint"));
    }

    #[test]
    fn matches_whole_names_only() {
        let pattern = parse("eth*");
        assert!(pattern.matches("eth0"));
        assert!(!pattern.matches("veth0"));
        assert!(parse("eth0").matches("eth0"));
        assert!(!parse("eth0").matches("eth01"));
    }

    #[test]
    fn errors_say_what_was_wrong_with_which_text() {
        let error = |text: &str| text.parse::<InterfacePattern>().expect_err(text);
        assert_eq!(error(""), r#"empty interface pattern in "": expected PATTERN or PATTERN:ROLE"#);
        assert_eq!(error(":endpoint"), r#"empty interface pattern in ":endpoint": expected PATTERN or PATTERN:ROLE"#);
        assert_eq!(
            error("lxc*:pod"),
            r#"unknown interface role "pod" in "lxc*:pod": expected "endpoint" or "network""#
        );
        assert_eq!(error("eth0:"), r#"unknown interface role "" in "eth0:": expected "endpoint" or "network""#);
        assert!(error("a:b:network").starts_with(r#"unknown interface role "b:network" in "a:b:network""#));
        let bad_glob = error("veth[:endpoint");
        assert!(bad_glob.starts_with(r#"invalid interface pattern "veth[" in "veth[:endpoint": "#), "{bad_glob}");
    }
}
