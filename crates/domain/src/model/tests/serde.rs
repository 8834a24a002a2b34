//! Serde of the validated types.

use super::*;

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
