//! The base URL of a project's hub.

use super::text::refuse_format_chars;
use crate::error::ValidationError;

/// Longest hub URL, in characters.
pub const HUB_URL_MAX: usize = federation_wire::rules::HUB_URL_MAX;
/// The shortest hub URL: `http://x`.
pub const HUB_URL_MIN: usize = 8;
/// The hub URL as a JSON Schema pattern: `http(s)://`, a host name (ASCII labels,
/// the last starting with a letter or `_`), a dotted-quad IPv4 address or a bracketed
/// IPv6 one, an optional port up to 65535, then a path, a query and a fragment of
/// RFC 3986's characters. Every URL it matches is taken, and [`HubUrl::parse`] takes
/// no other but IPv6 addresses in their other spellings and punycode (`xn--`) labels,
/// which the description says in words.
pub const HUB_URL_PATTERN: &str = concat!(
    "^",
    federation_wire::blank!(),
    "*[Hh][Tt][Tt][Pp][Ss]?://(",
    // A host name: labels of letters, digits and `_` joined by hyphens, the last
    // starting with a letter or `_` (so never a number).
    r"([A-Za-z0-9_]+(-+[A-Za-z0-9_]+)*\.)*[A-Za-z_][A-Za-z0-9_]*(-+[A-Za-z0-9_]+)*\.?",
    r"|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    r"|\[(::1|[0-9A-Fa-f]{1,4}(:[0-9A-Fa-f]{1,4}){7})\]",
    r")(:0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)?)?",
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?",
    r"(\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?",
    r"(#[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?",
    federation_wire::blank!(),
    "*$"
);

/// The base URL of a project's hub: an absolute `http` or `https` URL of at most 500
/// characters, with no credentials, blanks, control or invisible format characters and
/// no backslash. Kept as the client wrote it (trimmed), so it round-trips unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubUrl(Box<str>);

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
        check_text(s, &url).map_err(|message| ValidationError::new(FIELD, message))?;
        Ok(Self(s.into()))
    }
}
string_newtype!(HubUrl);

/// The characters RFC 3986 allows after the host: the path's, `?` and `#`.
fn uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@%/?#".contains(c)
}

/// The URL as written (the parser repairs and maps much): a host in ASCII, IPv4 as a
/// dotted quad, host labels of letters, digits, `_` and inner hyphens whose last starts
/// with a letter or `_`, and only URL characters after the host.
fn check_text(s: &str, url: &url::Url) -> Result<(), &'static str> {
    let rest = s.get(url.scheme().len() + 3..).unwrap_or_default();
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if !tail.chars().all(uri_char) {
        return Err(
            "may hold after the host only URL characters (letters, digits and \
                    -._~!$&'()*+,;=:@%/?#); percent-encode the others",
        );
    }
    // The first `#` starts the fragment, which RFC 3986 gives no `#` of its own.
    if tail.matches('#').nth(1).is_some() {
        return Err(
            "may hold one '#' only, where the fragment starts; percent-encode \
                    the others (%23)",
        );
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    match url.host() {
        Some(url::Host::Ipv6(_)) => Ok(()),
        Some(url::Host::Ipv4(_)) if is_dotted_quad(host) => Ok(()),
        Some(url::Host::Ipv4(_)) => {
            Err("must write an IPv4 host as four decimal numbers (10.0.0.1)")
        }
        Some(url::Host::Domain(_)) if !host.is_ascii() => {
            Err("must give the host in ASCII (an internationalised name as its punycode, xn--...)")
        }
        Some(url::Host::Domain(_)) => host_name(host),
        None => Err("must name a host"),
    }
}

fn is_dotted_quad(host: &str) -> bool {
    // Without collecting: a hub URL is checked on every heartbeat that carries one.
    host.split('.').count() == 4
        && host.split('.').all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p.len() == 1 || !p.starts_with('0'))
                && p.parse::<u16>().is_ok_and(|n| n <= 255)
        })
}

fn host_name(host: &str) -> Result<(), &'static str> {
    let labels = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !labels.split('.').all(label_ok) {
        return Err(
            "must name a host of letters, digits, '_' and '-' (not first or last) \
                    between dots",
        );
    }
    match labels.rsplit('.').next().and_then(|l| l.chars().next()) {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => Ok(()),
        _ => Err("must name a host whose last label starts with a letter"),
    }
}
