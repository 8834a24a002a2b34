//! The store's error type.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use federation_domain::RepositoryError;
use thiserror::Error;

/// Why a store operation failed.
///
/// The text may carry SQL, database messages or a (redacted) URL: it is meant for logs.
/// Convert it into [`RepositoryError`] at the port boundary; the API layer never shows
/// either to a client.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The `DATABASE_URL` is not one of the accepted forms.
    #[error("invalid database url: {0}")]
    InvalidUrl(String),
    /// A connection could not be opened (refused, bad credentials, unreachable host).
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// No connection became available in time.
    #[error("timed out after {0:?} waiting for a database connection")]
    Timeout(std::time::Duration),
    /// The database did not answer an operation in time (a frozen or overloaded
    /// server); the operation was abandoned (a transaction is rolled back).
    #[error("no answer from the database within {0:?}")]
    Deadline(std::time::Duration),
    /// The connection pool failed in another way.
    #[error("connection pool: {0}")]
    Pool(String),
    /// A query failed.
    #[error("query failed: {0}")]
    Query(#[from] DieselError),
    /// Applying or listing migrations failed.
    #[error("migrations: {0}")]
    Migration(String),
    /// A file-system step failed (creating the SQLite file's folder).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A background task running the operation failed (panicked or was cancelled).
    #[error("store task failed: {0}")]
    Task(String),
    /// A change breaks a domain rule once applied to the stored row (a metadata merge
    /// past its bounds); the transaction is rolled back.
    #[error(transparent)]
    Rejected(federation_domain::ValidationError),
    /// A stored value does not pass the domain's validation (edited by hand, or a bug).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// A row of the original's database breaks one of our rules; nothing was changed.
    #[error(
        "the original's project id {id} (slug {slug:?}) cannot be converted: {field}: {message}. \
         Nothing was changed. Fix the row in the original database and run again, or run \
         `federation migrate --set-aside-invalid` to convert the other rows and keep such \
         rows, unchanged, in table original_projects_set_aside"
    )]
    OriginalRow {
        /// The row's id.
        id: i64,
        /// The row's slug.
        slug: String,
        /// The field that breaks a rule.
        field: String,
        /// The rule.
        message: String,
    },
    /// A row of the original's database breaks one of our rules; nothing was imported.
    #[error(
        "the original's project id {id} (slug {slug:?}) cannot be imported: {field}: {message}. \
         Nothing was imported. Fix the row in the original database and run again, or run \
         `federation import --skip-invalid` to import the other rows (this one then stays in \
         the original database only)"
    )]
    OriginalImportRow {
        /// The row's id.
        id: i64,
        /// The row's slug.
        slug: String,
        /// The field that breaks a rule.
        field: String,
        /// The rule.
        message: String,
    },
    /// A write fenced by the sweeper lease carried a term that is no longer current.
    #[error("{0}")]
    Fenced(String),
}

impl StoreError {
    /// Whether the failure means the database cannot be reached right now (as opposed to
    /// a query the database refused).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect(_)
            | StoreError::Timeout(_)
            | StoreError::Deadline(_)
            | StoreError::Pool(_) => true,
            StoreError::Query(e) => is_connection_error(e),
            _ => false,
        }
    }
}

/// Whether a diesel error is about the link to the database rather than the query.
/// A write refused because the server does not take writes (SQLSTATE 25006: a primary
/// demoted or fenced during a failover, a standby) is one: the query was fine, the
/// server is not the primary (any longer), and the pool drops that connection.
fn is_connection_error(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(kind, info) => {
            matches!(
                kind,
                DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand
                    | DatabaseErrorKind::ReadOnlyTransaction
            ) || {
                let msg = info.message();
                // PostgreSQL's admin shutdown / crash recovery, SQLite's lock timeout.
                // statement_timeout: the server is too slow to answer, as when unreachable.
                msg.contains("terminating connection")
                    || msg.contains("statement timeout")
                    || msg.contains("the database system is")
                    || msg.contains("database is locked")
            }
        }
        DieselError::BrokenTransactionManager => true,
        // The link went during COMMIT (a primary crashing under the write), so the
        // rollback failed too: the outcome is unknown, and the database unreachable.
        DieselError::RollbackErrorOnCommit { commit_error, .. } => {
            is_connection_error(commit_error)
        }
        _ => false,
    }
}

impl From<StoreError> for RepositoryError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Fenced(why) = e {
            RepositoryError::Fenced(why)
        } else if let StoreError::Rejected(v) = e {
            RepositoryError::Rejected(v)
        } else if e.is_unavailable() {
            RepositoryError::Unavailable(e.to_string())
        } else {
            RepositoryError::Internal(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> StoreError {
        StoreError::Query(DieselError::DatabaseError(
            kind,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn a_server_that_no_longer_takes_writes_is_unavailable() {
        // SQLSTATE 25006, as a demoted or fenced primary answers a write.
        let e = database_error(
            DatabaseErrorKind::ReadOnlyTransaction,
            "cannot execute INSERT in a read-only transaction",
        );
        assert!(e.is_unavailable());
        assert!(matches!(
            RepositoryError::from(e),
            RepositoryError::Unavailable(_)
        ));
        // A commit cut off with its connection (and so its rollback).
        let closed = || {
            Box::new(DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                Box::new("connection closed".to_owned()),
            ))
        };
        let e = StoreError::Query(DieselError::RollbackErrorOnCommit {
            rollback_error: closed(),
            commit_error: closed(),
        });
        assert!(e.is_unavailable());
        // A refused query stays an internal error.
        let e = database_error(DatabaseErrorKind::CheckViolation, "violates check");
        assert!(!e.is_unavailable());
    }
}
