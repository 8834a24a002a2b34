use std::fmt;

use chrono::{TimeDelta, Utc};

use super::*;
use crate::error::ValidationError;

// ---- Maintenance -------------------------------------------------------------

fn window(reason: Option<&str>, until: Option<&str>, span: Option<&str>) -> MaintenanceInput {
    MaintenanceInput {
        reason: reason.map(str::to_owned),
        until: until.map(str::to_owned),
        duration: span.map(str::to_owned),
    }
}

#[test]
fn maintenance_needs_a_reason_and_exactly_one_end_in_the_next_30_days() {
    let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2025, 11, 18, 12, 0, 0).unwrap();
    let m = window(Some(" upgrade "), None, Some("30m"))
        .validate(now, "key:ab12")
        .unwrap();
    assert_eq!(
        (m.reason.as_str(), m.until - now, m.since, m.by.as_str()),
        ("upgrade", TimeDelta::minutes(30), now, "key:ab12")
    );
    assert!(m.is_active(now) && !m.is_active(m.until));
    for (span, secs) in [("90s", 90), ("2h", 7200), ("1d", 86_400), ("600", 600)] {
        let m = window(Some("x"), None, Some(span))
            .validate(now, "anonymous")
            .unwrap();
        assert_eq!(m.until - now, TimeDelta::seconds(secs), "{span}");
    }
    let m = window(Some("x"), Some("2025-11-18T13:00:00+01:00"), None);
    assert!(
        m.validate(now, "a").is_err(),
        "an hour ahead in +01:00 is now"
    );
    let m = window(Some("x"), Some("2025-11-18T13:00:00Z"), None)
        .validate(now, "a")
        .unwrap();
    assert_eq!(m.until - now, TimeDelta::hours(1));
    let field = |w: MaintenanceInput| w.validate(now, "a").unwrap_err().field;
    assert_eq!(field(window(None, None, Some("1h"))), "reason");
    assert_eq!(field(window(Some(" "), None, Some("1h"))), "reason");
    assert_eq!(field(window(Some("x"), None, None)), "until");
    assert_eq!(
        field(window(Some("x"), Some("2025-11-18T13:00:00Z"), Some("1h"))),
        "for"
    );
    assert_eq!(field(window(Some("x"), Some("tomorrow"), None)), "until");
    assert_eq!(
        field(window(Some("x"), Some("2025-11-18T11:00:00Z"), None)),
        "until"
    );
    assert_eq!(
        field(window(Some("x"), Some("2026-11-18T11:00:00Z"), None)),
        "until"
    );
    for bad in [
        "0s",
        "-5m",
        "5 weeks",
        "1y",
        "",
        "99999999999999999999d",
        "31d",
    ] {
        assert_eq!(field(window(Some("x"), None, Some(bad))), "for", "{bad}");
    }
}

fn field_of<T: fmt::Debug>(r: Result<T, ValidationError>) -> String {
    r.expect_err("should be rejected").field
}

// ---- Slug ----------------------------------------------------------------------

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

// ---- ProjectName ---------------------------------------------------------------

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

// ---- HubUrl --------------------------------------------------------------------

#[test]
fn hub_url_accepts_absolute_http_and_https_as_written() {
    for ok in [
        "http://localhost:8000",
        "https://hub.example.com/base/path?x=1",
        "http://127.0.0.1",
        "http://[::1]:8000/",
        "HTTPS://Example.com",
    ] {
        assert_eq!(HubUrl::parse(ok).unwrap().as_str(), ok);
    }
    // Trimmed, but otherwise kept exactly (no trailing slash added).
    assert_eq!(
        HubUrl::parse("  http://localhost:8000  ").unwrap().as_str(),
        "http://localhost:8000"
    );
}

#[test]
fn hub_url_rejects_other_schemes_relative_urls_and_missing_hosts() {
    for bad in [
        "",
        "   ",
        "localhost:8000",
        "/api/fed",
        "example.com",
        "ftp://example.com",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "nats://localhost:4222",
        "http://",
        "https://",
        "http://:80",
        "http:host",
        "http:/host",
        "HTTP:host:8000",
        "http://host/a b",
        "http://host/a\tb",
        "\u{1}http://host",
        "ht\ttp://host",
        "http://user:secret@host",
        "https://token@host/",
    ] {
        assert_eq!(field_of(HubUrl::parse(bad)), "hub_url", "{bad:?}");
    }
}

