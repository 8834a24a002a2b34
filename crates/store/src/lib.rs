//! Persistence for the federation service: the domain's [`ProjectRepository`] on
//! PostgreSQL (diesel-async over tokio-postgres, no libpq) and on an embedded SQLite file
//! (diesel's SQLite driven through diesel-async's `SyncConnectionWrapper`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), federation_store::StoreError> {
//! use federation_store::{DatabaseUrl, Store, StoreOptions};
//! let url = DatabaseUrl::parse("sqlite://data/federation.db")?;
//! let store = Store::connect(&url, StoreOptions::default()).await?;
//! let applied = store.run_migrations().await?;
//! println!("applied {applied:?} on {}", url.redacted());
//! # Ok(()) }
//! ```
//!
//! The schema lives in `migrations/postgres` and `migrations/sqlite` and is compiled in.
//! Times are UTC with microsecond precision on both backends.
//!
//! [`ProjectRepository`]: federation_domain::ProjectRepository

#![warn(missing_docs)]

mod backend;
pub mod backup;
mod convert;
mod edit;
mod error;
mod group;
mod incidents;
mod log;
mod notify;
pub mod original;
mod pg;
mod pgconn;
mod planned;
mod prepared;
mod presence_write;
mod reads;
mod repo;
mod rows;
mod schema;
mod slo;
mod sqlite;
mod store;
mod totals;
mod upsert;
mod uptime;
mod url;

pub use crate::error::StoreError;
pub use crate::log::{CHANGES_CHANNEL, SNAPSHOT_PAGE};
pub use crate::store::{
    ChangeNotifications, Store, StoreOptions, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS,
};
pub use crate::url::{DatabaseUrl, PgTls, PostgresUrl, RootCerts, SslMode, Verify};
