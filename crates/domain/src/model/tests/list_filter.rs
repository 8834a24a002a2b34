//! ListFilter.

use super::*;

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
