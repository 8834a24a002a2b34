//! A project's human-readable name.

use super::text::trimmed_text;
use crate::error::ValidationError;

/// Longest project name, in characters.
pub const NAME_MAX: usize = 200;

/// A human-readable project name: trimmed, 1–200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectName(Box<str>);

impl ProjectName {
    /// Validates a project name.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        trimmed_text(raw, "name", NAME_MAX).map(|s| Self(s.into()))
    }
}
string_newtype!(ProjectName);
