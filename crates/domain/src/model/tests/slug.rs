//! Slug.

use super::*;

#[test]
fn slug_accepts_lowercase_digits_dashes_and_lowercases_and_trims() {
    assert_eq!(
        Slug::parse("commandcenter").unwrap().as_str(),
        "commandcenter"
    );
    assert_eq!(
        Slug::parse("CommandCenter").unwrap().as_str(),
        "commandcenter"
    );
    assert_eq!(Slug::parse("  hub-2  ").unwrap().as_str(), "hub-2");
    assert_eq!(Slug::parse("a").unwrap().as_str(), "a");
    assert_eq!(Slug::parse("9").unwrap().as_str(), "9");
    assert_eq!(Slug::parse("a--b").unwrap().as_str(), "a--b");
    // Two spellings are one project.
    assert_eq!(Slug::parse("ALPHA").unwrap(), Slug::parse("alpha").unwrap());
}

#[test]
fn slug_length_is_one_to_fifty() {
    assert_eq!(Slug::parse(&"a".repeat(50)).unwrap().as_str().len(), 50);
    let err = Slug::parse(&"a".repeat(51)).unwrap_err();
    assert_eq!(err.field, "slug");
    assert!(err.message.contains("50"), "{err}");
    assert!(err.message.contains("got 51"), "{err}");
    for empty in ["", "   ", "\t\n"] {
        let err = Slug::parse(empty).unwrap_err();
        assert_eq!(err.field, "slug");
        assert!(err.message.contains("empty"), "{err}");
    }
}

#[test]
fn slug_rejects_other_characters() {
    assert_eq!(Slug::parse("legacy_hub").unwrap().as_str(), "legacy_hub");
    assert_eq!(
        Slug::parse("Legacy_Hub").unwrap(),
        Slug::parse("legacy_hub").unwrap()
    );
    for bad in [
        "a.b",
        "a b",
        "a/b",
        "hub.alpha",
        "café",
        "ａｂ",
        "a\u{0}b",
        "*",
        ">",
    ] {
        let err = Slug::parse(bad).unwrap_err();
        assert_eq!(err.field, "slug", "{bad:?}");
        assert!(err.message.contains("a-z"), "{bad:?}: {err}");
    }
}

#[test]
fn slug_of_non_ascii_characters_is_rejected_for_the_alphabet_not_for_length() {
    // 30 characters, 60 bytes: the length message must not claim 60 characters.
    let err = Slug::parse(&"é".repeat(30)).unwrap_err();
    assert!(err.message.contains("a-z"), "{err}");
}

#[test]
fn slug_must_not_start_or_end_with_a_dash() {
    for bad in ["-a", "a-", "-", "--", " -alpha"] {
        let err = Slug::parse(bad).unwrap_err();
        assert_eq!(err.field, "slug", "{bad:?}");
        assert!(err.message.contains("'-'"), "{bad:?}: {err}");
    }
}

#[test]
fn slug_may_hold_but_not_start_with_an_underscore() {
    assert_eq!(Slug::parse("legacy_hub").unwrap().as_str(), "legacy_hub");
    assert_eq!(Slug::parse("hub_").unwrap().as_str(), "hub_");
    for bad in ["_canary-1a2b", "_"] {
        let err = Slug::parse(bad).unwrap_err();
        assert_eq!(err.message, "must not start with '_'", "{bad:?}");
    }
}