#[test]
fn hub_url_refuses_invisible_formatting_characters_as_names_do() {
    for bad in [
        "http://host/\u{202E}gpj.exe",
        "http://host/a\u{200B}b",
        "http://host/\u{2066}x\u{2069}",
        "http://host/?q=\u{FEFF}",
        "http://host/#\u{061C}",
        "\u{200E}http://host",
    ] {
        let err = HubUrl::parse(bad).unwrap_err();
        assert_eq!(err.field, "hub_url", "{bad:?}");
        assert!(err.message.contains("invisible"), "{bad:?}: {err}");
        // The very rule a name follows.
        let name = bad.trim_start_matches("http://host/");
        assert!(ProjectName::parse(&format!("n{name}")).is_err(), "{bad:?}");
    }
}

#[test]
fn hub_url_refuses_a_backslash_anywhere() {
    // Browsers read `\` as `/`: this opens evil.com while it reads as good.com.
    for bad in [
        "http://evil.com\\@good.com",
        "https://good.com\\..\\x",
        "http://good.com/a?b=\\",
        "http://good.com/#\\",
        "http:\\\\evil.com",
    ] {
        let err = HubUrl::parse(bad).unwrap_err();
        assert_eq!(err.field, "hub_url", "{bad:?}");
        assert!(err.message.contains("backslash"), "{bad:?}: {err}");
    }
}

#[test]
fn hub_url_is_at_most_five_hundred_characters() {
    let prefix = "https://example.com/";
    let ok = format!("{prefix}{}", "p".repeat(500 - prefix.len()));
    assert_eq!(ok.len(), 500);
    assert!(HubUrl::parse(&ok).is_ok());
    let long = format!("{ok}p");
    let err = HubUrl::parse(&long).unwrap_err();
    assert_eq!(err.field, "hub_url");
    assert!(err.message.contains("got 501"), "{err}");
    // Characters, not bytes: 501 characters of which 481 take two bytes each.
    let wide = format!("{prefix}{}", "é".repeat(481));
    let err = HubUrl::parse(&wide).unwrap_err();
    assert!(err.message.contains("got 501"), "{err}");
    // Past the host only URL characters: others are percent-encoded.
    assert!(HubUrl::parse(&format!("{prefix}%C3%A9")).is_ok());
    assert!(HubUrl::parse(&format!("{prefix}é")).is_err());
}

#[test]
fn hub_url_hosts_are_written_as_readers_read_them() {
    for ok in [
        "http://localhost:8000",
        "http://my_service:80/",
        "http://hub-1.internal.:8000/x?y=1#z",
        "http://xn--bcher-kva.de",
        "http://10.0.0.1:8000",
        "http://[::1]:8000",
        "http://[fe80::1]/",
        "http://a:/",
    ] {
        assert!(HubUrl::parse(ok).is_ok(), "{ok}");
    }
    for refused in [
        "http://A*",
        "http://bücher.de",
        "http://-a.com",
        "http://a-.com",
        "http://a..com",
        "http://a.1b",
        "http://10.1",
        "http://010.0.0.1",
        "http://0x7f.0.0.1",
        "http://a/<script>",
        "http://a/\"q\"",
        "http://a/{x}",
    ] {
        assert!(HubUrl::parse(refused).is_err(), "{refused}");
    }
}

// ---- MeshNamespace -------------------------------------------------------------

