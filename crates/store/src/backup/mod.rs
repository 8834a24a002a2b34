//! Backup and restore in the service's own format: a consistent snapshot of everything
//! stored, as versioned JSON lines, that loads into an empty database of either backend
//! (`federation export FILE`, `federation import --from-file FILE`).
//!
//! The file is a header line ([`Header`]: format name and version), then one
//! [`Record`] per line, each with a `type`, in the order of [`KINDS`], then an `end`
//! record with the number of records before it (a cut file is refused, not loaded in
//! part).
//!
//! - **Export** reads in one transaction (PostgreSQL: `REPEATABLE READ READ ONLY`;
//!   SQLite: one read transaction, a snapshot under WAL) and streams pages of
//!   [`PAGE`] rows, so memory stays bounded whatever the database holds.
//! - **Import** refuses a database that holds anything ([`BackupError::NotEmpty`]),
//!   then loads every record in one transaction: any bad line (named by its number)
//!   rolls everything back.
//!
//! What is carried: projects (tags, metadata, maintenance window, heartbeat key's
//! digest, status and times), their history, notification channels (with their
//! secrets), channels' cursors and deliveries, uptime's heard spans and daily rollups,
//! and the change log's head (revisions go on from it, so change-stream clients and
//! cursors keep their meaning). Not carried: the log's rows themselves (a restored
//! database starts with its log trimmed at the head; followers load a snapshot) and the
//! sweeper lease (the next leader takes a new one).
//!
//! **Adding a table** (a helper's new table is exported in these places, all in this
//! folder):
//! 1. `records.rs`: a [`Record`] variant and its struct (the stored values; refer to
//!    other rows by slug or name, not by id), with its line in `Record::kind` and
//!    `Record::parse`, and conversions from and into its row that apply the domain's
//!    checks;
//! 2. [`KINDS`]: its name, at the position it takes in the file (after the kinds it
//!    refers to);
//! 3. `ops.rs`: its page loop in `export_all` (in [`KINDS`] order, keyset-paged by its
//!    primary key), its arm in `insert_batch` (the compiler points at the missing arm),
//!    and its table in `first_filled` (the emptiness check);
//! 4. the round trip in `crates/store/tests/backup.rs` fills one row of it (the test
//!    checks that every kind in [`KINDS`] is in the file).

mod error;
mod export;
mod import;
mod ops;
mod records;

use serde::{Deserialize, Serialize};

pub use self::error::BackupError;
pub use self::records::{
    ChannelRecord, CursorRecord, DailyRecord, DeliveryRecord, EndRecord, HeardRecord, LogRecord,
    ProjectRecord, Record, RolledDayRecord, TransitionRecord,
};

/// The format's name, in the header.
pub const FORMAT: &str = "federation-export";

/// The format version this build writes and reads. Raise it when a record changes
/// shape; an import refuses any other version.
pub const VERSION: u32 = 1;

/// Rows read per page on export (and written per statement on import).
pub const PAGE: usize = 500;

/// The kinds of records, in file order: each after the kinds it refers to.
pub const KINDS: &[&str] = &[
    "log",
    "project",
    "transition",
    "channel",
    "channel_cursor",
    "delivery",
    "uptime_heard",
    "uptime_daily",
    "uptime_rolled_day",
    "end",
];

/// The first line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// The format version ([`VERSION`] when written by this build).
    pub version: u32,
    /// The backend it was exported from (`postgres` or `sqlite`); informative.
    #[serde(default)]
    pub backend: String,
    /// When the export began; informative.
    #[serde(default)]
    pub exported_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The kinds of records the writer knew, in file order; informative.
    #[serde(default)]
    pub kinds: Vec<String>,
}

/// How many records of each kind an export wrote or an import loaded, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub Vec<(&'static str, u64)>);

impl Counts {
    /// Counts one record of `kind`.
    pub(crate) fn add(&mut self, kind: &'static str) {
        match self.0.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.0.push((kind, 1)),
        }
    }

    /// Every record counted.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(_, n)| n).sum()
    }

    /// The records of `kind`.
    pub fn of(&self, kind: &str) -> u64 {
        self.0
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |(_, n)| *n)
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| *k != "end")
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}
