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
    let raw = raw.trim();
    if let Some(hosts) = host_list(raw).filter(|r| raw[r.clone()].contains(',')) {
        return several_hosts(raw, hosts);
    }
    let parsed = match url::Url::parse(raw) {
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

/// Where the host list of a URL's authority lies in `raw`: after `scheme://` and any
/// `user:password@`, up to the path, query or fragment. PostgreSQL (libpq, tokio-postgres)
/// reads a list of several hosts there, `h1:5432,h2:5433`, which is not a URL host
/// (the `url` crate refuses it). `None` without `://`.
pub fn host_list(raw: &str) -> Option<std::ops::Range<usize>> {
    let start = raw.find("://")? + 3;
    let rest = raw.get(start..)?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let hosts = rest.get(..end)?.rfind('@').map_or(0, |at| at + 1);
    Some(start + hosts..start + end)
}

/// The placeholder a list of hosts stands in for while the rest of the URL is redacted.
const HOSTS_PLACEHOLDER: &str = "hosts.invalid";

/// [`url`] for a URL naming several hosts: the rest of it is redacted as a one-host URL,
/// then the list is put back, when it holds only what host names, addresses and ports
/// are made of (else it is masked too).
fn several_hosts(raw: &str, hosts: std::ops::Range<usize>) -> String {
    let one_host = format!(
        "{}{HOSTS_PLACEHOLDER}{}",
        &raw[..hosts.start],
        &raw[hosts.end..]
    );
    let redacted = url(&one_host);
    let list = &raw[hosts];
    let plain = list
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | ',' | '[' | ']'));
    match host_list(&redacted) {
        Some(r) if plain && redacted.get(r.clone()) == Some(HOSTS_PLACEHOLDER) => {
            format!("{}{list}{}", &redacted[..r.start], &redacted[r.end..])
        }
        _ => unparsed(raw),
    }
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
    fn several_hosts_are_kept_and_secrets_masked() {
        assert_eq!(
            url("postgres://fed:s3cret@db1:5432,db2:5433/fed?target_session_attrs=read-write&password=x"),
            "postgres://fed:***@db1:5432,db2:5433/fed?target_session_attrs=read-write&password=***"
        );
        assert_eq!(
            url("postgres://fed@10.0.0.1,[::1]:5433/fed"),
            "postgres://fed@10.0.0.1,[::1]:5433/fed"
        );
        assert_eq!(
            url("nats://tok3n@h1:4222,h2:4222"),
            "nats://***@h1:4222,h2:4222"
        );
        // A list holding anything else is not shown.
        let shown = url("postgres://fed:s3cret@db1,db 2<x>/fed");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(host_list("postgres://u:p@h1:1,h2:2/db"), Some(15..24));
        assert_eq!(host_list("postgres://h1,h2"), Some(11..16));
        assert_eq!(host_list("data/federation.db"), None);
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
