//! The base URL of a project's hub.

use super::text::refuse_format_chars;
use crate::error::ValidationError;

/// Longest hub URL, in characters.
pub const HUB_URL_MAX: usize = federation_wire::rules::HUB_URL_MAX;
/// The shortest hub URL: `http://x`.
pub const HUB_URL_MIN: usize = 8;
/// The hub URL as a JSON Schema pattern: the part of the rule a pattern can state
/// exactly, in ASCII: `http(s)://`, a host name whose last label starts with a letter,
/// a dotted-quad IPv4 address or a bracketed IPv6 one, an optional port up to 65535,
/// then a path and a query of URL characters. Every URL it matches is taken; the
/// service takes more (internationalised host names, other IPv6 spellings), which the
/// description says in words.
pub const HUB_URL_PATTERN: &str = concat!(
    "^",
    federation_wire::blank!(),
    "*[Hh][Tt][Tt][Pp][Ss]?://(",
    // A host name: labels of letters and digits joined by single hyphens (so never a
    // punycode `xn--` label), the last starting with a letter (so never a number).
    r"([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)*[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*\.?",
    r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|\[(::1|[0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){7})\]",
    r")(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?",
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?",
    federation_wire::blank!(),
    "*$"
);

/// The base URL of a project's hub: an absolute `http` or `https` URL of at most 500
/// characters, with no credentials, blanks, control or invisible format characters and
/// no backslash. Kept as the client wrote it (trimmed), so it round-trips unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubUrl(String);

impl HubUrl {
    /// Validates a hub URL.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "hub_url";
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValidationError::new(FIELD, "must not be empty"));
        }
        let chars = raw.chars().count();
        if chars > HUB_URL_MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {HUB_URL_MAX} characters (got {chars})"),
            ));
        }
        // The dashboard shows hub_url as link text: what it shows must be where the link
        // goes. Invisible characters hide or reorder text, and browsers read `\` as `/`
        // (`http://evil.com\@good.com` opens evil.com), so neither is taken anywhere.
        refuse_format_chars(s, FIELD)?;
        if s.contains('\\') {
            return Err(ValidationError::new(
                FIELD,
                "must not contain a backslash (browsers read it as '/')",
            ));
        }
        let url = url::Url::parse(s)
            .map_err(|e| ValidationError::new(FIELD, format!("must be an absolute URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ValidationError::new(
                FIELD,
                "must use the http or https scheme",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ValidationError::new(FIELD, "must name a host"));
        }
        // Every reader of the catalog sees hub_url: it must not carry secrets.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ValidationError::new(
                FIELD,
                "must not contain credentials (user:password@)",
            ));
        }
        // The WHATWG parser repairs `http:host` and `http:/host` and percent-encodes
        // blanks, but we keep the text as written, so the text itself must be a proper
        // absolute URL for every other reader of it too.
        if !s
            .get(url.scheme().len()..)
            .is_some_and(|rest| rest.starts_with("://"))
        {
            return Err(ValidationError::new(
                FIELD,
                "must be an absolute URL such as http://host:port",
            ));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ValidationError::new(
                FIELD,
                "must not contain blanks or control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_newtype!(HubUrl);