#[test]
fn mesh_namespace_defaults_to_hub_dot_slug_and_takes_any_subject_prefix() {
    let slug = Slug::parse("CommandCenter").unwrap();
    assert_eq!(MeshNamespace::for_slug(&slug).as_str(), "hub.commandcenter");
    for absent in [None, Some(""), Some("  ")] {
        assert_eq!(
            MeshNamespace::resolve(&slug, absent).unwrap().as_str(),
            "hub.commandcenter"
        );
    }
    assert_eq!(
        MeshNamespace::resolve(&slug, Some(" hub.commandcenter "))
            .unwrap()
            .as_str(),
        "hub.commandcenter"
    );
    for ok in ["veria.mesh", "hub.other", "A_b-1.c", "single"] {
        assert_eq!(
            MeshNamespace::resolve(&slug, Some(ok)).unwrap().as_str(),
            ok
        );
    }
    let long = format!("a.{}", "b".repeat(98));
    assert!(MeshNamespace::parse(&long).is_ok());
    for bad in [
        "hub..x",
        ".hub",
        "hub.",
        "hub.*",
        "hub.>",
        "hub x",
        "hüb",
        "hub\u{0}",
        &format!("{long}c"),
    ] {
        let err = MeshNamespace::resolve(&slug, Some(bad)).unwrap_err();
        assert_eq!(err.field, "mesh_namespace", "{bad}");
    }
}

// ---- Tag / Tags ----------------------------------------------------------------

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

// ---- Version -------------------------------------------------------------------

#[test]
fn version_is_trimmed_one_to_fifty_characters_without_controls() {
    assert_eq!(Version::parse(" 0.9.0 ").unwrap().as_str(), "0.9.0");
    assert!(Version::parse(&"v".repeat(50)).is_ok());
    let err = Version::parse(&"v".repeat(51)).unwrap_err();
    assert_eq!(err.field, "version");
    assert!(err.message.contains("got 51"), "{err}");
    assert!(
        Version::parse(&"é".repeat(50)).is_ok(),
        "characters, not bytes"
    );
    assert_eq!(field_of(Version::parse(&"é".repeat(51))), "version");
    assert_eq!(field_of(Version::parse("")), "version");
    assert_eq!(
        Version::parse("1.0\n").unwrap().as_str(),
        "1.0",
        "trailing newline is trimmed"
    );
    assert_eq!(field_of(Version::parse("1.0\n1")), "version");
    assert_eq!(field_of(Version::parse("1.\u{1b}[31m0")), "version");
}

// ---- Status --------------------------------------------------------------------

#[test]
fn status_parses_in_any_case_and_displays_lowercase() {
    for (raw, want) in [
        ("online", Status::Online),
        ("ONLINE", Status::Online),
        (" Degraded ", Status::Degraded),
        ("oFFline", Status::Offline),
    ] {
        assert_eq!(Status::parse(raw).unwrap(), want, "{raw}");
        assert_eq!(raw.parse::<Status>().unwrap(), want, "{raw}");
    }
    for st in Status::ALL {
        assert_eq!(Status::parse(&st.to_string()).unwrap(), st);
    }
    for bad in ["", "up", "ok", "down", "onlinex"] {
        assert_eq!(field_of(Status::parse(bad)), "status", "{bad:?}");
    }
}

#[test]
fn status_serde_is_lowercase_and_deserializes_in_any_case() {
    assert_eq!(
        serde_json::to_string(&Status::Degraded).unwrap(),
        "\"degraded\""
    );
    for st in Status::ALL {
        let json = serde_json::to_string(&st).unwrap();
        assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), st);
    }
    assert_eq!(
        serde_json::from_str::<Status>("\"Online\"").unwrap(),
        Status::Online
    );
    assert!(serde_json::from_str::<Status>("\"sleepy\"").is_err());
    assert!(serde_json::from_str::<Status>("1").is_err());
}

// ---- RegistrationInput ---------------------------------------------------------

const SEED_BODY: &str = r#"{
    "slug": "commandcenter",
    "name": "CommandCenter",
    "hub_url": "http://localhost:8000",
    "mesh_namespace": "hub.commandcenter",
    "tags": ["python"]
}"#;

fn input(slug: &str, name: &str, url: &str) -> RegistrationInput {
    RegistrationInput {
        slug: Some(slug.into()),
        name: Some(name.into()),
        hub_url: Some(url.into()),
        mesh_namespace: None,
        tags: None,
        metadata: None,
        heartbeat_interval: None,
    }
}

#[test]
fn registration_accepts_the_seed_body() {
    let input: RegistrationInput = serde_json::from_str(SEED_BODY).unwrap();
    let r = input.validate().unwrap();
    assert_eq!(r.slug.as_str(), "commandcenter");
    assert_eq!(r.name.as_str(), "CommandCenter");
    assert_eq!(r.hub_url.as_str(), "http://localhost:8000");
    assert_eq!(r.mesh_namespace.as_str(), "hub.commandcenter");
    assert_eq!(r.tags.as_slice(), [Tag::parse("python").unwrap()]);
}

