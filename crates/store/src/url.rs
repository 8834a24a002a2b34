//! Which database a `DATABASE_URL` names.

use std::fmt;
use std::path::PathBuf;

use crate::error::StoreError;

#[path = "url_hosts.rs"]
mod hosts;
use hosts::postgres_hosts;

const ACCEPTED: &str = "expected postgres://USER:PASSWORD@HOST:PORT/DB (also postgresql:// and \
     postgresql+asyncpg://; several hosts as HOST1:PORT1,HOST2:PORT2 with \
     ?target_session_attrs=read-write), sqlite://PATH, sqlite:PATH, or a plain file path such \
     as data/federation.db";

/// A parsed `DATABASE_URL`: the backend and where it lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A PostgreSQL server, with its TLS settings.
    Postgres(PostgresUrl),
    /// An embedded SQLite database file.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// Parses the accepted forms:
    ///
    /// * `postgres://…`, `postgresql://…` and the original service's
    ///   `postgresql+asyncpg://…` (normalised to `postgres://…`);
    /// * `sqlite://PATH` or `sqlite:PATH` (`sqlite:///abs/path` is the absolute path
    ///   `/abs/path`);
    /// * a plain path (`data/federation.db`, `/var/lib/fed.sqlite3`): anything that does not
    ///   start with a `scheme:` of two or more characters.
    ///
    /// Anything else is a [`StoreError::InvalidUrl`] naming the accepted forms.
    pub fn parse(raw: &str) -> Result<Self, StoreError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(StoreError::InvalidUrl(format!("empty; {ACCEPTED}")));
        }
        let lower = s.to_ascii_lowercase();
        for scheme in ["postgres://", "postgresql://", "postgresql+asyncpg://"] {
            if lower.starts_with(scheme) {
                let normalised = format!("postgres://{}", &s[scheme.len()..]);
                let hosts = postgres_hosts(&normalised)?;
                return PostgresUrl::parse(normalised, hosts).map(DatabaseUrl::Postgres);
            }
        }
        let path = if lower.starts_with("sqlite://") {
            &s["sqlite://".len()..]
        } else if lower.starts_with("sqlite:") {
            &s["sqlite:".len()..]
        } else if !has_scheme(s) {
            s
        } else {
            let scheme = s.split(':').next().unwrap_or_default();
            return Err(StoreError::InvalidUrl(format!(
                "unsupported scheme \"{scheme}\"; {ACCEPTED}"
            )));
        };
        if path.is_empty() {
            return Err(StoreError::InvalidUrl(format!(
                "the SQLite URL names no file; {ACCEPTED}"
            )));
        }
        if path == ":memory:" {
            return Err(StoreError::InvalidUrl(
                "in-memory SQLite is not supported (each pooled connection would see its own \
                 empty database); name a file instead"
                    .to_owned(),
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    /// The URL with every secret masked, for logs (see `federation_domain::redact`).
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            DatabaseUrl::Postgres(pg) => federation_domain::redact::url(&pg.url),
        }
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseUrl::Postgres(_) => "postgres",
            DatabaseUrl::Sqlite(_) => "sqlite",
        }
    }
}

/// How a PostgreSQL connection uses TLS: libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Never encrypt.
    Disable,
    /// Encrypt when the server offers it, without checking its certificate (the default).
    Prefer,
    /// Always encrypt; check the certificate's chain only when `sslrootcert` is given.
    Require,
    /// Always encrypt; the certificate must chain to a trusted CA (any host name).
    VerifyCa,
    /// Always encrypt; the certificate must chain to a trusted CA and name the host.
    VerifyFull,
}

const SSL_MODES: &str = "disable, prefer, require, verify-ca or verify-full";

impl SslMode {
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(StoreError::InvalidUrl(format!(
                    "sslmode={other:?} is not supported; use {SSL_MODES}"
                )))
            }
        })
    }
}

/// Which CA certificates a verifying connection trusts (`sslrootcert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCerts {
    /// The operating system's trust store (`sslrootcert=system`, or no `sslrootcert`).
    System,
    /// The certificates in this PEM file.
    File(PathBuf),
}

