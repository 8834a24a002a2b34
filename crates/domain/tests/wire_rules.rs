//! The publisher checks its fields with `federation-wire`'s rules before sending; the
//! service checks them with the model's validators. These must agree: the slug, the
//! mesh namespace and the version alike (same verdict, same value, same words), and
//! every hub URL the service takes must pass the publisher's shape check.

use federation_domain::{HubUrl, MeshNamespace, Slug, Version};
use federation_wire::rules;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{0,60}",
        "[ -~]{0,110}",
        any::<String>(),
        "[\\x00-\\x1f\\u{ad}\\u{200b}-\\u{200f}\\u{202a}-\\u{202e}\\u{2066}-\\u{2069} a.]{0,6}",
        "(https?|HTTP|ftp)://[a-z@:\\[\\]0-9./?#%-]{0,20}",
        "[a-z0-9_-]{49,52}",
    ]
}

proptest! {
    #[test]
    fn slugs_agree(raw in text()) {
        let ours = rules::slug(&raw).map_err(|e| e.to_string());
        let theirs = Slug::parse(&raw).map(|s| s.to_string()).map_err(|e| e.to_string());
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn namespaces_agree(raw in text()) {
        let ours = rules::mesh_namespace(&raw).map(str::to_owned).map_err(|e| e.to_string());
        let theirs = MeshNamespace::parse(&raw).map(|s| s.to_string()).map_err(|e| e.to_string());
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn versions_agree(raw in text()) {
        let ours = rules::version(&raw).map(str::to_owned).map_err(|e| e.to_string());
        let theirs = Version::parse(&raw).map(|s| s.to_string()).map_err(|e| e.to_string());
        prop_assert_eq!(ours, theirs);
    }

    #[test]
    fn every_hub_url_the_service_takes_passes_the_shape_check(raw in text()) {
        if let Ok(url) = HubUrl::parse(&raw) {
            prop_assert_eq!(rules::hub_url(&raw), Ok(url.as_str()));
        }
    }

    #[test]
    fn format_characters_agree(c in any::<char>()) {
        prop_assert_eq!(rules::is_format_char(c), federation_domain::model::is_format_char(c));
    }
}

#[test]
fn the_limits_agree() {
    use federation_domain::model;
    assert_eq!(rules::SLUG_MAX, model::SLUG_MAX);
    assert_eq!(rules::HUB_URL_MAX, model::HUB_URL_MAX);
    assert_eq!(rules::MESH_NAMESPACE_MAX, model::MESH_NAMESPACE_MAX);
    assert_eq!(rules::VERSION_MAX, model::VERSION_MAX);
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
