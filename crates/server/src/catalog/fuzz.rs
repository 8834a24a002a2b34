use super::*;
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_-]{0,12}",
        "https?://[a-z0-9.-]{1,16}(/[ -~]{0,12})?",
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

/// A YAML scalar, sequence or mapping for one field of an entry.
fn yaml_value() -> impl Strategy<Value = yaml_serde::Value> {
    use yaml_serde::Value;
    prop_oneof![
        4 => text().prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        2 => proptest::collection::vec(text().prop_map(Value::String), 0..5)
            .prop_map(Value::Sequence),
    ]
}

/// A catalog file: well-formed `projects:` entries with any fields, or any text.
fn file() -> impl Strategy<Value = String> {
    let keys = [
        "slug",
        "name",
        "hub_url",
        "mesh_namespace",
        "tags",
        "allow_fanout",
        "unknown",
    ];
    let entry =
        proptest::collection::vec((0..keys.len(), yaml_value()), 0..7).prop_map(move |fields| {
            let mut map = yaml_serde::Mapping::new();
            for (i, v) in fields {
                map.insert(keys.get(i).copied().unwrap_or("x").into(), v);
            }
            yaml_serde::Value::Mapping(map)
        });
    let structured = proptest::collection::vec(entry, 0..5).prop_map(|entries| {
        let mut top = yaml_serde::Mapping::new();
        top.insert("projects".into(), yaml_serde::Value::Sequence(entries));
        yaml_serde::to_string(&top).unwrap_or_default()
    });
    prop_oneof![
        4 => structured,
        1 => any::<String>(),
        1 => "(projects:|  - |slug: |name: |tags: \\[|\\]|\n|[a-z:/.]{0,8}| ){0,20}",
    ]
}

proptest! {
        #[test]
        fn fuzz_catalog_file(text in file()) {
            match parse("projects.yaml", &text) {
                Ok(catalog) => {
                    // Written out as a catalog file again, it reads back the same.
                    let entries: Vec<yaml_serde::Value> = catalog
                        .registrations
                        .iter()
                        .map(|r| {
                            let mut m = yaml_serde::Mapping::new();
                            m.insert("slug".into(), r.slug.as_str().into());
                            m.insert("name".into(), r.name.as_str().into());
                            m.insert("hub_url".into(), r.hub_url.as_str().into());
                            m.insert("mesh_namespace".into(), r.mesh_namespace.as_str().into());
                            let tags: Vec<yaml_serde::Value> =
                                r.tags.iter().map(|t| t.as_str().into()).collect();
                            m.insert("tags".into(), yaml_serde::Value::Sequence(tags));
                            if let Some(i) = r.heartbeat_interval {
                                m.insert("heartbeat_interval".into(), i.seconds().into());
                            }
                            let metadata: serde_json::Value =
                                serde_json::from_str(&r.metadata.to_json_string())
                                    .unwrap_or_default();
                            if let Ok(v) = yaml_serde::to_value(metadata) {
                                m.insert("metadata".into(), v);
                            }
                            yaml_serde::Value::Mapping(m)
                        })
                        .collect();
                    let mut top = yaml_serde::Mapping::new();
                    top.insert("projects".into(), yaml_serde::Value::Sequence(entries));
                    top.insert("prune".into(), catalog.prune.into());
                    let again = yaml_serde::to_string(&top).unwrap_or_default();
                    let reread = parse("projects.yaml", &again);
                    prop_assert!(reread.is_ok(), "{:?}", reread.err());
                    prop_assert_eq!(reread.ok(), Some(catalog));
                }
                Err(CatalogError::Syntax { message, .. }) => prop_assert!(!message.is_empty()),
                Err(CatalogError::Entry { error, .. }) => prop_assert!(!error.field.is_empty()),
            }
        }

}