#[test]
fn registration_defaults_namespace_and_tags() {
    let r = input("Alpha", "Alpha", "https://alpha.example")
        .validate()
        .unwrap();
    assert_eq!(r.slug.as_str(), "alpha");
    assert_eq!(r.mesh_namespace.as_str(), "hub.alpha");
    assert!(r.tags.is_empty());
    // Only the required fields in JSON; unknown fields are ignored.
    let body = r#"{"slug":"a","name":"A","hub_url":"http://a","extra":1,"tags":null}"#;
    let r = serde_json::from_str::<RegistrationInput>(body)
        .unwrap()
        .validate()
        .unwrap();
    assert_eq!(r.mesh_namespace.as_str(), "hub.a");
}

#[test]
fn registration_names_each_missing_required_field() {
    let full = input("a", "A", "http://a");
    let mut no_slug = full.clone();
    no_slug.slug = None;
    let mut no_name = full.clone();
    no_name.name = None;
    let mut no_url = full.clone();
    no_url.hub_url = None;
    for (inp, field) in [(no_slug, "slug"), (no_name, "name"), (no_url, "hub_url")] {
        let err = inp.validate().unwrap_err();
        assert_eq!(err.field, field);
        assert_eq!(err.message, "is required");
    }
    let err = RegistrationInput::default().validate().unwrap_err();
    assert_eq!(err.field, "slug", "first failure in field order");
}

#[test]
fn registration_names_each_invalid_field() {
    assert_eq!(
        field_of(input("bad slug", "A", "http://a").validate()),
        "slug"
    );
    assert_eq!(field_of(input("a", " ", "http://a").validate()), "name");
    assert_eq!(field_of(input("a", "A", "ftp://a").validate()), "hub_url");
    let mut wrong_ns = input("a", "A", "http://a");
    wrong_ns.mesh_namespace = Some("hub..b".into());
    assert_eq!(field_of(wrong_ns.validate()), "mesh_namespace");
    let mut bad_tag = input("a", "A", "http://a");
    bad_tag.tags = Some(vec!["ok".into(), "no\nway".into()]);
    assert_eq!(field_of(bad_tag.validate()), "tags[1]");
}