/// What a PostgreSQL connection checks of the server's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Nothing: the session is encrypted, the server is not authenticated.
    Nothing,
    /// That the certificate chains to one of these CAs, whatever name it carries.
    Chain(RootCerts),
    /// That it chains to one of these CAs and names the host connected to.
    ChainAndName(RootCerts),
}

/// The TLS part of a PostgreSQL URL (`sslmode`, `sslrootcert`), as libpq reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgTls {
    /// The `sslmode` given, or `prefer`.
    pub mode: SslMode,
    /// `sslrootcert`, when given.
    pub root_cert: Option<RootCerts>,
}

impl PgTls {
    /// What to check of the server's certificate. As in libpq, `require` with an explicit
    /// `sslrootcert` checks the chain like `verify-ca`; `verify-*` without one trusts the
    /// system's CAs.
    pub fn verify(&self) -> Verify {
        let roots = || self.root_cert.clone().unwrap_or(RootCerts::System);
        match (self.mode, &self.root_cert) {
            (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => Verify::Nothing,
            (SslMode::Require, Some(r)) => Verify::Chain(r.clone()),
            (SslMode::VerifyCa, _) => Verify::Chain(roots()),
            (SslMode::VerifyFull, _) => Verify::ChainAndName(roots()),
        }
    }
}

/// A PostgreSQL `DATABASE_URL`: as given (normalised to `postgres://`), the TLS settings
/// read from its query, and the URL without them for the driver (which knows only
/// `sslmode=disable|prefer|require` and no `sslrootcert`).
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    url: String,
    driver_url: String,
    tls: PgTls,
    ignored: Vec<String>,
    hosts: Vec<String>,
}

/// Query parameters of asyncpg and of SQLAlchemy's asyncpg dialect that mean nothing to
/// libpq or to this service's pool: accepted in a URL of the original service, ignored,
/// and named in a warning ([`PostgresUrl::ignored_parameters`]).
pub const ASYNCPG_ONLY_PARAMETERS: &[&str] = &[
    "prepared_statement_cache_size",
    "statement_cache_size",
    "max_cached_statement_lifetime",
    "max_cacheable_statement_size",
    "prepared_statement_name_func",
    "command_timeout",
    "direct_tls",
    "min_size",
    "max_size",
    "max_queries",
    "max_inactive_connection_lifetime",
    "async_fallback",
];

/// asyncpg's `ssl=` value as a libpq `sslmode`.
fn asyncpg_ssl(value: &str) -> Result<SslMode, StoreError> {
    match value.to_ascii_lowercase().as_str() {
        "disable" | "false" | "0" | "no" | "off" => Ok(SslMode::Disable),
        // libpq's `allow` tries without TLS first; `prefer` is the nearest mode we have.
        "allow" | "prefer" => Ok(SslMode::Prefer),
        "require" | "true" | "1" | "yes" | "on" => Ok(SslMode::Require),
        "verify-ca" | "verify_ca" => Ok(SslMode::VerifyCa),
        "verify-full" | "verify_full" => Ok(SslMode::VerifyFull),
        other => Err(StoreError::InvalidUrl(format!(
            "ssl={other:?} (asyncpg's form of sslmode) is not supported; use {SSL_MODES}"
        ))),
    }
}

/// What a URL naming several hosts must ask for, so that the service connects only to
/// the one that takes writes (the primary), whichever it is after a failover.
const SEVERAL_HOSTS_NEED: &str = "target_session_attrs=read-write";

