//! The server's end-to-end tests, one binary (one link, one shared PostgreSQL cluster and
//! nats-server for all of them):
//!
//! - [`api`]: the real service on port 0, over real HTTP, on PostgreSQL and SQLite;
//! - [`backup`]: `federation export` and `import --from-file` between the backends;
//! - [`catalog_channels`]: notification channels declared in the catalog file;
//! - [`cli`]: the operator commands against it;
//! - [`dashboard`]: the dashboard in a real headless Chromium over WebDriver;
//! - [`deploy`]: checks of `deploy/` that can fail;
//! - [`discovery`]: Prometheus' HTTP service discovery, with a real Prometheus;
//! - [`events`]: the change stream (SSE), blocking queries and the summary;
//! - [`flapping`]: a project flaps (its field, the change stream, NATS), then settles;
//! - [`fleet`]: fleet operations (per-project heartbeat intervals, maintenance, expiry,
//!   the declarative catalog, bulk registration);
//! - [`frozen`]: PostgreSQL frozen (SIGSTOP) while heartbeats flow;
//! - [`heartbeat_keys`]: per-project heartbeat keys guarding HTTP heartbeats;
//! - [`heartbeats`]: heartbeats over NATS against a real nats-server;
//! - [`http_limits`]: pipelining floods, stalled bodies, errors of the HTTP layer;
//! - [`logs`]: `LOG_FORMAT=json` on the real binary (run as a process, so no logger is
//!   installed in this one);
//! - [`original`]: the Python original's catalog file and database;
//! - [`permissions`]: NATS permissions the server refuses the service;
//! - [`replicas`]: three replicas of the real binary on one PostgreSQL and nats-server;
//! - [`retention`]: the flip flood and the history's retention;
//! - [`secrets`]: no secret in anything the real binary prints;
//! - [`status_page`]: the public status page and badges, over HTTP and in Chromium;
//! - [`ticks`]: negative checks that wait for the service's presence ticks, not a sleep;
//! - [`tls`]: the service over TLS to PostgreSQL (`verify-full`) and NATS (`tls://`).
//!
//! [`helpers`] starts the service and talks to it; [`helpers::eventually`] waits for a
//! condition with a deadline.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

/// Runs one scenario on both backends: `mod $name { postgres, sqlite }`, each test
/// calling `$scenario` with a [`helpers::TestConfig`] on its backend (the calling module
/// has `TestConfig` and `Backend` in scope).
macro_rules! on_both_backends {
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$scenario(super::TestConfig::new(|_| super::Backend::postgres())).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario(super::TestConfig::new(super::Backend::sqlite)).await;
            }
        }
    };
}

mod api;
mod backup;
mod binary;
mod catalog_channels;
mod cli;
mod compat;
mod dashboard;
mod delivery;
mod deploy;
mod discovery;
mod events;
mod flapping;
mod fleet;
mod frozen;
mod heartbeat_keys;
mod heartbeats;
mod helpers;
mod http_limits;
mod incidents;
mod logs;
mod notify;
mod original;
mod permissions;
mod replicas;
mod retention;
mod secrets;
mod slos_rest;
mod status_page;
mod ticks;
mod tls;
mod uptime;
