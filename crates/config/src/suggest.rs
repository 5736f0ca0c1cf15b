//! "Did you mean": the known word closest to a misspelt one.

/// How alike two words must be (Jaro-Winkler, after [`normalize`]) for one
/// to be suggested for the other. High enough that `zzz` suggests nothing,
/// low enough that a dropped or doubled letter still finds its word.
const THRESHOLD: f64 = 0.8;

/// The candidate closest to `word`, if it is close enough to be what the
/// user meant.
///
/// Words are compared without case, `_` or `-`, so `sourcePods`,
/// `source-pods` and `SOURCE_PODS` all find `source_pod`, and `Ip` finds
/// `IP`. An exact match (so normalised) is always the answer.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = normalize(word);
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(&word, &normalize(candidate)), candidate))
        .filter(|(score, _)| *score > THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// `word` lowercased, without `_` and `-`.
fn normalize(word: &str) -> String {
    word.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn finds_the_word_meant_whatever_its_case_and_separators() {
        let fields = ["source_pod", "destination_pod", "verdict"];
        assert_eq!(closest("source_pods", fields), Some("source_pod"));
        assert_eq!(closest("sourcePodd", fields), Some("source_pod"));
        assert_eq!(closest("verdicts", fields), Some("verdict"));
        assert_eq!(closest("zzz", fields), None);
        assert_eq!(closest("Ip", ["IP", "l4"]), Some("IP"));
        assert_eq!(closest("includeFilter", ["includeFilters", "excludeFilters"]), Some("includeFilters"));
        assert_eq!(closest("anything", []), None);
    }
}
