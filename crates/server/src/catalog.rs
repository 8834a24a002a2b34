//! `config/projects.yaml`: the catalog seeded at start.
//!
//! The original's format: a `projects:` list of `slug, name, hub_url, mesh_namespace,
//! tags, allow_fanout`, plus our `metadata` mapping. Keys of an entry we do not model
//! (the original's `allow_fanout`, anything else) are kept in its metadata, so nothing
//! of the file is lost; a key we model with the wrong type stops the start. Every entry
//! is validated by the same domain types as a POST; the first bad entry is reported
//! with its index, slug and field, and nothing is written. Valid files are applied in
//! one transaction (see `Federation::register_all`).

use std::path::Path;

use anyhow::Context;
use federation_domain::{Origin, Registration, RegistrationInput, ValidationError};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    projects: Option<Vec<yaml_serde::Value>>,
    /// The file is the truth for the projects it registered: applying it removes those
    /// it no longer lists.
    #[serde(default)]
    prune: Option<bool>,
    /// Top-level keys we do not read: warned about (the original ignored them).
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, yaml_serde::Value>,
}

/// A parsed catalog file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Its entries, validated, with the file as their origin.
    pub registrations: Vec<Registration>,
    /// `prune: true`: remove the file's projects it no longer lists.
    pub prune: bool,
}

#[derive(Debug, Deserialize)]
struct Entry {
    slug: Option<String>,
    name: Option<String>,
    hub_url: Option<String>,
    #[serde(default)]
    mesh_namespace: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    /// Seconds between the project's heartbeats (its thresholds follow it).
    #[serde(default)]
    heartbeat_interval: Option<i64>,
    #[serde(default)]
    metadata: Option<yaml_serde::Mapping>,
    /// Every other key (the original's `allow_fanout: []`): kept in the metadata.
    #[serde(flatten)]
    other: std::collections::BTreeMap<String, yaml_serde::Value>,
}

/// Keys of the original's format that we keep in metadata without a word.
const ORIGINAL_KEYS: [&str; 1] = ["allow_fanout"];

impl Entry {
    /// `metadata:` and the keys we do not model, as one JSON object (`metadata:` wins
    /// over a key of the same name outside it).
    fn metadata(
        metadata: Option<yaml_serde::Mapping>,
        other: std::collections::BTreeMap<String, yaml_serde::Value>,
    ) -> Result<Option<serde_json::Value>, ValidationError> {
        if metadata.is_none() && other.is_empty() {
            return Ok(None);
        }
        let mut out = serde_json::Map::new();
        for (key, value) in other {
            let json = serde_json::to_value(&value).map_err(|e| {
                ValidationError::new(key.clone(), format!("cannot be kept as JSON metadata: {e}"))
            })?;
            out.insert(key, json);
        }
        if let Some(map) = metadata {
            let json = serde_json::to_value(&map).map_err(|e| {
                ValidationError::new("metadata", format!("must be a mapping of JSON values: {e}"))
            })?;
            if let serde_json::Value::Object(map) = json {
                out.extend(map);
            }
        }
        Ok(Some(serde_json::Value::Object(out)))
    }
}

/// Why the catalog file was refused.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: not valid YAML of the form `projects: [...]`: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: projects[{index}]{slug}: {error}")]
    Entry {
        path: String,
        index: usize,
        slug: String,
        error: ValidationError,
    },
}

fn slug_label(slug: Option<&str>) -> String {
    slug.map(|s| format!(" (slug {s:?})")).unwrap_or_default()
}

