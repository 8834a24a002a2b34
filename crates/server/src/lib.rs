//! The federation service's composition root: configuration ([`settings`]), the catalog
//! file ([`catalog`]), logging ([`telemetry`]) and the wiring of store, use cases,
//! background tasks and HTTP server ([`app`]); the store decorator that measures the
//! batched presence writes into the metrics ([`metered`]); `federation healthcheck`, a
//! container's probe of `/health` without curl ([`healthcheck`]); and the operator
//! commands `heartbeat`, `projects`, `simulate` and `bench-listen` ([`cli`]).

pub mod app;
pub mod catalog;
pub mod cli;
pub mod conn;
pub mod healthcheck;
pub mod metered;
pub mod settings;
pub mod slo;
pub mod telemetry;

pub use app::{AppHandle, Application, ServeOptions};
pub use settings::Settings;
