//! Tags: case-insensitive labels, at most a few per project.

use serde::{Deserialize, Serialize};

use super::text::trimmed_text;
use crate::error::ValidationError;

/// Longest tag, in characters.
pub const TAG_MAX: usize = 64;
/// Most tags a project may carry.
pub const TAGS_MAX: usize = 32;

/// A label: any printable text (trimmed, no control characters), 1–64 characters,
/// case kept as written (`Machine Learning`). Two tags are the same tag when they match
/// ignoring case ([`Tag::matches`]), so filters and duplicates are case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Validates (after trimming) a tag.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        trimmed_text(raw, "tag", TAG_MAX).map(Self)
    }

    /// The same tag ignoring case (`Rust` matches `rust`, `ÉTÉ` matches `été`).
    /// Two ASCII tags compare without allocating (a list filtered by tag compares its
    /// tag with every project's); any other pair is lowercased whole, as Unicode says
    /// (the Kelvin sign `K` lowercases to an ASCII `k`, so only two ASCII tags may take
    /// the short way).
    pub fn matches(&self, other: &Tag) -> bool {
        let (a, b) = (self.0.as_str(), other.0.as_str());
        if a.is_ascii() && b.is_ascii() {
            return a.eq_ignore_ascii_case(b);
        }
        a == b || a.to_lowercase() == b.to_lowercase()
    }
}
string_newtype!(Tag);

/// A project's tags: at most 32, duplicates (ignoring case) removed, first occurrence
/// kept as written, order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Tags(Vec<Tag>);

impl Tags {
    /// Validates each tag (errors name the entry, `tags[3]`) and removes duplicates.
    pub fn parse<S: AsRef<str>>(raw: &[S]) -> Result<Self, ValidationError> {
        let mut tags: Vec<Tag> = Vec::with_capacity(raw.len().min(TAGS_MAX));
        for (i, item) in raw.iter().enumerate() {
            let tag = Tag::parse(item.as_ref()).map_err(|e| e.at(format!("tags[{i}]")))?;
            if !tags.iter().any(|have| have.matches(&tag)) {
                // Stop at the first tag too many: the duplicate check is quadratic, and
                // a body of 100 000 distinct tags must not cost billions of comparisons.
                if tags.len() == TAGS_MAX {
                    return Err(ValidationError::new(
                        "tags",
                        format!("must hold at most {TAGS_MAX} distinct tags"),
                    ));
                }
                tags.push(tag);
            }
        }
        Ok(Self(tags))
    }

    /// The tags, in order.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }

    /// Iterates over the tags, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    /// How many tags.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No tags.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(d)?;
        Tags::parse(&raw).map_err(serde::de::Error::custom)
    }
}
