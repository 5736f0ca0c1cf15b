//! Name patterns with `*` wildcards: `source_fqdn`, `destination_fqdn` and `node_name`.

use regex::Regex;

use super::FilterError;
use super::event::{Event, Side};

/// The cluster a flow's node name without `cluster/` belongs to.
const DEFAULT_CLUSTER: &str = "default";

/// What `*` stands for: any run of DNS name characters, dots included.
const WILDCARD: &str = "[-.0-9a-z]*";

/// Some of the endpoint's DNS names matches one of the patterns.
#[derive(Debug)]
pub(crate) struct FqdnFilter {
    side: Side,
    regex: Regex,
}

impl FqdnFilter {
    pub(crate) fn new(side: Side, name: &str, patterns: &[String]) -> Result<Self, FilterError> {
        let mut alternatives = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let fail =
                |reason: &str| FilterError::field(name, "invalid pattern").with_value(pattern).with_detail(reason);
            let trimmed = pattern.trim();
            let lowered = trimmed.strip_suffix('.').unwrap_or(trimmed).to_lowercase();
            if lowered.is_empty() {
                return Err(fail("empty pattern"));
            }
            if lowered.ends_with('.') {
                return Err(fail("more than one trailing dot"));
            }
            alternatives.push(name_pattern(&lowered).map_err(|reason| fail(&reason))?);
        }
        let regex = anchored(&alternatives).map_err(|e| FilterError::field(name, "invalid patterns").with_detail(e))?;
        Ok(Self { side, regex })
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(flow) = event.flow() else {
            return false;
        };
        let names = match self.side {
            Side::Source => &flow.source_names,
            Side::Destination => &flow.destination_names,
        };
        names.iter().any(|name| self.regex.is_match(name))
    }
}

/// The flow's node, as `cluster/node`, matches one of the `[cluster/]node` patterns.
#[derive(Debug)]
pub(crate) struct NodeNameFilter {
    regex: Regex,
}

impl NodeNameFilter {
    pub(crate) fn new(name: &str, patterns: &[String]) -> Result<Self, FilterError> {
        let mut alternatives = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            let fail =
                |reason: &str| FilterError::field(name, "invalid pattern").with_value(pattern).with_detail(reason);
            if pattern.is_empty() {
                return Err(fail("empty pattern"));
            }
            let (cluster, node) = match pattern.split_once('/') {
                None => ("", pattern.as_str()),
                Some((_, node)) if node.contains('/') => return Err(fail("more than one `/`")),
                Some(parts) => parts,
            };
            let part = |part: &str| {
                if part.is_empty() { Ok("[^/]*".to_owned()) } else { name_pattern(part) }
            };
            let cluster = part(cluster).map_err(|reason| fail(&reason))?;
            let node = part(node).map_err(|reason| fail(&reason))?;
            alternatives.push(format!("{cluster}/{node}"));
        }
        let regex = anchored(&alternatives).map_err(|e| FilterError::field(name, "invalid patterns").with_detail(e))?;
        Ok(Self { regex })
    }

    pub(crate) fn matches(&self, event: Event<'_>) -> bool {
        let Some(flow) = event.flow() else {
            return false;
        };
        let node = flow.node_name.as_str();
        if node.is_empty() {
            return false;
        }
        if node.contains('/') {
            return self.regex.is_match(node);
        }
        // Rare (flows name their cluster); allocating here keeps the regex simple.
        self.regex.is_match(&format!("{DEFAULT_CLUSTER}/{node}"))
    }
}

/// The regex for one name pattern: `*` is a wildcard, and only lowercase DNS
/// name characters are allowed.
fn name_pattern(pattern: &str) -> Result<String, String> {
    let mut regex = String::with_capacity(pattern.len() * 2);
    for c in pattern.chars() {
        match c {
            'a'..='z' | '0'..='9' | '-' | '_' => regex.push(c),
            '.' => regex.push_str("\\."),
            '*' => regex.push_str(WILDCARD),
            _ => {
                return Err(format!("character {c:?} not allowed (use a-z, 0-9, `-`, `_`, `.` and `*`)"));
            }
        }
    }
    Ok(regex)
}

fn anchored(alternatives: &[String]) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{})$", alternatives.join("|")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_crosses_dots_and_matches_empty() {
        let regex = anchored(&[name_pattern("*.cilium.io").unwrap()]).unwrap();
        assert!(regex.is_match("docs.cilium.io"));
        assert!(regex.is_match("a.b.cilium.io"));
        assert!(regex.is_match(".cilium.io"));
        assert!(!regex.is_match("cilium.io"));
        assert!(!regex.is_match("docs.cilium.io.evil.com"));
        assert!(!regex.is_match("docsxcilium.io"));
    }
}
