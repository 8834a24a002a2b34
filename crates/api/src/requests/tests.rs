//! The request types against bodies, and property tests of bodies and query strings.

mod unit {
    use super::super::*;
    use crate::body;

    pub(super) fn registration(bytes: &[u8]) -> Result<RegistrationInput, ApiError> {
        body::json::<RegisterRequest>(bytes)?.into_input()
    }

    pub(super) fn patch(bytes: &[u8]) -> Result<ProjectPatch, ApiError> {
        body::json::<PatchRequest>(bytes)?.into_patch()
    }

    fn err(r: Result<impl std::fmt::Debug, ApiError>) -> (u16, Option<String>) {
        let e = r.unwrap_err();
        (e.status().as_u16(), e.field().map(str::to_owned))
    }

    #[test]
    fn registration_types_are_checked_per_field() {
        assert_eq!(
            err(registration(br#"{"slug": 42}"#)),
            (422, Some("slug".into()))
        );
        assert_eq!(
            err(registration(br#"{"slug":"a","tags":"x"}"#)),
            (422, Some("tags".into()))
        );
        assert_eq!(
            err(registration(br#"{"slug":"a","tags":["x", 1]}"#)),
            (422, Some("tags[1]".into()))
        );
        assert_eq!(err(registration(b"[1,2]")), (422, None));
        assert_eq!(err(registration(b"{\"slug\":")), (400, None));
        assert_eq!(err(registration(b"  ")), (400, None));
    }

    /// serde reads a struct from an array too; a bulk's entries and nested objects
    /// must be objects, as the description says.
    #[test]
    fn a_bulk_entry_given_as_an_array_is_refused() {
        let bulk = body::json::<BulkRequest>(
            br#"{"projects": [["a", "A", "http://a:8000"], {"slug":"b","name":"B","hub_url":"http://b:8000"}]}"#,
        )
        .unwrap();
        let errors = bulk.into_registrations().unwrap().unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].index, 0);
        assert_eq!(errors[0].message, "must be a JSON object");
    }

    #[test]
    fn registration_keeps_values_and_ignores_unknown_fields() {
        let input = registration(
            br#"{"slug":"cc","name":"CC","hub_url":"http://x","tags":["a"],"extra":true,"mesh_namespace":null}"#,
        )
        .unwrap();
        assert_eq!(input.slug.as_deref(), Some("cc"));
        assert_eq!(input.mesh_namespace, None);
        assert_eq!(input.tags, Some(vec!["a".to_owned()]));
    }

    #[test]
    fn patch_rules() {
        assert_eq!(
            err(patch(br#"{"slug":"other"}"#)),
            (422, Some("slug".into()))
        );
        assert_eq!(err(patch(br#"{"name":null}"#)), (422, Some("name".into())));
        assert_eq!(err(patch(br#"{"name":""}"#)), (422, Some("name".into())));
        assert_eq!(
            err(patch(br#"{"hub_url":"ftp://x"}"#)),
            (422, Some("hub_url".into()))
        );
        assert_eq!(
            err(patch(br#"{"tags":["ok",""]}"#)),
            (422, Some("tags[1]".into()))
        );
        let spaced = patch(br#"{"tags":["Machine Learning"]}"#).unwrap();
        assert_eq!(spaced.tags.unwrap().len(), 1);
        // tags: null clears the tags, as a JSON merge patch does.
        let cleared = patch(br#"{"tags":null}"#).unwrap();
        assert!(cleared.tags.unwrap().is_empty());
        // heartbeat_interval: seconds sets it, null removes it, anything else names it.
        let set = patch(br#"{"heartbeat_interval":5}"#).unwrap();
        assert_eq!(
            set.heartbeat_interval.map(|i| i.map(|i| i.seconds())),
            Some(Some(5))
        );
        let whole = patch(br#"{"heartbeat_interval":30.0}"#).unwrap();
        assert!(whole.heartbeat_interval.is_some());
        let removed = patch(br#"{"heartbeat_interval":null}"#).unwrap();
        assert_eq!(removed.heartbeat_interval, Some(None));
        for bad in [r#""5""#, "0", "2.5", "86401", "-1"] {
            let body = format!(r#"{{"heartbeat_interval":{bad}}}"#);
            assert_eq!(
                err(patch(body.as_bytes())),
                (422, Some("heartbeat_interval".into())),
                "{bad}"
            );
        }
        assert!(patch(b"{}").unwrap().is_empty());
        let p = patch(br#"{"name":" New ","tags":[]}"#).unwrap();
        assert_eq!(p.name.unwrap().as_str(), "New");
        assert!(p.tags.unwrap().is_empty());
        assert!(p.hub_url.is_none());
    }

    #[test]
    fn metadata_is_an_object_and_takes_the_originals_allow_fanout() {
        let input = registration(
            br#"{"slug":"cc","name":"CC","hub_url":"http://x","allow_fanout":["a"],"metadata":{"team":"ops"}}"#,
        )
        .unwrap();
        assert_eq!(
            input.metadata,
            Some(serde_json::json!({"team": "ops", "allow_fanout": ["a"]}))
        );
        let own =
            registration(br#"{"slug":"cc","allow_fanout":[],"metadata":{"allow_fanout":true}}"#)
                .unwrap();
        assert_eq!(
            own.metadata,
            Some(serde_json::json!({"allow_fanout": true}))
        );
        assert_eq!(registration(br#"{"slug":"cc"}"#).unwrap().metadata, None);
        assert_eq!(
            err(registration(br#"{"metadata":[1]}"#)),
            (422, Some("metadata".into()))
        );
        assert_eq!(
            err(patch(br#"{"metadata":"x"}"#)),
            (422, Some("metadata".into()))
        );
        assert_eq!(
            err(patch(br#"{"metadata":{"a b":1}}"#)),
            (422, Some("metadata.a b".into()))
        );
        assert!(patch(br#"{"metadata":null}"#).unwrap().metadata.is_some());
        assert!(!patch(br#"{"metadata":{"k":null}}"#).unwrap().is_empty());
    }

    #[test]
    fn too_many_raw_tags_is_refused_early() {
        let tags: Vec<String> = (0..2000).map(|i| format!("\"t{i}\"")).collect();
        let body = format!(r#"{{"tags":[{}]}}"#, tags.join(","));
        assert_eq!(err(patch(body.as_bytes())), (422, Some("tags".into())));
    }
}

/// Property tests (issue 14, item 7): registration and patch bodies, and query strings.
/// `cargo xtask fuzz` runs every `fuzz_*` test with `PROPTEST_CASES`.
mod fuzz {
    use super::super::*;
    use super::unit::{patch, registration};
    use proptest::prelude::*;
    use serde_json::json;
    use serde_json::Map;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9_.-]{0,12}",
            "https?://[a-z0-9.-]{1,16}(/[ -~]{0,12})?",
            any::<String>(),
            "[\\x00-\\x1f\\u{200b}\\u{202e} a\"\\\\]{0,6}",
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            text().prop_map(Value::String),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(text(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A body: an object with the known fields, right or wrong, or any value, or bytes.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        let known = ["slug", "name", "hub_url", "mesh_namespace", "tags", "other"];
        let object =
            proptest::collection::vec((0..known.len(), value()), 0..8).prop_map(move |fields| {
                let mut obj = Map::new();
                for (i, v) in fields {
                    obj.insert(known.get(i).copied().unwrap_or("x").to_owned(), v);
                }
                serde_json::to_vec(&Value::Object(obj)).unwrap_or_default()
            });
        prop_oneof![
            4 => object,
            1 => value().prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
            1 => proptest::collection::vec(any::<u8>(), 0..300),
        ]
    }

    fn typed(e: &ApiError) -> Result<(), TestCaseError> {
        prop_assert!(e.status().is_client_error(), "{e:?}");
        prop_assert!(!e.code().is_empty() && !e.message().is_empty());
        Ok(())
    }

    proptest! {
        #[test]
        fn fuzz_registration_body(bytes in body()) {
            match registration(&bytes) {
                Ok(input) => {
                    let mut obj = Map::new();
                    for (k, v) in [
                        ("slug", &input.slug),
                        ("name", &input.name),
                        ("hub_url", &input.hub_url),
                        ("mesh_namespace", &input.mesh_namespace),
                    ] {
                        if let Some(v) = v {
                            obj.insert(k.to_owned(), json!(v));
                        }
                    }
                    if let Some(tags) = &input.tags {
                        obj.insert("tags".to_owned(), json!(tags));
                    }
                    let again = registration(&serde_json::to_vec(&obj).unwrap_or_default());
                    prop_assert_eq!(again, Ok(input.clone()));
                    // And the domain's verdict on it is typed too.
                    if let Err(e) = input.validate() {
                        prop_assert!(!e.field.is_empty());
                    }
                }
                Err(e) => typed(&e)?,
            }
        }

        #[test]
        fn fuzz_patch_body(bytes in body()) {
            match patch(&bytes) {
                Ok(p) => {
                    let mut obj = Map::new();
                    if let Some(n) = &p.name {
                        obj.insert("name".to_owned(), json!(n.as_str()));
                    }
                    if let Some(u) = &p.hub_url {
                        obj.insert("hub_url".to_owned(), json!(u.as_str()));
                    }
                    if let Some(t) = &p.tags {
                        let tags: Vec<&str> = t.iter().map(|t| t.as_str()).collect();
                        obj.insert("tags".to_owned(), json!(tags));
                    }
                    let again = patch(&serde_json::to_vec(&obj).unwrap_or_default());
                    prop_assert_eq!(again, Ok(p));
                }
                Err(e) => typed(&e)?,
            }
        }

        #[test]
        fn fuzz_query_string(query in prop_oneof![
            "[a-z=&%+0-9]{0,40}",
            any::<String>(),
            proptest::collection::vec(("(status|tag|limit|offset|after|x)", text()), 0..6)
                .prop_map(|pairs| pairs
                    .into_iter()
                    .map(|(k, v)| format!(
                        "{k}={}",
                        percent_encoding::utf8_percent_encode(&v, percent_encoding::NON_ALPHANUMERIC)
                    ))
                    .collect::<Vec<_>>()
                    .join("&")),
        ]) {
            // A repeated name is found whenever two decoded names are equal.
            let names: Vec<String> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let raw = p.split('=').next().unwrap_or_default().replace('+', " ");
                    percent_encoding::percent_decode_str(&raw).decode_utf8_lossy().into_owned()
                })
                .collect();
            let unique: std::collections::HashSet<&String> = names.iter().collect();
            let found = crate::duplicates::repeated_parameter(&query);
            prop_assert_eq!(found.is_some(), unique.len() < names.len());
        }
    }
}