/// A key we model with the wrong YAML type, named: `tags: must be a list of strings`.
fn check_types(entry: &yaml_serde::Value) -> Result<(), ValidationError> {
    use yaml_serde::Value;
    let Some(map) = entry.as_mapping() else {
        return Err(ValidationError::new(
            "entry",
            "must be a mapping of slug, name, hub_url, …",
        ));
    };
    for field in ["slug", "name", "hub_url", "mesh_namespace"] {
        match map.get(field) {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => return Err(ValidationError::new(field, "must be a string")),
        }
    }
    match map.get("heartbeat_interval") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {}
        Some(_) => {
            return Err(ValidationError::new(
                "heartbeat_interval",
                "must be a whole number of seconds",
            ))
        }
    }
    match map.get("tags") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Sequence(items)) => match items.iter().position(|t| !t.is_string()) {
            None => Ok(()),
            Some(i) => Err(ValidationError::new(
                format!("tags[{i}]"),
                "must be a string",
            )),
        },
        Some(_) => Err(ValidationError::new("tags", "must be a list of strings")),
    }?;
    match map.get("metadata") {
        None | Some(Value::Null | Value::Mapping(_)) => Ok(()),
        Some(_) => Err(ValidationError::new("metadata", "must be a mapping")),
    }?;
    check_allow_fanout(map.get("allow_fanout"))
}

