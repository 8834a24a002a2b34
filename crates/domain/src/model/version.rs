//! The software version a project reports.

use std::cell::RefCell;
use std::sync::Arc;

use crate::error::ValidationError;

/// Longest version, in characters.
pub const VERSION_MAX: usize = federation_wire::rules::VERSION_MAX;

/// The software version a project reports: trimmed, 1–50 printable characters. Shared:
/// the presence table, the registry and the liveness handed between them hold one
/// string per version heard, and a copy is a count. A fleet runs a few versions, so a
/// parse hands out the string of a version parsed lately on the same thread (see
/// [`RECENT`]): a million projects on one version hold one string per thread, not a
/// million, and a heartbeat's parse allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(Arc<str>);

/// How many versions each thread remembers.
const RECENT: usize = 8;

thread_local! {
    /// This thread's versions parsed lately, the newest first.
    static RECENTLY_PARSED: RefCell<Vec<Arc<str>>> = const { RefCell::new(Vec::new()) };
}

impl Version {
    /// Validates a version, by the wire crate's rule.
    /// A version parsed lately on this thread is taken as it is: it passed the rule
    /// then, and the rule is a function of the text alone.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if let Some(known) = recent(raw) {
            return Ok(Self(known));
        }
        federation_wire::rules::version(raw)
            .map(|s| Self(recent(s).unwrap_or_else(|| remember(s))))
            .map_err(ValidationError::from)
    }
}

/// `s` as a string parsed lately on this thread, now the most recent.
fn recent(s: &str) -> Option<Arc<str>> {
    RECENTLY_PARSED.with_borrow_mut(|recent| {
        let i = recent.iter().position(|v| &**v == s)?;
        // Most recently used first: a fleet's common versions stay.
        let found = recent.remove(i);
        recent.insert(0, found.clone());
        Some(found)
    })
}

/// A new string for `s`, remembered in place of the oldest.
fn remember(s: &str) -> Arc<str> {
    RECENTLY_PARSED.with_borrow_mut(|recent| {
        let new: Arc<str> = s.into();
        if recent.len() == RECENT {
            recent.pop();
        }
        recent.insert(0, new.clone());
        new
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_parsed_again_is_the_same_string() {
        let a = Version::parse("1.0.0").unwrap();
        let b = Version::parse(" 1.0.0 ").unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(Version::parse("1.0.1").unwrap().as_str(), "1.0.1");
    }

    #[test]
    fn a_thread_remembers_its_latest_versions_only() {
        let first = Version::parse("0.0.1").unwrap();
        for i in 0..RECENT {
            Version::parse(&format!("9.9.{i}")).unwrap();
        }
        // Pushed out by RECENT newer ones: parsed anew, equal but not shared.
        let again = Version::parse("0.0.1").unwrap();
        assert_eq!(again, first);
        assert!(!Arc::ptr_eq(&again.0, &first.0));
        // A version used between newer ones stays, however many come.
        for i in 0..RECENT - 1 {
            Version::parse(&format!("8.8.{i}")).unwrap();
            assert!(Arc::ptr_eq(&Version::parse("0.0.1").unwrap().0, &again.0));
        }
    }
}
string_newtype!(Version);
