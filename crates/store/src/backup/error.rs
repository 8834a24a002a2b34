//! Why an export or an import failed.

use thiserror::Error;

use crate::error::StoreError;

/// Why an export or an import failed. An import that fails changed nothing.
#[derive(Debug, Error)]
pub enum BackupError {
    /// The database failed (or an exported row does not pass the domain's rules).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing the file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The first line is not this format's header.
    #[error("line 1: not a federation export header ({0}); nothing was imported")]
    Header(String),
    /// The file was written in a format version this build does not read.
    #[error(
        "line 1: format version {found}; this build reads version {supported} only \
         (import it with the release that wrote it, or a newer one); nothing was imported"
    )]
    Version {
        /// The file's version.
        found: u32,
        /// The one this build reads.
        supported: u32,
    },
    /// One line is not a valid record.
    #[error("line {line}: {message}; nothing was imported")]
    Line {
        /// Its number, from 1 (the header).
        line: u64,
        /// What is wrong with it (with the field's path for a JSON mismatch).
        message: String,
    },
    /// The file stops before its `end` record: it was cut.
    #[error(
        "the file ends at line {lines} without its `end` record: it is incomplete \
         (cut while copying, or the export failed); nothing was imported"
    )]
    Truncated {
        /// Lines read.
        lines: u64,
    },
    /// The target database already holds data.
    #[error(
        "the database is not empty ({table} has {rows} row(s)); an import goes into an \
         empty, migrated database only; nothing was imported"
    )]
    NotEmpty {
        /// The first table found holding rows.
        table: &'static str,
        /// How many.
        rows: i64,
    },
}

impl From<diesel::result::Error> for BackupError {
    fn from(e: diesel::result::Error) -> Self {
        BackupError::Store(StoreError::Query(e))
    }
}

impl BackupError {
    /// A bad line.
    pub(crate) fn line(line: u64, message: impl std::fmt::Display) -> Self {
        BackupError::Line {
            line,
            message: message.to_string(),
        }
    }

    /// A file error while `context`.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BackupError::Io {
            context: context.into(),
            source,
        }
    }
}
