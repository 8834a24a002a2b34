//! MeshNamespace.

use super::*;

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