/// The original's `allow_fanout`: a list of project slugs, each alphanumeric with dash
/// or underscore, checked as the original checked it (in its words).
fn check_allow_fanout(value: Option<&yaml_serde::Value>) -> Result<(), ValidationError> {
    use yaml_serde::Value;
    let items = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            return Err(ValidationError::new(
                "allow_fanout",
                "must be a list of project slugs",
            ))
        }
    };
    for (i, item) in items.iter().enumerate() {
        let ok = item.as_str().is_some_and(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !ok {
            let shown = item
                .as_str()
                .map_or_else(|| format!("{item:?}"), str::to_owned);
            return Err(ValidationError::new(
                format!("allow_fanout[{i}]"),
                format!(
                    "allow_fanout slug '{}' must contain only alphanumeric, dash, or underscore",
                    shown.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    Ok(())
}

/// The original's words for a refused entry, where it had them ("must contain only
/// alphanumeric characters, dash, or underscore"; "tags must be non-empty strings"),
/// followed by ours.
fn original_words(e: ValidationError, raw_slug: Option<&str>) -> ValidationError {
    let said = if e.field == "slug" && e.message.starts_with("may contain only") {
        format!(
            "slug '{}' must contain only alphanumeric characters, dash, or underscore",
            raw_slug.unwrap_or_default()
        )
    } else if e.field.starts_with("tags[")
        && (e.message.contains("empty") || e.message.contains("at least 1"))
    {
        "tags must be non-empty strings".to_owned()
    } else {
        return e;
    };
    let message = format!("{said} ({})", e.message);
    ValidationError { message, ..e }
}

/// Parses and validates the catalog text; `path` only labels errors.
pub fn parse(path: &str, text: &str) -> Result<Catalog, CatalogError> {
    if text.trim().is_empty() {
        return Ok(Catalog::default());
    }
    let file: Option<File> = yaml_serde::from_str(text).map_err(|e| CatalogError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    // `slos:` is read by crate::slo.
    let read_elsewhere = |k: &&str| *k != "slos";
    if let Some(f) = file.as_ref().filter(|f| {
        f.other
            .keys()
            .map(String::as_str)
            .any(|k| read_elsewhere(&k))
    }) {
        let keys: Vec<&str> = f
            .other
            .keys()
            .map(String::as_str)
            .filter(read_elsewhere)
            .collect();
        if f.projects.is_none() {
            // As the original: a file of other keys only is no catalog (`project:`).
            return Err(CatalogError::Syntax {
                path: path.to_owned(),
                message: format!(
                    "projects: field required (the file has {})",
                    keys.join(", ")
                ),
            });
        }
        tracing::warn!(
            file = path,
            keys = %keys.join(", "),
            "catalog file has top-level keys other than projects and prune: ignored"
        );
    }
    let prune = file.as_ref().and_then(|f| f.prune).unwrap_or(false);
    let entries = file.and_then(|f| f.projects).unwrap_or_default();
    let mut registrations = Vec::with_capacity(entries.len());
    let mut seen = std::collections::HashMap::new();
    for (index, value) in entries.into_iter().enumerate() {
        let raw_slug = value
            .get("slug")
            .and_then(|v| v.as_str())
            .map(str::to_owned);
        let fail = |error: ValidationError| CatalogError::Entry {
            path: path.to_owned(),
            index,
            slug: slug_label(raw_slug.as_deref()),
            error,
        };
        check_types(&value).map_err(fail)?;
        let entry: Entry = yaml_serde::from_value(value)
            .map_err(|e| fail(ValidationError::new("entry", e.to_string())))?;
        let unmodeled: Vec<&str> = entry
            .other
            .keys()
            .map(String::as_str)
            .filter(|k| !ORIGINAL_KEYS.contains(k))
            .collect();
        if !unmodeled.is_empty() {
            tracing::warn!(
                file = path,
                entry = index,
                slug = raw_slug.as_deref().unwrap_or_default(),
                keys = %unmodeled.join(", "),
                "catalog entry has keys the catalog does not model: kept in its metadata"
            );
        }
        let metadata = Entry::metadata(entry.metadata, entry.other).map_err(fail)?;
        let given_namespace = entry.mesh_namespace.clone();
        let registration = RegistrationInput {
            slug: entry.slug,
            name: entry.name,
            hub_url: entry.hub_url,
            mesh_namespace: entry.mesh_namespace,
            tags: entry.tags,
            metadata,
            heartbeat_interval: entry.heartbeat_interval,
        }
        .validate()
        .map(|r| Registration {
            origin: Origin::File,
            ..r
        })
        .map_err(|e| fail(original_words(e, raw_slug.as_deref())))?;
        // The original required `hub.<slug>` in its file; REST takes any subject prefix.
        let expected = format!("hub.{}", registration.slug);
        if let Some(given) = given_namespace.filter(|g| g.trim() != expected) {
            return Err(fail(ValidationError::new(
                "mesh_namespace",
                format!("mesh_namespace must be '{expected}', got '{given}'"),
            )));
        }
        if let Some(first) = seen.insert(registration.slug.clone(), index) {
            return Err(fail(ValidationError::new(
                "slug",
                format!("duplicate of projects[{first}]"),
            )));
        }
        registrations.push(registration);
    }
    Ok(Catalog {
        registrations,
        prune,
    })
}

/// Reads the catalog file. A missing file is not an error (`None`); an empty one is an
/// empty catalog.
///
/// Only a regular file (a symlink to one is followed) of at most [`MAX_CATALOG_BYTES`]
/// is read: a FIFO would block every reload for ever, and `/dev/zero` would grow the
/// process until it is killed. The same rule holds at start, on SIGHUP and in
/// `catalog apply`, which all read through here.
pub fn read(path: &Path) -> anyhow::Result<Option<Catalog>> {
    use std::io::Read;
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if !meta.is_file() {
        anyhow::bail!(
            "{} is not a regular file; the catalog file must be one",
            path.display()
        );
    }
    if meta.len() > MAX_CATALOG_BYTES {
        anyhow::bail!(
            "{} is {} bytes, more than the {MAX_CATALOG_BYTES} a catalog file may hold",
            path.display(),
            meta.len()
        );
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CATALOG_BYTES + 1).read_to_string(&mut text))
        .with_context(|| format!("reading {}", path.display()))?;
    // The file may have grown between the check and the read.
    if text.len() as u64 > MAX_CATALOG_BYTES {
        anyhow::bail!(
            "{} holds more than the {MAX_CATALOG_BYTES} bytes a catalog file may hold",
            path.display()
        );
    }
    Ok(Some(parse(&path.display().to_string(), &text)?))
}

/// The largest catalog file read: 64 MiB, room for 100,000 projects of a few hundred
/// bytes each.
pub const MAX_CATALOG_BYTES: u64 = 64 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_originals_format() {
        let text = r#"
projects:
  - slug: commandcenter
    name: CommandCenter
    hub_url: http://localhost:8000
    mesh_namespace: hub.commandcenter
    tags: [python, fastapi]
    allow_fanout: [veria]
  - slug: Veria
    name: Veria
    hub_url: https://veria.example.com
"#;
        let regs = parse("p.yaml", text).unwrap().registrations;
        assert_eq!(regs.len(), 2);
        assert_eq!(regs[0].tags.len(), 2);
        assert_eq!(regs[1].slug.as_str(), "veria");
        assert_eq!(regs[1].mesh_namespace.as_str(), "hub.veria");
    }

    #[test]
    fn empty_files_and_lists_are_empty_catalogs() {
        assert!(parse("p", "").unwrap().registrations.is_empty());
        assert!(parse("p", "# nothing\n").unwrap().registrations.is_empty());
        assert!(parse("p", "projects: []\n")
            .unwrap()
            .registrations
            .is_empty());
        assert!(parse("p", "projects:\n").unwrap().registrations.is_empty());
    }

    #[test]
    fn errors_name_the_entry_and_field() {
        let text = r#"
projects:
  - {slug: a, name: A, hub_url: "http://a"}
  - {slug: b, name: B, hub_url: "http://b"}
  - {slug: c, name: C, hub_url: "ftp://c"}
"#;
        let err = parse("p.yaml", text).unwrap_err().to_string();
        assert!(err.contains("projects[2]"), "{err}");
        assert!(err.contains("\"c\""), "{err}");
        assert!(err.contains("hub_url"), "{err}");
    }

    #[test]
    fn duplicates_unknown_keys_and_bad_yaml_are_refused() {
        let dup = "projects:\n  - {slug: a, name: A, hub_url: 'http://a'}\n  - {slug: A, name: A2, hub_url: 'http://a'}\n";
        let err = parse("p", dup).unwrap_err().to_string();
        assert!(
            err.contains("projects[1]") && err.contains("duplicate of projects[0]"),
            "{err}"
        );
        // A key we do not model is kept in the metadata (and logged), not lost.
        let typo = "projects:\n  - {slug: a, name: A, hub_url: 'http://a', tag: [x]}\n";
        let regs = parse("p", typo).unwrap().registrations;
        assert_eq!(regs[0].metadata.get("tag"), Some(&serde_json::json!(["x"])));
        assert!(parse("p", "projects: [").is_err());
        let err = parse("p", "project: []").unwrap_err().to_string();
        assert!(err.contains("projects: field required"), "{err}");
        // Beside `projects`, other top-level keys are warned about, as the original
        // ignored them.
        let extra = "version: 2\nprojects:\n  - {slug: a, name: A, hub_url: 'http://a'}\n";
        assert_eq!(parse("p", extra).unwrap().registrations.len(), 1);
        let missing = "projects:\n  - {slug: a, hub_url: 'http://a'}\n";
        let err = parse("p", missing).unwrap_err().to_string();
        assert!(err.contains("name: is required"), "{err}");
    }

    #[test]
    fn only_a_regular_file_within_the_limit_is_read() {
        // A device that never ends, and a FIFO that never answers: refused at once.
        for special in ["/dev/zero", "/dev/null"] {
            let err = read(Path::new(special)).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{special}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.yaml");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let err = read(&fifo).unwrap_err().to_string();
            assert!(err.contains("not a regular file"), "{err}");
        }
        // Through a symlink too.
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(read(&link).is_err());
        // Too large: refused before it is read.
        let big = dir.path().join("big.yaml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_CATALOG_BYTES + 1).unwrap();
        let err = read(&big).unwrap_err().to_string();
        assert!(err.contains("more than the"), "{err}");
        // A regular file within it: read.
        let ok = dir.path().join("ok.yaml");
        std::fs::write(&ok, "projects: []\n").unwrap();
        assert!(read(&ok).unwrap().is_some());
    }

    #[test]
    fn the_namespace_must_be_hub_dot_slug_and_errors_use_the_originals_words() {
        let entry = |extra: &str| {
            format!("projects:\n  - {{slug: CommandCenter, name: C, hub_url: 'http://c'{extra}}}\n")
        };
        for ns in ["hub.different-project", "invalid.namespace"] {
            let err = parse("p", &entry(&format!(", mesh_namespace: {ns}")))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!(
                    "mesh_namespace must be 'hub.commandcenter', got '{ns}'"
                )),
                "{err}"
            );
        }
        let ok = parse("p", &entry(", mesh_namespace: hub.commandcenter")).unwrap();
        assert_eq!(
            ok.registrations[0].mesh_namespace.as_str(),
            "hub.commandcenter"
        );
        // Absent: hub.<slug>, the only value the original accepted.
        let ok = parse("p", &entry("")).unwrap();
        assert_eq!(
            ok.registrations[0].mesh_namespace.as_str(),
            "hub.commandcenter"
        );
        let bad_slug = "projects:\n  - {slug: 'bad slug!', name: B, hub_url: 'http://b'}\n";
        let err = parse("p", bad_slug).unwrap_err().to_string();
        assert!(
            err.contains("must contain only alphanumeric characters, dash, or underscore"),
            "{err}"
        );
        let fanout = &entry(", allow_fanout: ['ok', 'bad slug!']");
        let err = parse("p", fanout).unwrap_err().to_string();
        assert!(
            err.contains(
                "allow_fanout slug 'bad slug!' must contain only alphanumeric, dash, or underscore"
            ),
            "{err}"
        );
        assert!(parse("p", &entry(", allow_fanout: [veria, a_b-c]")).is_ok());
        let empty_tag = &entry(", tags: ['  ']");
        let err = parse("p", empty_tag).unwrap_err().to_string();
        assert!(err.contains("tags must be non-empty strings"), "{err}");
    }

    #[test]
    fn the_originals_file_loads_and_wrong_types_name_the_field() {
        let original = "projects:\n  - slug: commandcenter\n    name: CommandCenter\n    hub_url: http://localhost:8000\n    mesh_namespace: hub.commandcenter\n    tags:\n      - python\n    allow_fanout: []\n";
        let regs = parse("p", original).unwrap().registrations;
        assert_eq!(regs.len(), 1);
        assert_eq!(
            regs[0].metadata.to_json_string(),
            r#"{"allow_fanout":[]}"#,
            "nothing of the original's entry is lost"
        );
        // Our own metadata mapping, merged with the keys we do not model.
        let ours = "projects:\n  - slug: a\n    name: A\n    hub_url: http://a\n    allow_fanout: [b]\n    metadata:\n      team: ops\n      replicas: 3\n      nested: {x: [1, true, ~]}\n";
        let regs = parse("p", ours).unwrap().registrations;
        assert_eq!(
            regs[0].metadata.to_json_string(),
            r#"{"allow_fanout":["b"],"nested":{"x":[1,true,null]},"replicas":3,"team":"ops"}"#
        );
        for (text, field) in [
            (
                "projects:\n  - {slug: a, name: A, hub_url: 'http://a', tags: python}\n",
                "tags",
            ),
            (
                "projects:\n  - {slug: a, name: [A], hub_url: 'http://a'}\n",
                "name",
            ),
            (
                "projects:\n  - {slug: a, name: A, hub_url: 'http://a', tags: [x, [y]]}\n",
                "tags[1]",
            ),
            (
                "projects:\n  - {slug: a, name: A, hub_url: 'http://a', metadata: [x]}\n",
                "metadata",
            ),
            (
                "projects:\n  - {slug: a, name: A, hub_url: 'http://a', metadata: {'a b': 1}}\n",
                "metadata.a b",
            ),
        ] {
            let err = parse("p.yaml", text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("projects[0] (slug \"a\"): {field}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("nope.yaml")).unwrap().is_none());
    }
}

/// Property tests (issue 14, item 7) over the catalog file. `cargo xtask fuzz` runs every
/// `fuzz_*` test with `PROPTEST_CASES`.
#[cfg(test)]
mod fuzz {
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
        let entry = proptest::collection::vec((0..keys.len(), yaml_value()), 0..7).prop_map(
            move |fields| {
                let mut map = yaml_serde::Mapping::new();
                for (i, v) in fields {
                    map.insert(keys.get(i).copied().unwrap_or("x").into(), v);
                }
                yaml_serde::Value::Mapping(map)
            },
        );
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
}
