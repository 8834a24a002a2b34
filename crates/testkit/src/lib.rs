//! Throwaway servers for the federation service's tests: a PostgreSQL cluster and a
//! `nats-server`, started on free ports and cleaned up when the test binary exits.
//!
//! Everything here is synchronous, so it works from plain `#[test]`s and from any tokio
//! runtime flavour alike.
//!
//! * [`postgres_database`] gives each test its own fresh, empty database on a cluster
//!   shared by the whole test binary (started on first use). Set
//!   `FED_TEST_DATABASE_URL=postgres://…` to use an external server instead (each test
//!   still gets its own database on it, dropped afterwards).
//! * [`PostgresCluster`] is a cluster one test owns, to stop and restart it.
//! * [`ReplicatedPostgres`] is a primary with a streaming standby (synchronous or
//!   not), for database failover tests: stop the primary, promote the standby.
//! * [`TestPki`] makes a CA and server certificates for TLS tests, and
//!   [`shared_tls_cluster`] is a PostgreSQL cluster serving TLS only, shared by a binary.
//! * [`NatsServer`] and [`shared_nats_url`] do the same for NATS (`FED_TEST_NATS_URL`
//!   points at an external server).
//! * [`PrometheusServer`] is a Prometheus scraping what a test names, every second.
//!
//! PostgreSQL binaries are looked up in `/usr/lib/postgresql/*/bin` (highest version)
//! and then on `PATH`; `nats-server` on `PATH` and in `/usr/sbin`. When the machine runs
//! tests as root, PostgreSQL (which refuses root) runs as the `postgres` user through
//! `runuser`.
//!
//! Statics are never dropped, so each server started here has a small watchdog process
//! (`sh`) that waits for the test binary to exit and then stops the server and removes
//! its files, even when the binary is killed.

#![warn(missing_docs)]

mod nats;
mod postgres;
mod process;
mod prometheus;
mod psql_session;
pub mod receiver;
mod replication;
mod tls;

pub use nats::{shared_nats_url, NatsServer};
pub use postgres::{
    postgres_database, psql_file, psql_query, shared_tls_cluster, PostgresCluster, TestDatabase,
};
pub use process::free_port;
pub use prometheus::PrometheusServer;
pub use psql_session::PsqlSession;
pub use receiver::{Mode as ReceiverMode, Received, Receiver};
pub use replication::{ReplicatedPostgres, Replication, STANDBY_NAME};
pub use tls::{ServerCert, TestPki};

/// What to install when a server binary is missing.
pub(crate) const INSTALL_HINT: &str =
    "install the Debian packages `postgresql` and `nats-server` (apt-get install postgresql nats-server)";
