//! The publisher checks a hub URL's shape with `federation-wire`'s rule before sending;
//! the service parses it fully. Every hub URL the service takes must pass the
//! publisher's shape check. (The slug, namespace and version rules and the format
//! characters are the wire crate's own, used by the model: one source, nothing to
//! compare.)

use federation_domain::HubUrl;
use federation_wire::rules;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{0,60}",
        "[ -~]{0,110}",
        any::<String>(),
        "[\\x00-\\x1f\\u{ad}\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069} a.]{0,6}",
        "(https?|HTTP|ftp)://[a-z@:\\[\\]0-9./?#%-]{0,20}",
    ]
}

proptest! {
    #[test]
    fn every_hub_url_the_service_takes_passes_the_shape_check(raw in text()) {
        if let Ok(url) = HubUrl::parse(&raw) {
            prop_assert_eq!(rules::hub_url(&raw), Ok(url.as_str()));
        }
    }
}

#[test]
fn hub_urls_the_service_refuses_for_their_shape_are_refused_here_too() {
    for raw in [
        "ftp://x",
        "http:x",
        "http://",
        "http://u:p@x",
        "http://tok@x",
        "http://a b",
    ] {
        assert!(HubUrl::parse(raw).is_err(), "{raw}");
        assert!(rules::hub_url(raw).is_err(), "{raw}");
    }
}
