//! A project's identifier.

use crate::error::ValidationError;

/// Longest slug, in characters.
pub const SLUG_MAX: usize = 50;

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
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(String);

impl Slug {
    /// Validates (after lowercasing and trimming) a slug.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "slug";
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(ValidationError::new(FIELD, "must not be empty"));
        }
        // The alphabet first: past it every character is one byte, so the length
        // below counts characters.
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(ValidationError::new(
                FIELD,
                "may contain only letters a-z, digits 0-9, '_' and '-'",
            ));
        }
        if s.len() > SLUG_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {SLUG_MAX} characters (got {})", s.len()),
            ));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(ValidationError::new(
                FIELD,
                "must not start or end with '-'",
            ));
        }
        // A leading '_' stays reserved: the service's own canaries are published as
        // `<presence>._canary-<instance>`, a name no project may have.
        if s.starts_with('_') {
            return Err(ValidationError::new(FIELD, "must not start with '_'"));
        }
        Ok(Self(s))
    }
}
string_newtype!(Slug);
