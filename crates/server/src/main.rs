//! `federation`: the federation service and its operator commands.

use anyhow::Context;
use clap::{Parser, Subcommand};
use federation_server::{app, telemetry, Application, ServeOptions, Settings};

#[derive(Debug, Parser)]
#[command(
    name = "federation",
    version,
    about = "Catalog and heartbeat monitor for CommandCenter projects"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (embedded SQLite and HTTP-only heartbeats unless configured).
    Serve {
        /// Apply pending PostgreSQL migrations before serving (SQLite always migrates).
        #[arg(long)]
        migrate: bool,
    },
    /// Apply pending database migrations and print what was applied.
    Migrate {
        /// Database to migrate; defaults to DATABASE_URL, else the embedded SQLite file.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// GET /health on SERVICE_HOST:SERVICE_PORT; exit 0 when it answers 2xx (for container
    /// health checks in images without curl).
    Healthcheck(federation_server::healthcheck::Args),
    #[command(flatten)]
    Ops(federation_server::cli::OpsCommand),
}

fn settings() -> anyhow::Result<Settings> {
    let dir = std::env::current_dir().context("reading the working directory")?;
    Settings::load(&dir)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain of causes on one line, for a person; no backtrace.
            eprintln!("federation: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Healthcheck(args) => federation_server::healthcheck::run(args),
        Command::Serve { migrate } => {
            let settings = settings()?;
            telemetry::init(&settings.log_level, settings.log_format)?;
            tracing::info!(config = ?settings, "starting federation service");
            let app = Application::build(settings, ServeOptions { migrate }).await?;
            app.run_until_stopped().await
        }
        Command::Migrate { database_url } => {
            let mut settings = settings()?;
            telemetry::init(&settings.log_level, settings.log_format)?;
            if database_url.is_some() {
                settings.database_url = database_url;
            }
            let url = app::database_url(&settings)?;
            let applied = app::migrate(&settings).await?;
            if applied.is_empty() {
                println!("{}: schema is up to date; nothing applied", url.redacted());
            } else {
                for version in &applied {
                    println!("applied {version}");
                }
                println!("{}: {} migration(s) applied", url.redacted(), applied.len());
            }
            Ok(())
        }
        Command::Ops(command) => command.run().await,
    }
}
