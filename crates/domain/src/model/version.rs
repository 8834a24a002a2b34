//! The software version a project reports.

use super::text::trimmed_text;
use crate::error::ValidationError;

/// Longest version, in characters.
pub const VERSION_MAX: usize = 50;

/// The software version a project reports: trimmed, 1–50 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(String);

impl Version {
    /// Validates a version.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        trimmed_text(raw, "version", VERSION_MAX).map(Self)
    }
}
string_newtype!(Version);
