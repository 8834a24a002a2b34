//! Which database a `DATABASE_URL` names.

use std::fmt;
use std::path::PathBuf;

use crate::error::StoreError;

const ACCEPTED: &str = "expected postgres://USER:PASSWORD@HOST:PORT/DB (also postgresql:// and \
     postgresql+asyncpg://), sqlite://PATH, sqlite:PATH, or a plain file path such as \
     data/federation.db";

/// A parsed `DATABASE_URL`: the backend and where it lives.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A PostgreSQL server; the URL is normalised to the `postgres://` scheme.
    Postgres(String),
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
                let parsed = url::Url::parse(&normalised).map_err(|e| {
                    StoreError::InvalidUrl(format!("not a valid PostgreSQL URL ({e}); {ACCEPTED}"))
                })?;
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(StoreError::InvalidUrl(format!(
                        "the PostgreSQL URL names no host; {ACCEPTED}"
                    )));
                }
                return Ok(DatabaseUrl::Postgres(normalised));
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
            DatabaseUrl::Postgres(raw) => federation_domain::redact::url(raw),
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
            assert_eq!(
                DatabaseUrl::parse(raw).unwrap(),
                DatabaseUrl::Postgres("postgres://u:p@localhost:5432/fed".into()),
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