#[test]
fn registration_body_with_wrong_types_does_not_deserialize() {
    assert!(serde_json::from_str::<RegistrationInput>(r#"{"slug": 5}"#).is_err());
    assert!(serde_json::from_str::<RegistrationInput>(r#"{"tags": "python"}"#).is_err());
}

// ---- ListFilter ----------------------------------------------------------------

#[test]
fn list_filter_defaults() {
    let f = ListFilter::parse(None, None, None, None).unwrap();
    assert_eq!(f, ListFilter::default());
    assert_eq!(f.limit, None, "no limit: every project, as the original");
    assert_eq!(f.offset, 0);
    assert_eq!(f.status, None);
    assert_eq!(f.tag, None);
}

#[test]
fn list_filter_parses_valid_values() {
    let f = ListFilter::parse(Some("ONLINE"), Some("Python"), Some("1000"), Some("5")).unwrap();
    assert_eq!(f.status, Some(Status::Online));
    assert_eq!(f.tag, Some(Tag::parse("Python").unwrap()));
    assert_eq!(f.limit, Some(1000));
    assert_eq!(f.offset, 5);
    assert_eq!(
        ListFilter::parse(None, None, Some("1"), Some("0"))
            .unwrap()
            .limit,
        Some(1)
    );
}

#[test]
fn list_filter_rejects_out_of_range_values_naming_the_field() {
    assert_eq!(
        field_of(ListFilter::parse(None, None, Some("0"), None)),
        "limit"
    );
    assert_eq!(
        field_of(ListFilter::parse(None, None, Some("1001"), None)),
        "limit"
    );
    assert_eq!(
        field_of(ListFilter::parse(None, None, Some("-1"), None)),
        "limit"
    );
    assert_eq!(
        field_of(ListFilter::parse(
            None,
            None,
            Some("9223372036854775807"),
            None
        )),
        "limit"
    );
    assert_eq!(
        field_of(ListFilter::parse(None, None, None, Some("-1"))),
        "offset"
    );
    assert_eq!(
        ListFilter::parse(None, None, None, Some("9223372036854775807"))
            .unwrap()
            .offset,
        i64::MAX as u64
    );
    for raw in ["ten", "1.5", "", "99999999999999999999"] {
        assert_eq!(
            field_of(ListFilter::parse(None, None, Some(raw), None)),
            "limit"
        );
        assert_eq!(
            field_of(ListFilter::parse(None, None, None, Some(raw))),
            "offset"
        );
    }
    assert_eq!(
        field_of(ListFilter::parse(
            None,
            None,
            None,
            Some("9223372036854775808")
        )),
        "offset"
    );
    // One rule, one message, for lists and histories alike.
    assert_eq!(
        parse_limit(Some("0")).unwrap_err().message,
        "must be an integer between 1 and 1000"
    );
    assert_eq!(parse_limit(Some("ten")), parse_limit(Some("1001")));
    assert_eq!(parse_limit(None), Ok(LIST_LIMIT_DEFAULT));
    assert_eq!(
        field_of(ListFilter::parse(Some("sleepy"), None, None, None)),
        "status"
    );
    assert_eq!(
        field_of(ListFilter::parse(None, Some("a\u{1}b"), None, None)),
        "tag"
    );
}

// ---- serde of the validated types ----------------------------------------------

#[test]
fn validated_types_round_trip_through_serde() {
    let slug: Slug = serde_json::from_str("\"Alpha-1\"").unwrap();
    assert_eq!(slug.as_str(), "alpha-1");
    assert_eq!(serde_json::to_string(&slug).unwrap(), "\"alpha-1\"");
    let url: HubUrl = serde_json::from_str("\"http://localhost:8000\"").unwrap();
    assert_eq!(
        serde_json::to_string(&url).unwrap(),
        "\"http://localhost:8000\""
    );
    let name: ProjectName = serde_json::from_str("\" Name \"").unwrap();
    assert_eq!(name.as_str(), "Name");
    let version: Version = serde_json::from_str("\"1.0\"").unwrap();
    assert_eq!(serde_json::to_string(&version).unwrap(), "\"1.0\"");
    let tags: Tags = serde_json::from_str(r#"["B","a","b"]"#).unwrap();
    assert_eq!(serde_json::to_string(&tags).unwrap(), r#"["B","a"]"#);
    let ns = MeshNamespace::for_slug(&slug);
    assert_eq!(serde_json::to_string(&ns).unwrap(), "\"hub.alpha-1\"");
}

#[test]
fn deserializing_runs_validation() {
    let err = serde_json::from_str::<Slug>("\"bad.slug\"").unwrap_err();
    assert!(err.to_string().contains("slug"), "{err}");
    assert!(serde_json::from_str::<HubUrl>("\"ftp://x\"").is_err());
    assert!(serde_json::from_str::<ProjectName>("\"\"").is_err());
    assert!(serde_json::from_str::<Tag>("\"a\\nb\"").is_err());
    assert!(serde_json::from_str::<Version>(&format!("\"{}\"", "v".repeat(51))).is_err());
    let err = serde_json::from_str::<Tags>(r#"["ok","not\u0007ok"]"#).unwrap_err();
    assert!(err.to_string().contains("tags[1]"), "{err}");
    // FromStr goes through the same rules.
    assert!("Alpha".parse::<Slug>().is_ok());
    assert!("-alpha".parse::<Slug>().is_err());
}

#[test]
fn validation_error_displays_field_and_message_and_can_be_renamed() {
    let err = ValidationError::new("slug", "must not be empty");
    assert_eq!(err.to_string(), "slug: must not be empty");
    assert_eq!(err.at("projects[2].slug").field, "projects[2].slug");
}

#[test]
fn project_patch_is_empty_only_without_fields() {
    assert!(ProjectPatch::default().is_empty());
    let patch = ProjectPatch {
        name: Some(ProjectName::parse("x").unwrap()),
        ..ProjectPatch::default()
    };
    assert!(!patch.is_empty());
}
