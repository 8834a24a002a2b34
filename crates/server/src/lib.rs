//! The federation service's composition root: configuration ([`settings`]), the catalog
//! file ([`catalog`]), logging ([`telemetry`]) and the wiring of store, use cases,
//! background tasks and HTTP server ([`app`]).

pub mod app;
pub mod catalog;
pub mod cli;
pub mod healthcheck;
pub mod metered;
pub mod settings;
pub mod telemetry;

pub use app::{AppHandle, Application, ServeOptions};
pub use settings::Settings;
