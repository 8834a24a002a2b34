//! The rules for the slug, the mesh namespace and the version, and the shape of a hub
//! URL (the service parses it fully): the one source of each. The service's model
//! (`federation-domain`) validates with them, and a publisher checks its own fields with
//! them before it sends anything.

use std::borrow::Cow;

use thiserror::Error;

/// Longest slug, in characters.
pub const SLUG_MAX: usize = 50;
/// Longest hub URL, in characters.
pub const HUB_URL_MAX: usize = 500;
/// Longest mesh namespace, in characters.
pub const MESH_NAMESPACE_MAX: usize = 100;
/// Longest version, in characters.
pub const VERSION_MAX: usize = 50;
/// The characters `str::trim` removes (Unicode `White_Space`), as the inside of a
/// regular-expression class: the patterns below allow them around a value because
/// the rules trim them. Spelled out rather than `\s`, which means more in some regex
/// dialects (Python's takes U+001C–U+001F, which `trim` keeps and the rules refuse).
#[macro_export]
macro_rules! blank_chars {
    () => {
        r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// [`blank_chars!`] as a class: one character `str::trim` removes.
#[macro_export]
macro_rules! blank {
    () => {
        concat!("[", $crate::blank_chars!(), "]")
    };
}

/// The slug rule as a JSON Schema pattern (the API's description shows it; blanks
/// around are trimmed, case is folded).
pub const SLUG_PATTERN: &str = concat!(
    "^",
    blank!(),
    "*[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9_])?",
    blank!(),
    "*$"
);
/// The mesh namespace rule as a JSON Schema pattern.
pub const MESH_NAMESPACE_PATTERN: &str = concat!(
    "^",
    blank!(),
    r"*[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*",
    blank!(),
    "*$"
);

/// A field that breaks a rule: `field: message`, as the service words it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    /// The field (`slug`, `hub_url`, `mesh_namespace`, `version`).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn broken(field: &'static str, message: impl Into<String>) -> RuleError {
    RuleError {
        field,
        message: message.into(),
    }
}

/// A slug, trimmed and lowercased: `[a-z0-9_-]`, 1–50 characters (as given, blanks
/// around included), no `-` at either end, no `_` first (reserved for the service's
/// canaries). Borrowed from `raw` when it needs no lowercasing.
pub fn slug(raw: &str) -> Result<Cow<'_, str>, RuleError> {
    const FIELD: &str = "slug";
    let given = raw.chars().count();
    if given > SLUG_MAX {
        return Err(broken(
            FIELD,
            format!("must be at most {SLUG_MAX} characters (got {given})"),
        ));
    }
    let trimmed = raw.trim();
    let s = if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    };
    if s.is_empty() {
        return Err(broken(FIELD, "must not be empty"));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(broken(
            FIELD,
            "may contain only letters a-z, digits 0-9, '_' and '-'",
        ));
    }
    if s.len() > SLUG_MAX {
        return Err(broken(
            FIELD,
            format!("must be at most {SLUG_MAX} characters (got {})", s.len()),
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(broken(FIELD, "must not start or end with '-'"));
    }
    if s.starts_with('_') {
        return Err(broken(FIELD, "must not start with '_'"));
    }
    Ok(s)
}

/// A mesh namespace, trimmed: a NATS subject prefix of dot-separated tokens of
/// `[A-Za-z0-9_-]`, at most 100 characters as given (blanks around included).
pub fn mesh_namespace(raw: &str) -> Result<&str, RuleError> {
    const FIELD: &str = "mesh_namespace";
    let given = raw.chars().count();
    if given > MESH_NAMESPACE_MAX {
        return Err(broken(
            FIELD,
            format!("must be at most {MESH_NAMESPACE_MAX} characters (got {given})"),
        ));
    }
    let s = raw.trim();
    if s.is_empty() {
        return Err(broken(FIELD, "must not be empty"));
    }
    if !s.split('.').all(|token| {
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }) {
        return Err(broken(
            FIELD,
            "must be a NATS subject prefix: dot-separated tokens of letters, digits, '_' and '-'",
        ));
    }
    Ok(s)
}

/// A mesh namespace where blank means none given (the default, `hub.<slug>`): `None`
/// for blanks within the length bound, else [`mesh_namespace`]'s answer.
pub fn stated_mesh_namespace(raw: &str) -> Result<Option<&str>, RuleError> {
    if raw.trim().is_empty() && raw.chars().count() <= MESH_NAMESPACE_MAX {
        return Ok(None);
    }
    mesh_namespace(raw).map(Some)
}

/// A version: at most 50 characters as given, trimmed, not empty, no control or
/// invisible format characters.
pub fn version(raw: &str) -> Result<&str, RuleError> {
    const FIELD: &str = "version";
    let s = raw.trim();
    if s.is_empty() {
        return Err(broken(FIELD, "must not be empty"));
    }
    let chars = raw.chars().count();
    if chars > VERSION_MAX {
        return Err(broken(
            FIELD,
            format!("must be at most {VERSION_MAX} characters (got {chars})"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(broken(FIELD, "must not contain control characters"));
    }
    if let Some(c) = s.chars().find(|c| is_format_char(*c)) {
        return Err(broken(
            FIELD,
            format!(
                "must not contain invisible formatting characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(s)
}

/// The shape of a hub URL, trimmed: `http://` or `https://`, a host, no credentials,
/// no blanks or control characters, at most 500 characters as given. The service also parses it
/// (ports, IPv6 literals, …), so a URL that passes here may still be refused there.
pub fn hub_url(raw: &str) -> Result<&str, RuleError> {
    const FIELD: &str = "hub_url";
    let s = raw.trim();
    if s.is_empty() {
        return Err(broken(FIELD, "must not be empty"));
    }
    let chars = raw.chars().count();
    if chars > HUB_URL_MAX {
        return Err(broken(
            FIELD,
            format!("must be at most {HUB_URL_MAX} characters (got {chars})"),
        ));
    }
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(broken(
            FIELD,
            "must be an absolute URL such as http://host:port",
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(broken(FIELD, "must use the http or https scheme"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(broken(
            FIELD,
            "must not contain blanks or control characters",
        ));
    }
    // As URL parsers read `http:` URLs: extra slashes (or backslashes) before the host
    // are skipped.
    let authority = rest
        .trim_start_matches(['/', '\\'])
        .split(['/', '\\', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = match authority.rsplit_once('@') {
        // `http://@host` and `http://:@host` carry no user and no password.
        Some((userinfo, host)) if userinfo.is_empty() || userinfo == ":" => host,
        Some(_) => {
            return Err(broken(
                FIELD,
                "must not contain credentials (user:password@)",
            ))
        }
        None => authority,
    };
    if host.is_empty() || host.starts_with(':') {
        return Err(broken(FIELD, "must name a host"));
    }
    Ok(s)
}

/// Whether `c` is an invisible character that changes how the text around it is shown
/// (bidirectional controls, zero-width characters, line and paragraph separators, the
/// soft hyphen and other format controls).
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug(" CommandCenter ").unwrap(), "commandcenter");
        for bad in ["", "bad slug", "-a", "a-", "_a", "a.b", &"a".repeat(51)] {
            assert_eq!(slug(bad).unwrap_err().field, "slug", "{bad}");
        }
    }

    #[test]
    fn namespaces_and_versions() {
        assert_eq!(mesh_namespace(" veria.mesh ").unwrap(), "veria.mesh");
        for bad in ["", "hub..x", "hub x", "hub.>", "a.*"] {
            assert!(mesh_namespace(bad).is_err(), "{bad}");
        }
        assert_eq!(version(" 1.2.3 ").unwrap(), "1.2.3");
        for bad in ["", "a\u{7}", "a\u{202e}b", &"v".repeat(51)] {
            assert!(version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hub_urls() {
        for ok in ["http://x", "HTTPS://host:8000/path?q#f", "http://[::1]:80"] {
            assert!(hub_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ftp://x",
            "http:x",
            "http://",
            "http://?q",
            "http://u:p@x",
            "http://tok@x",
            "http://a b",
        ] {
            assert_eq!(hub_url(bad).unwrap_err().field, "hub_url", "{bad}");
        }
    }
}
