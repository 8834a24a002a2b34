//! ProjectName.

use super::*;

#[test]
fn project_name_is_trimmed_and_counted_in_characters() {
    assert_eq!(
        ProjectName::parse("  Command Center  ").unwrap().as_str(),
        "Command Center"
    );
    // 200 multi-byte characters (400 bytes) are 200 characters: accepted.
    let wide = "é".repeat(200);
    assert_eq!(ProjectName::parse(&wide).unwrap().as_str(), wide);
    let err = ProjectName::parse(&"é".repeat(201)).unwrap_err();
    assert_eq!(err.field, "name");
    assert!(err.message.contains("got 201"), "{err}");
    // The limit is on the text as given, blanks around included: the bound the API's
    // description states (maxLength) is the one that holds.
    assert!(ProjectName::parse(&format!(" {} ", "n".repeat(198))).is_ok());
    let err = ProjectName::parse(&format!(" {}", "n".repeat(200))).unwrap_err();
    assert!(err.message.contains("got 201"), "{err}");
}

#[test]
fn names_and_tags_refuse_invisible_format_characters() {
    for c in [
        '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200B}', '\u{200D}', '\u{200F}',
        '\u{2028}', '\u{2029}', '\u{FEFF}', '\u{00AD}', '\u{061C}',
    ] {
        let raw = format!("evil{c}name");
        let err = ProjectName::parse(&raw).unwrap_err();
        assert_eq!(err.field, "name", "{c:?}");
        assert!(err.message.contains("invisible"), "{c:?}: {err}");
        let err = Tags::parse(&["ok", raw.as_str()]).unwrap_err();
        assert_eq!(err.field, "tags[1]", "{c:?}");
    }
    // Ordinary text of any script, and emoji without joiners, are fine.
    for ok in ["Ünïcödé ✓", "שלום", "مرحبا", "日本語", "🚀 Rocket"] {
        ProjectName::parse(ok).unwrap();
        Tags::parse(&[ok]).unwrap();
    }
}

#[test]
fn project_name_rejects_empty_and_control_characters() {
    assert_eq!(field_of(ProjectName::parse("")), "name");
    assert_eq!(field_of(ProjectName::parse(" \t ")), "name");
    for bad in ["a\nb", "a\u{7}b", "tab\there", "nul\u{0}"] {
        let err = ProjectName::parse(bad).unwrap_err();
        assert_eq!(err.field, "name");
        assert!(err.message.contains("control"), "{bad:?}: {err}");
    }
}