impl PostgresUrl {
    fn parse(url: String, hosts: Vec<String>) -> Result<Self, StoreError> {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url.as_str(), None),
        };
        let mut tls = PgTls {
            mode: SslMode::Prefer,
            root_cert: None,
        };
        let mut kept = Vec::new();
        let mut ignored = Vec::new();
        let mut sslmode_given = false;
        let mut session_attrs = None;
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
            match key {
                "sslmode" => {
                    tls.mode = SslMode::parse(&value)?;
                    sslmode_given = true;
                }
                // asyncpg's name for it (`?ssl=require`); `sslmode` wins when both are given.
                "ssl" if !sslmode_given => tls.mode = asyncpg_ssl(&value)?,
                "ssl" => {}
                k if ASYNCPG_ONLY_PARAMETERS.contains(&k) => ignored.push(k.to_owned()),
                "sslrootcert" if value.is_empty() => {
                    return Err(StoreError::InvalidUrl(
                        "sslrootcert is empty; name a PEM file of CA certificates, or `system`"
                            .to_owned(),
                    ))
                }
                "sslrootcert" if value == "system" => tls.root_cert = Some(RootCerts::System),
                "sslrootcert" => {
                    tls.root_cert = Some(RootCerts::File(PathBuf::from(value.into_owned())));
                }
                "target_session_attrs" => {
                    session_attrs = Some(value.into_owned());
                    kept.push(pair);
                }
                "host" | "hostaddr" | "port" if hosts.len() > 1 => {
                    return Err(StoreError::InvalidUrl(format!(
                        "?{key}= beside a list of hosts: name every host and its port in the \
                         URL itself (postgres://USER@HOST1:PORT1,HOST2:PORT2/DB?{SEVERAL_HOSTS_NEED})"
                    )))
                }
                _ => kept.push(pair),
            }
        }
        if hosts.len() > 1 && session_attrs.as_deref() != Some("read-write") {
            return Err(StoreError::InvalidUrl(format!(
                "the URL names {} hosts ({}) but not ?{SEVERAL_HOSTS_NEED}: without it the \
                 service could connect to a standby, which refuses every write; add it, so \
                 that it connects to whichever host is the primary",
                hosts.len(),
                hosts.join(", ")
            )));
        }
        let driver_url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(PostgresUrl {
            url,
            driver_url,
            tls,
            ignored,
            hosts,
        })
    }

    /// The hosts the URL names, as written (`HOST` or `HOST:PORT`): several for a
    /// primary and its standbys, tried in turn for the one that takes writes.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    /// With several hosts, [`PostgresUrl::driver_url`] for each one alone, in order
    /// (empty for one host).
    pub(crate) fn driver_url_per_host(&self) -> Vec<(String, String)> {
        let Some(range) = federation_domain::redact::host_list(&self.driver_url) else {
            return Vec::new();
        };
        if self.hosts.len() < 2 {
            return Vec::new();
        }
        let (before, after) = (
            &self.driver_url[..range.start],
            &self.driver_url[range.end..],
        );
        self.hosts
            .iter()
            .map(|h| (h.clone(), format!("{before}{h}{after}")))
            .collect()
    }

    /// The asyncpg-only query parameters the URL gave, which are ignored (the caller
    /// warns naming them).
    pub fn ignored_parameters(&self) -> &[String] {
        &self.ignored
    }

    /// The URL as given (scheme normalised to `postgres://`), secrets included.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The URL without `sslmode` and `sslrootcert`, for the driver (secrets included).
    pub fn driver_url(&self) -> &str {
        &self.driver_url
    }

    /// The TLS settings.
    pub fn tls(&self) -> &PgTls {
        &self.tls
    }
}

/// Shows the redacted URL and the TLS settings.
impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresUrl")
            .field("url", &federation_domain::redact::url(&self.url))
            .field("tls", &self.tls)
            .finish()
    }
}

/// Whether `s` starts like a URL (`scheme:`, the scheme two or more characters long, so a
/// Windows drive letter still reads as a path).
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    scheme.len() >= 2
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Shows the redacted form, so a URL can be logged without care.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl")
            .field(&self.redacted())
            .finish()
    }
}

