//! Every value a pattern of the description admits, the domain's rule takes: the
//! patterns are stated beside the rules, and these properties keep them honest (the
//! conformance run finds the same, slower).

use federation_domain::model::{
    HubUrl, MeshNamespace, ProjectName, Slug, Tag, HUB_URL_MAX, HUB_URL_PATTERN,
    MESH_NAMESPACE_MAX, MESH_NAMESPACE_PATTERN, NAME_MAX, SLUG_MAX, SLUG_PATTERN, TAG_MAX,
    TEXT_PATTERN,
};
use federation_domain::MaintenanceInput;
use proptest::prelude::*;
use proptest::string::string_regex;

use super::{positive_up_to, span_pattern};

/// The pattern without its anchors, which the generator does not take (each pattern
/// here is one anchored expression).
fn generator(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    let inner = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .expect("an anchored pattern");
    string_regex(inner).expect("a pattern the generator reads")
}

fn within(max: usize) -> impl Fn(&String) -> bool {
    move |s| s.chars().count() <= max
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn slugs_the_pattern_admits_are_taken(s in generator(SLUG_PATTERN).prop_filter("maxLength", within(SLUG_MAX))) {
        prop_assert!(Slug::parse(&s).is_ok(), "{s:?}: {:?}", Slug::parse(&s));
    }

    #[test]
    fn namespaces_the_pattern_admits_are_taken(s in generator(MESH_NAMESPACE_PATTERN).prop_filter("maxLength", within(MESH_NAMESPACE_MAX))) {
        prop_assert!(MeshNamespace::parse(&s).is_ok(), "{s:?}: {:?}", MeshNamespace::parse(&s));
    }

    #[test]
    fn hub_urls_the_pattern_admits_are_taken(s in generator(HUB_URL_PATTERN).prop_filter("maxLength", within(HUB_URL_MAX))) {
        prop_assert!(HubUrl::parse(&s).is_ok(), "{s:?}: {:?}", HubUrl::parse(&s));
    }

    /// The other way round, for the one rule the service could be laxer in: a hub URL
    /// it takes (of strings near the shape, mutated as a fuzzer would) the pattern
    /// admits too, so a request the description calls invalid is never taken. (IPv6
    /// hosts in other spellings than the pattern's are the documented exception.)
    #[test]
    fn hub_urls_taken_are_admitted_by_the_pattern(
        s in r"[Hh][Tt]{2}[Pp][Ss]?://[a-zA-Z0-9_.:@%*-]{1,12}([/?#][!-~\u{a0}-\u{ff}]{0,12})?[!-~ \u{a0}-\u{2fff}]{0,3}"
    ) {
        let pattern = regex::Regex::new(HUB_URL_PATTERN).unwrap();
        if HubUrl::parse(&s).is_ok() {
            prop_assert!(pattern.is_match(&s), "{s:?} is taken but the pattern refuses it");
        }
    }

    #[test]
    fn text_the_pattern_admits_is_taken(s in generator(TEXT_PATTERN)) {
        if s.chars().count() <= NAME_MAX {
            prop_assert!(ProjectName::parse(&s).is_ok(), "{s:?}: {:?}", ProjectName::parse(&s));
        }
        if s.chars().count() <= TAG_MAX {
            prop_assert!(Tag::parse(&s).is_ok(), "{s:?}: {:?}", Tag::parse(&s));
        }
    }

    #[test]
    fn spans_the_pattern_admits_are_taken(s in generator(&span_pattern())) {
        let input = MaintenanceInput {
            reason: Some("kernel upgrade".into()),
            until: None,
            duration: Some(s.clone()),
        };
        let taken = input.validate(chrono::Utc::now(), "test");
        prop_assert!(taken.is_ok(), "{s:?}: {taken:?}");
    }
}

#[test]
fn positive_up_to_matches_exactly_the_numbers_from_one_to_max() {
    for max in [
        1_u64, 7, 9, 10, 11, 19, 20, 30, 99, 100, 101, 720, 999, 1000, 43_200,
    ] {
        let re = regex::Regex::new(&format!("^({})$", positive_up_to(max))).unwrap();
        for n in 0..=max * 2 + 11 {
            assert_eq!(
                re.is_match(&n.to_string()),
                (1..=max).contains(&n),
                "{n} of 1..={max}"
            );
        }
        assert!(!re.is_match("01"), "no leading zero in 1..={max}");
    }
}

#[test]
fn the_span_pattern_refuses_zero_and_one_past_the_longest_window() {
    let re = regex::Regex::new(&span_pattern()).unwrap();
    for taken in [
        "1", "30d", " 30 d ", "720h", "43200m", "2592000s", "2592000", "007m",
    ] {
        assert!(re.is_match(taken), "{taken:?}");
    }
    for refused in [
        "0", "0s", "31d", "721h", "43201m", "2592001", "", "1w", "-1s",
    ] {
        assert!(!re.is_match(refused), "{refused:?}");
    }
}
