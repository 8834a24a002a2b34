//! The one redaction of secrets in what the service prints: URLs (`DATABASE_URL`,
//! `NATS_URL`, a server's address) and secret values (API keys, tokens, nkey seeds).
//!
//! It lives in the domain because every adapter and the composition root depend on it
//! and it does no I/O; every log line, error message and settings dump that shows a URL
//! goes through [`url`].

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Words that make a query parameter secret, matched in its lowercased name
/// (`password`, `sslpassword`, `token`, `api_key`, `nkey`, `seed`, `secret`, …).
const SECRET_PARAM_WORDS: [&str; 9] = [
    "pass", "pwd", "secret", "token", "key", "seed", "auth", "cred", "sig",
];

/// Schemes whose user name is only ever a name (PostgreSQL's role): kept when alone.
/// Elsewhere a user name without a password may be a token (`nats://TOKEN@host`).
const USER_IS_NAME_ONLY: [&str; 3] = ["postgres", "postgresql", "postgresql+asyncpg"];

/// Whether a URL query parameter carries a secret by its name.
pub fn is_secret_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET_PARAM_WORDS.iter().any(|w| lower.contains(w))
}

/// `raw` with every secret a URL can carry masked: the password of the user info, a
/// user name given alone (NATS reads it as a token; not PostgreSQL's role), the values of secret-looking query
/// parameters ([`is_secret_param`]) and any fragment. A value that does not parse as a
/// URL but could hold one (`@`, `?`, `#`) keeps only its scheme. Plain paths
/// (`data/federation.db`) come back unchanged.
pub fn url(raw: &str) -> String {
    let parsed = match url::Url::parse(raw.trim()) {
        Ok(u) if !u.cannot_be_a_base() || !raw.contains(['@', '?', '#']) => u,
        _ => return unparsed(raw),
    };
    let mut u = parsed;
    if u.password().is_some() {
        // Cannot fail: a URL with a password has a host.
        let _ = u.set_password(Some(MASK));
    } else if !u.username().is_empty() && !USER_IS_NAME_ONLY.contains(&u.scheme()) {
        let _ = u.set_username(MASK);
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if is_secret_param(&k) {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    if u.fragment().is_some() {
        u.set_fragment(Some(MASK));
    }
    u.to_string()
}

/// A value that is not a URL: unchanged when it cannot hold one, else its scheme only.
fn unparsed(raw: &str) -> String {
    if !raw.contains(['@', '?', '#']) {
        return raw.to_owned();
    }
    match raw.split_once("://") {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            format!("{scheme}://{MASK}")
        }
        _ => MASK.to_owned(),
    }
}

/// A secret value (an API key, a token, a seed) as it may be shown: set or not, never
/// its text.
pub fn presence(value: Option<&str>) -> &'static str {
    match value {
        Some(_) => "set (masked)",
        None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_masked_keeping_the_user_when_there_is_a_password() {
        assert_eq!(
            url("postgres://fed:s3cret@db:5432/fed"),
            "postgres://fed:***@db:5432/fed"
        );
        // A user alone may be a token (NATS reads it so), but not PostgreSQL's role.
        assert_eq!(url("nats://tok3n@h:4222"), "nats://***@h:4222");
        assert_eq!(url("postgres://fed@db/fed"), "postgres://fed@db/fed");
        assert_eq!(url("nats://u:p%40ss@h:4222"), "nats://u:***@h:4222");
        assert_eq!(url("nats://h:4222"), "nats://h:4222");
        assert_eq!(url("tls://h:4222"), "tls://h:4222");
    }

    #[test]
    fn secret_query_parameters_are_masked_others_kept() {
        let shown = url("postgres://fed@db/fed?password=also&sslpassword=more&sslmode=require&x=1");
        assert!(
            !shown.contains("also") && !shown.contains("more"),
            "{shown}"
        );
        assert!(
            shown.contains("sslmode=require") && shown.contains("x=1"),
            "{shown}"
        );
        for name in [
            "password",
            "sslpassword",
            "PassWord",
            "token",
            "api_key",
            "nkey",
            "auth_token",
        ] {
            assert!(is_secret_param(name), "{name}");
        }
        for name in [
            "sslmode",
            "sslrootcert",
            "host",
            "dbname",
            "application_name",
        ] {
            assert!(!is_secret_param(name), "{name}");
        }
        let shown = url("http://h/x?token=abc#frag-secret");
        assert!(
            !shown.contains("abc") && !shown.contains("frag-secret"),
            "{shown}"
        );
    }

    #[test]
    fn paths_stay_and_what_does_not_parse_keeps_its_scheme_only() {
        assert_eq!(url("sqlite://data/x.db"), "sqlite://data/x.db");
        assert_eq!(url("data/federation.db"), "data/federation.db");
        assert_eq!(url("postgres://u:p w@[bad"), "postgres://***");
        assert_eq!(url("u:secret@host"), "***");
        assert_eq!(presence(Some("k")), "set (masked)");
        assert_eq!(presence(None), "none");
    }
}