/// Shows the redacted form.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DatabaseUrl::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_forms_are_normalised() {
        for raw in [
            "postgres://u:p@localhost:5432/fed",
            "postgresql://u:p@localhost:5432/fed",
            "postgresql+asyncpg://u:p@localhost:5432/fed",
            "  POSTGRESQL+ASYNCPG://u:p@localhost:5432/fed ",
        ] {
            let DatabaseUrl::Postgres(pg) = DatabaseUrl::parse(raw).unwrap() else {
                panic!("{raw}: not PostgreSQL");
            };
            assert_eq!(pg.as_str(), "postgres://u:p@localhost:5432/fed", "{raw}");
            assert_eq!(
                pg.driver_url(),
                "postgres://u:p@localhost:5432/fed",
                "{raw}"
            );
        }
    }

    #[test]
    fn sqlite_forms() {
        let cases = [
            ("sqlite://data/federation.db", "data/federation.db"),
            ("sqlite:data/federation.db", "data/federation.db"),
            ("sqlite:///var/lib/fed.db", "/var/lib/fed.db"),
            ("data/federation.db", "data/federation.db"),
            ("/tmp/x.sqlite3", "/tmp/x.sqlite3"),
            ("fed.sqlite", "fed.sqlite"),
            ("plainname", "plainname"),
        ];
        for (raw, path) in cases {
            assert_eq!(
                DatabaseUrl::parse(raw).unwrap(),
                DatabaseUrl::Sqlite(PathBuf::from(path)),
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_forms_name_the_accepted_ones() {
        for raw in [
            "",
            "   ",
            "mysql://u:p@h/db",
            "http://example.com/x.db",
            "sqlite://",
            "sqlite:",
            "sqlite::memory:",
            "postgres://",
            "postgres:/db",
            "redis:localhost",
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err();
            assert!(matches!(err, StoreError::InvalidUrl(_)), "{raw}: {err}");
            if raw != "sqlite::memory:" {
                assert!(err.to_string().contains("sqlite://PATH"), "{raw}: {err}");
            }
        }
    }

    fn pg(raw: &str) -> PostgresUrl {
        match DatabaseUrl::parse(raw).unwrap() {
            DatabaseUrl::Postgres(pg) => pg,
            DatabaseUrl::Sqlite(_) => panic!("{raw}: not PostgreSQL"),
        }
    }

    #[test]
    fn sslmode_defaults_to_prefer_without_checks() {
        let u = pg("postgres://u:p@db/fed");
        assert_eq!(u.tls().mode, SslMode::Prefer);
        assert_eq!(u.tls().root_cert, None);
        assert_eq!(u.tls().verify(), Verify::Nothing);
    }

    #[test]
    fn every_sslmode_and_what_it_checks() {
        let ca = || RootCerts::File(PathBuf::from("/etc/ca.pem"));
        let cases = [
            ("disable", "", SslMode::Disable, Verify::Nothing),
            ("prefer", "", SslMode::Prefer, Verify::Nothing),
            (
                "prefer",
                "&sslrootcert=/etc/ca.pem",
                SslMode::Prefer,
                Verify::Nothing,
            ),
            ("require", "", SslMode::Require, Verify::Nothing),
            // libpq: require with an explicit CA behaves as verify-ca.
            (
                "require",
                "&sslrootcert=/etc/ca.pem",
                SslMode::Require,
                Verify::Chain(ca()),
            ),
            (
                "verify-ca",
                "",
                SslMode::VerifyCa,
                Verify::Chain(RootCerts::System),
            ),
            (
                "verify-ca",
                "&sslrootcert=/etc/ca.pem",
                SslMode::VerifyCa,
                Verify::Chain(ca()),
            ),
            (
                "verify-full",
                "",
                SslMode::VerifyFull,
                Verify::ChainAndName(RootCerts::System),
            ),
            (
                "verify-full",
                "&sslrootcert=system",
                SslMode::VerifyFull,
                Verify::ChainAndName(RootCerts::System),
            ),
            (
                "verify-full",
                "&sslrootcert=%2Fetc%2Fca.pem",
                SslMode::VerifyFull,
                Verify::ChainAndName(ca()),
            ),
        ];
        for (mode, extra, want_mode, want_verify) in cases {
            let raw = format!("postgresql://u:p@db:5432/fed?sslmode={mode}{extra}");
            let u = pg(&raw);
            assert_eq!(u.tls().mode, want_mode, "{raw}");
            assert_eq!(u.tls().verify(), want_verify, "{raw}");
            // The driver never sees the TLS parameters; the rest of the URL is kept.
            assert_eq!(u.driver_url(), "postgres://u:p@db:5432/fed", "{raw}");
        }
    }

    #[test]
    fn other_query_parameters_reach_the_driver_unchanged() {
        let u = pg("postgres://u@db/fed?application_name=a%20b&sslmode=require&connect_timeout=3");
        assert_eq!(
            u.driver_url(),
            "postgres://u@db/fed?application_name=a%20b&connect_timeout=3"
        );
        assert_eq!(u.tls().mode, SslMode::Require);
    }

    #[test]
    fn asyncpg_parameters_are_translated_or_ignored_by_name() {
        let u = pg("postgresql+asyncpg://u:p@db/fed?ssl=require&prepared_statement_cache_size=0&application_name=x");
        assert_eq!(u.tls().mode, SslMode::Require);
        assert_eq!(u.ignored_parameters(), ["prepared_statement_cache_size"]);
        assert_eq!(u.driver_url(), "postgres://u:p@db/fed?application_name=x");
        assert_eq!(
            pg("postgres://u@db/fed?ssl=disable").tls().mode,
            SslMode::Disable
        );
        assert_eq!(
            pg("postgres://u@db/fed?ssl=true").tls().mode,
            SslMode::Require
        );
        // sslmode wins, in either order.
        assert_eq!(
            pg("postgres://u@db/fed?sslmode=disable&ssl=require")
                .tls()
                .mode,
            SslMode::Disable
        );
        assert_eq!(
            pg("postgres://u@db/fed?ssl=require&sslmode=disable")
                .tls()
                .mode,
            SslMode::Disable
        );
        let err = DatabaseUrl::parse("postgres://u@db/fed?ssl=maybe")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ssl=\"maybe\"") && err.contains("verify-full"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_sslmode_names_the_accepted_ones() {
        for raw in [
            "postgres://u@db/fed?sslmode=allow",
            "postgres://u@db/fed?sslmode=VERIFY-FULL",
            "postgres://u@db/fed?sslmode=",
            "postgres://u@db/fed?sslrootcert=",
        ] {
            let err = DatabaseUrl::parse(raw).unwrap_err();
            assert!(matches!(err, StoreError::InvalidUrl(_)), "{raw}: {err}");
            let text = err.to_string();
            assert!(
                text.contains("verify-full") || text.contains("sslrootcert is empty"),
                "{raw}: {text}"
            );
        }
    }

    #[test]
    fn redaction_keeps_the_tls_parameters_and_hides_the_password() {
        let u = DatabaseUrl::parse(
            "postgres://fed:s3cret@db/fed?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        )
        .unwrap();
        let shown = u.redacted();
        assert!(
            shown.starts_with("postgres://fed:***@db/fed?sslmode=verify-full&sslrootcert="),
            "{shown}"
        );
        assert!(shown.contains("ca.pem"), "{shown}");
        assert!(!format!("{u:?}").contains("s3cret"));
    }

    #[test]
    fn redaction_hides_passwords() {
        let u =
            DatabaseUrl::parse("postgresql://fed:s3cret@db:5432/fed?password=also&x=1").unwrap();
        let shown = u.redacted();
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("also"), "{shown}");
        assert!(shown.contains("fed:***@db:5432/fed"), "{shown}");
        assert!(!format!("{u:?}").contains("s3cret"));
        // PostgreSQL's role name alone is kept; ?sslpassword= is masked.
        let u = DatabaseUrl::parse("postgres://fed@db/fed?sslpassword=k3y").unwrap();
        assert_eq!(u.redacted(), "postgres://fed@db/fed?sslpassword=***");
        let u = DatabaseUrl::parse("sqlite://data/f.db").unwrap();
        assert_eq!(u.redacted(), "sqlite://data/f.db");
    }
}

#[cfg(test)]
#[path = "url_hosts_tests.rs"]
mod hosts_tests;
