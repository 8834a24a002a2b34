//! A project's `metadata`: free JSON values under named keys, bounded in size.
//!
//! It holds what the catalog does not model (the original's `allow_fanout`, an
//! operator's own labels) so nothing of a catalog entry is lost. Keys are filterable
//! (`?meta.KEY=VALUE`), so they keep to a query-string-safe alphabet.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ValidationError;

/// Most keys a project's metadata may hold.
pub const METADATA_KEYS_MAX: usize = 64;
/// Longest metadata key, in characters.
pub const METADATA_KEY_MAX: usize = 64;
/// Largest metadata, serialized as compact JSON, in bytes.
pub const METADATA_BYTES_MAX: usize = 8 * 1024;
/// Deepest nesting of arrays and objects inside one value (a scalar is depth 0).
pub const METADATA_DEPTH_MAX: usize = 8;
/// Most `meta.KEY=VALUE` conditions one list takes.
pub const META_FILTERS_MAX: usize = 16;

const FIELD: &str = "metadata";

/// Validates a metadata key: 1–64 characters of `[A-Za-z0-9_.-]`.
pub fn check_key(key: &str) -> Result<(), ValidationError> {
    if key.is_empty() || key.len() > METADATA_KEY_MAX {
        return Err(ValidationError::new(
            format!(
                "{FIELD}.{}",
                key.chars().take(METADATA_KEY_MAX).collect::<String>()
            ),
            format!("a key must be 1 to {METADATA_KEY_MAX} characters"),
        ));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(ValidationError::new(
            format!(
                "{FIELD}.{}",
                key.chars().take(METADATA_KEY_MAX).collect::<String>()
            ),
            "a key may contain only letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(())
}

/// How deeply arrays and objects nest in `v` (a scalar: 0), stopping once past `limit`.
fn depth(v: &Value, limit: usize) -> usize {
    let children: Box<dyn Iterator<Item = &Value>> = match v {
        Value::Array(items) => Box::new(items.iter()),
        Value::Object(map) => Box::new(map.values()),
        _ => return 0,
    };
    if limit == 0 {
        return 1;
    }
    1 + children.map(|c| depth(c, limit - 1)).max().unwrap_or(0)
}

/// A project's metadata: at most 64 keys of `[A-Za-z0-9_.-]` (1–64 characters), any
/// JSON value but `null` under each (a `null` is the same as an absent key), at most
/// 8 KiB as compact JSON and nested at most 8 deep. Keys are kept sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, Value>);

impl Metadata {
    /// Validates a JSON value given as metadata: an object (or `null`: none). Keys whose
    /// value is `null` are dropped. Errors name `metadata` or `metadata.KEY`.
    pub fn from_json(raw: Value) -> Result<Self, ValidationError> {
        match raw {
            Value::Null => Ok(Self::default()),
            Value::Object(map) => Self::from_map(map.into_iter().collect()),
            _ => Err(ValidationError::new(FIELD, "must be a JSON object")),
        }
    }

    /// Validates keys and values (see the type's rules).
    pub fn from_map(map: BTreeMap<String, Value>) -> Result<Self, ValidationError> {
        let map: BTreeMap<String, Value> = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
        Self::check(&map)?;
        Ok(Self(map))
    }

    fn check(map: &BTreeMap<String, Value>) -> Result<(), ValidationError> {
        if map.len() > METADATA_KEYS_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!(
                    "must hold at most {METADATA_KEYS_MAX} keys (got {})",
                    map.len()
                ),
            ));
        }
        for (key, value) in map {
            check_key(key)?;
            if depth(value, METADATA_DEPTH_MAX) > METADATA_DEPTH_MAX {
                return Err(ValidationError::new(
                    format!("{FIELD}.{key}"),
                    format!("must not nest arrays and objects more than {METADATA_DEPTH_MAX} deep"),
                ));
            }
        }
        let size = serde_json::to_vec(map).map_or(usize::MAX, |v| v.len());
        if size > METADATA_BYTES_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {METADATA_BYTES_MAX} bytes as JSON (got {size})"),
            ));
        }
        Ok(())
    }

    /// Rebuilds metadata read back from storage (compact JSON text of an object), which
    /// only ever holds validated values.
    pub fn from_stored(text: &str) -> Result<Self, ValidationError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| ValidationError::new(FIELD, format!("is not JSON: {e}")))?;
        Self::from_json(value)
    }

    /// The compact JSON text of the object (what the stores keep).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Every key and value, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the value under `key` reads as `text` in a query: a string equal to it,
    /// or any other value whose compact JSON is (`3`, `true`, `[]`).
    pub fn matches(&self, key: &str, text: &str) -> bool {
        match self.0.get(key) {
            None => false,
            Some(Value::String(s)) => s == text,
            Some(other) => serde_json::to_string(other).is_ok_and(|j| j == text),
        }
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        Metadata::from_json(raw).map_err(serde::de::Error::custom)
    }
}

/// A change of metadata (`PATCH`), as in a JSON merge patch (RFC 7396) one level deep:
/// each key given is set to its value, a key given `null` is removed, other keys stay;
/// `metadata: null` removes every key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataPatch {
    /// Remove every key.
    Clear,
    /// Set (`Some`) or remove (`None`) these keys.
    Merge(BTreeMap<String, Option<Value>>),
}

