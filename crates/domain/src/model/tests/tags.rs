//! Tag / Tags.

use super::*;

#[test]
fn tag_is_printable_text_up_to_sixty_four_characters_case_kept() {
    assert_eq!(Tag::parse(" Python ").unwrap().as_str(), "Python");
    assert_eq!(
        Tag::parse("Machine Learning").unwrap().as_str(),
        "Machine Learning"
    );
    for ok in ["v1.2_beta-x", "a/b", "c++", "naïve", "a,b", "日本語"] {
        assert_eq!(Tag::parse(ok).unwrap().as_str(), ok);
    }
    assert!(Tag::parse(&"é".repeat(64)).is_ok());
    let err = Tag::parse(&"t".repeat(65)).unwrap_err();
    assert_eq!(err.field, "tag");
    assert!(err.message.contains("got 65"), "{err}");
    for bad in ["", " ", "a\nb", "a\u{7f}b", "nul\u{0}"] {
        assert_eq!(field_of(Tag::parse(bad)), "tag", "{bad:?}");
    }
    assert!(Tag::parse("ÉTÉ")
        .unwrap()
        .matches(&Tag::parse("été").unwrap()));
}

#[test]
fn tags_match_ignoring_case_the_ascii_way_and_the_unicode_way_alike() {
    let tag = |s: &str| Tag::parse(s).unwrap();
    assert!(tag("Bench-List").matches(&tag("bench-list")));
    assert!(tag("python").matches(&tag("PYTHON")));
    assert!(!tag("python").matches(&tag("pythons")));
    assert!(!tag("fleet").matches(&tag("bench-list")));
    // The Kelvin sign lowercases to an ASCII `k`: a non-ASCII tag can match an ASCII one.
    assert!(tag("\u{212A}8s").matches(&tag("k8s")));
    assert!(tag("k8s").matches(&tag("\u{212A}8s")));
    assert!(!tag("été").matches(&tag("ete")));
}

#[test]
fn tags_remove_duplicates_and_keep_first_order() {
    let tags = Tags::parse(&["Rust", "python", "rust", "Go", "PYTHON"]).unwrap();
    let got: Vec<&str> = tags.iter().map(Tag::as_str).collect();
    assert_eq!(got, ["Rust", "python", "Go"]);
    assert_eq!(tags.len(), 3);
    assert!(Tags::parse::<&str>(&[]).unwrap().is_empty());
}

#[test]
fn tags_error_names_the_index_of_the_bad_tag() {
    let err = Tags::parse(&["ok", "fine", "also-ok", "not\tok"]).unwrap_err();
    assert_eq!(err.field, "tags[3]");
    let err = Tags::parse(&[""]).unwrap_err();
    assert_eq!(err.field, "tags[0]");
}

#[test]
fn tags_allow_thirty_two_distinct_and_no_more() {
    let distinct: Vec<String> = (0..32).map(|i| format!("t{i}")).collect();
    assert_eq!(Tags::parse(&distinct).unwrap().len(), 32);
    // Duplicates do not count against the limit.
    let mut with_dups = distinct.clone();
    with_dups.extend(distinct.iter().map(|t| t.to_uppercase()));
    assert_eq!(Tags::parse(&with_dups).unwrap().len(), 32);
    let too_many: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    let err = Tags::parse(&too_many).unwrap_err();
    assert_eq!(err.field, "tags");
    assert!(err.message.contains("32"), "{err}");
}

#[test]
fn a_huge_tag_list_is_rejected_after_reading_one_tag_too_many() {
    // The duplicate check is quadratic: over 200 000 distinct tags it would take
    // minutes, so parsing must stop at the first tag past the limit. Counted in tags
    // read, not in time, so the test says the same on any machine.
    struct Counted<'a>(&'a std::cell::Cell<usize>, String);
    impl AsRef<str> for Counted<'_> {
        fn as_ref(&self) -> &str {
            self.0.set(self.0.get() + 1);
            &self.1
        }
    }
    let read = std::cell::Cell::new(0);
    let huge: Vec<Counted<'_>> = (0..200_000)
        .map(|i| Counted(&read, format!("t{i}")))
        .collect();
    assert_eq!(field_of(Tags::parse(&huge)), "tags");
    assert_eq!(read.get(), TAGS_MAX + 1);
}
