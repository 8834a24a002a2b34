//! The operator commands of the `federation` binary, beside `serve` and `migrate`:
//!
//! - `federation heartbeat` sends a project's heartbeats (NATS or HTTP), once or until
//!   Ctrl-C ([`heartbeat`], over the `federation-heartbeat` library);
//! - `federation projects list|get|register|delete` talks to a running service
//!   ([`projects`], over [`client::FederationClient`]);
//! - `federation simulate` registers a fleet and publishes its heartbeats ([`simulate`]);
//! - `federation export` and `federation import --from-file` write and load the
//!   service's own backup format ([`backup`]);
//! - `federation bench-listen` (hidden) counts messages on a subject and measures status
//!   event delays, for `cargo xtask bench` ([`listen`]).
//!
//! Each command is a plain async function over its arguments, so tests call them
//! without a process.

pub mod backup;
pub mod client;
pub mod heartbeat;
pub mod listen;
pub mod projects;
pub mod simulate;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use federation_heartbeat::NatsAuth;

/// Where NATS is and how to log in, as the service takes it (user and password go in
/// the URL): shared by `heartbeat`, `simulate` and `bench-listen`.
#[derive(Debug, Clone, Default, Args)]
pub struct NatsArgs {
    /// NATS at this URL (`nats://host:4222`, `tls://…`). Its value from the environment
    /// is not shown in `--help`: it may carry credentials.
    #[arg(long = "nats-url", env = "NATS_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// Authenticate with this token.
    #[arg(long = "nats-token", env = "NATS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Authenticate with this credentials file (JWT and NKey seed).
    #[arg(long = "nats-creds", env = "NATS_CREDS")]
    pub creds: Option<PathBuf>,
    /// Authenticate with this NKey seed.
    #[arg(long = "nats-nkey", env = "NATS_NKEY", hide_env_values = true)]
    pub nkey: Option<String>,
    /// Trust the NATS server's certificate if it chains to a CA in this PEM file (TLS is
    /// then required).
    #[arg(long = "nats-tls-ca-file", env = "NATS_TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Present this client certificate (PEM) to NATS; with --nats-tls-key-file.
    #[arg(
        long = "nats-tls-cert-file",
        env = "NATS_TLS_CERT_FILE",
        requires = "tls_key_file"
    )]
    pub tls_cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM); with --nats-tls-cert-file.
    #[arg(
        long = "nats-tls-key-file",
        env = "NATS_TLS_KEY_FILE",
        requires = "tls_cert_file"
    )]
    pub tls_key_file: Option<PathBuf>,
}

impl NatsArgs {
    /// A NATS URL given on the command line or in NATS_URL.
    pub fn with_url(url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::default()
        }
    }

    /// The authentication part.
    pub fn auth(&self) -> NatsAuth {
        NatsAuth {
            token: self.token.clone(),
            creds: self.creds.clone(),
            nkey: self.nkey.clone(),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_client: self.tls_cert_file.clone().zip(self.tls_key_file.clone()),
        }
    }
}

/// The operator commands; `main.rs` flattens them into its own. (Boxed: the argument
/// structs are large and `serve` should not pay for them.)
#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Send a project's heartbeats over NATS (`hub.presence.<slug>`) or HTTP, once or
    /// every interval until Ctrl-C.
    Heartbeat(Box<heartbeat::HeartbeatArgs>),
    /// List, show, register and delete projects on a running service.
    Projects(Box<projects::ProjectsArgs>),
    /// Load generator: register N projects, then publish their heartbeats at an
    /// interval or a rate for a duration, with a progress line.
    Simulate(Box<simulate::SimulateArgs>),
    /// Count messages on a NATS subject, or measure status-event delays (for the bench).
    #[command(hide = true)]
    BenchListen(Box<listen::ListenArgs>),
}

impl OpsCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        init_logging();
        match self {
            OpsCommand::Heartbeat(args) => heartbeat::run(*args).await,
            OpsCommand::Projects(args) => projects::run(*args).await,
            OpsCommand::Simulate(args) => simulate::run(*args).await.map(|_| ()),
            OpsCommand::BenchListen(args) => listen::run(*args).await.map(|_| ()),
        }
    }
}

/// Warnings and errors on stderr (stdout stays clean for tables and `--json`);
/// `LOG_LEVEL` changes the level.
fn init_logging() {
    let level = std::env::var("LOG_LEVEL").unwrap_or_else(|_| "warn".into());
    let filter = tracing_subscriber::EnvFilter::try_new(level.to_ascii_lowercase())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A clap value parser for `30s`, `500ms`, `1m`, `90`.
pub(crate) fn duration_arg(raw: &str) -> Result<Duration, String> {
    crate::settings::parse_duration(raw, "the duration").map_err(|e| format!("{e:#}"))
}

/// Waits for Ctrl-C or (on Unix) SIGTERM.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