impl MetadataPatch {
    /// Validates a patch's `metadata` value: `null` or an object. Keys are checked
    /// here; the bounds of the result when the patch is applied.
    pub fn from_json(raw: Value) -> Result<Self, ValidationError> {
        match raw {
            Value::Null => Ok(Self::Clear),
            Value::Object(map) => {
                if map.len() > METADATA_KEYS_MAX {
                    return Err(ValidationError::new(
                        FIELD,
                        format!("must hold at most {METADATA_KEYS_MAX} keys"),
                    ));
                }
                let mut out = BTreeMap::new();
                for (key, value) in map {
                    check_key(&key)?;
                    out.insert(key, (!value.is_null()).then_some(value));
                }
                Ok(Self::Merge(out))
            }
            _ => Err(ValidationError::new(FIELD, "must be a JSON object or null")),
        }
    }

    /// The metadata after this patch; errors when the result breaks a bound.
    pub fn apply(&self, current: &Metadata) -> Result<Metadata, ValidationError> {
        match self {
            Self::Clear => Ok(Metadata::default()),
            Self::Merge(changes) => {
                let mut map = current.0.clone();
                for (key, value) in changes {
                    match value {
                        Some(v) => map.insert(key.clone(), v.clone()),
                        None => map.remove(key),
                    };
                }
                Metadata::from_map(map)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta(v: Value) -> Result<Metadata, ValidationError> {
        Metadata::from_json(v)
    }

    #[test]
    fn takes_an_object_of_any_values_and_drops_nulls() {
        let m =
            meta(json!({"allow_fanout": [], "owner": "ops", "replicas": 3, "gone": null})).unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m.get("allow_fanout"), Some(&json!([])));
        assert!(m.get("gone").is_none());
        assert_eq!(
            m.to_json_string(),
            r#"{"allow_fanout":[],"owner":"ops","replicas":3}"#
        );
        assert_eq!(Metadata::from_stored(&m.to_json_string()).unwrap(), m);
        assert!(meta(Value::Null).unwrap().is_empty());
        assert!(meta(json!({})).unwrap().is_empty());
    }

    #[test]
    fn refuses_what_is_not_an_object_and_bad_keys() {
        for bad in [json!([1]), json!("x"), json!(3), json!(true)] {
            assert_eq!(meta(bad).unwrap_err().field, "metadata");
        }
        for key in ["", "a b", "a=b", "é", "a&b", "k\u{0}"] {
            let err = meta(json!({ key: 1 })).unwrap_err();
            assert!(err.field.starts_with("metadata."), "{key:?}: {err}");
        }
        let long = "k".repeat(65);
        assert!(meta(json!({ long: 1 })).is_err());
        let ok = "k".repeat(64);
        assert!(meta(json!({ ok: 1 })).is_ok());
        assert!(meta(json!({"team.name-2_x": 1})).is_ok());
    }

    #[test]
    fn is_bounded_in_keys_size_and_depth() {
        let many: serde_json::Map<String, Value> =
            (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
        let err = meta(Value::Object(many)).unwrap_err();
        assert!(err.message.contains("64 keys"), "{err}");
        let sixty_four: serde_json::Map<String, Value> =
            (0..64).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(meta(Value::Object(sixty_four)).is_ok());

        let big = meta(json!({"blob": "x".repeat(8200)})).unwrap_err();
        assert!(big.message.contains("8192 bytes"), "{big}");
        // Exactly 8 KiB passes: {"blob":"…"} is 11 bytes around the text.
        assert!(meta(json!({"blob": "x".repeat(8192 - 11)})).is_ok());
        assert!(meta(json!({"blob": "x".repeat(8192 - 10)})).is_err());

        let mut deep = json!(1);
        for _ in 0..8 {
            deep = json!([deep]);
        }
        assert!(meta(json!({ "d": deep.clone() })).is_ok());
        let deeper = json!({ "d": [deep] });
        assert_eq!(meta(deeper).unwrap_err().field, "metadata.d");
    }

    #[test]
    fn matches_strings_as_written_and_other_values_as_json() {
        let m = meta(json!({"owner": "ops", "n": 3, "on": true, "allow_fanout": []})).unwrap();
        assert!(m.matches("owner", "ops"));
        assert!(!m.matches("owner", "Ops"));
        assert!(!m.matches("owner", "\"ops\""));
        assert!(m.matches("n", "3"));
        assert!(m.matches("on", "true"));
        assert!(m.matches("allow_fanout", "[]"));
        assert!(!m.matches("missing", ""));
    }

    #[test]
    fn a_patch_merges_removes_with_null_and_clears() {
        let current = meta(json!({"a": 1, "b": 2})).unwrap();
        let patch = MetadataPatch::from_json(json!({"b": null, "c": "x"})).unwrap();
        assert_eq!(
            patch.apply(&current).unwrap(),
            meta(json!({"a": 1, "c": "x"})).unwrap()
        );
        let clear = MetadataPatch::from_json(Value::Null).unwrap();
        assert!(clear.apply(&current).unwrap().is_empty());
        assert_eq!(
            MetadataPatch::from_json(json!([])).unwrap_err().field,
            "metadata"
        );
        assert_eq!(
            MetadataPatch::from_json(json!({"a b": 1}))
                .unwrap_err()
                .field,
            "metadata.a b"
        );
        // The bounds hold on the result.
        let full: serde_json::Map<String, Value> =
            (0..64).map(|i| (format!("k{i}"), json!(i))).collect();
        let full = meta(Value::Object(full)).unwrap();
        let one_more = MetadataPatch::from_json(json!({"extra": 1})).unwrap();
        assert!(one_more.apply(&full).is_err());
        let swap = MetadataPatch::from_json(json!({"k0": null, "extra": 1})).unwrap();
        assert_eq!(swap.apply(&full).unwrap().len(), 64);
    }
}
