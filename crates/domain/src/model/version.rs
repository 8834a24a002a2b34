//! The software version a project reports.

use crate::error::ValidationError;

/// Longest version, in characters.
pub const VERSION_MAX: usize = federation_wire::rules::VERSION_MAX;

/// The software version a project reports: trimmed, 1–50 printable characters. Shared:
/// the presence table, the registry and the liveness handed between them hold one
/// string per version heard, and a copy is a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(std::sync::Arc<str>);

impl Version {
    /// Validates a version, by the wire crate's rule.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        federation_wire::rules::version(raw)
            .map(|s| Self(s.into()))
            .map_err(ValidationError::from)
    }
}
string_newtype!(Version);
