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
    // `slos:` is read by crate::slo, `channels:` by channels.
    let read_elsewhere = |k: &&str| !["slos", "channels"].contains(k);
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

pub mod channels;

#[cfg(test)]
mod tests;

/// Property tests (issue 14, item 7) over the catalog file. `cargo xtask fuzz` runs every
/// `fuzz_*` test with `PROPTEST_CASES`.
#[cfg(test)]
mod fuzz;
