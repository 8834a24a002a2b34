//! A project's identifier.

use std::sync::Arc;

use crate::error::ValidationError;

/// Longest slug, in characters.
pub const SLUG_MAX: usize = federation_wire::rules::SLUG_MAX;

impl std::borrow::Borrow<str> for Slug {
    /// Slugs are ordered and hashed as their text, so maps keyed by slug answer a
    /// lookup by `&str` without building one.
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A project's identifier: lowercase `[a-z0-9_-]`, 1–50 characters, no `-` at either end.
/// Input is lowercased first, so `CommandCenter` and `commandcenter` are one project.
/// `_` is allowed as the original's catalog file allowed it (it is a valid NATS token).
///
/// The text is shared: a clone (a map's key, a row, an event) is a count, not a copy,
/// which at a million projects held in several tables is a few hundred megabytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(Arc<str>);

impl Slug {
    /// Validates (after lowercasing and trimming) a slug, by the wire crate's rule (the
    /// one source a publisher checks with too). A leading '_' stays reserved: the
    /// service's canaries are named `_canary-<instance>`, a name no project may have.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        federation_wire::rules::slug(raw)
            .map(|s| Self(Arc::from(s.as_ref())))
            .map_err(ValidationError::from)
    }
}
string_newtype!(Slug);
