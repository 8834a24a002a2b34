//! `federation`: the federation service and its operator commands.

use anyhow::Context;
use clap::{Parser, Subcommand};
use federation_server::{app, telemetry, Application, ServeOptions, Settings};

/// mimalloc, chosen by measurement over the system allocator (docs/benchmarks.md,
/// *Allocator*). The feature `system-allocator` leaves it out, for heap profilers
/// (heaptrack) that only see the system allocator's calls.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// On a database the Python original built: convert the rows that pass our
        /// rules and keep the others, unchanged, in table original_projects_set_aside
        /// (without it, such a row refuses the whole conversion).
        #[arg(long)]
        set_aside_invalid: bool,
    },
    /// Write a consistent snapshot of everything stored (projects, history, channels
    /// with their secrets, uptime, the change log's head) to FILE as versioned JSON
    /// lines, readable by its owner only; load it with `import --from-file`.
    Export {
        /// The file to write (written as FILE.partial, then renamed).
        file: std::path::PathBuf,
        /// Database to export; defaults to DATABASE_URL, else the embedded SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Load an export (`--from-file`, into any backend), or copy the projects of a
    /// database the Python original built (`--from`, left as it is: ids, statuses, tags
    /// and times kept), into this service's database, migrated first; it must hold
    /// nothing (`--from-file`) or no project (`--from`). One transaction either way.
    #[command(group = clap::ArgGroup::new("source").required(true))]
    Import {
        /// The original's PostgreSQL database (postgresql://…, postgresql+asyncpg://…).
        #[arg(long = "from", group = "source")]
        from: Option<String>,
        /// A file written by `federation export`.
        #[arg(long = "from-file", group = "source")]
        from_file: Option<std::path::PathBuf>,
        /// Database to import into; defaults to DATABASE_URL (with --from: PostgreSQL
        /// only), else the embedded SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// With --from: import the rows that pass our rules and leave the others in the
        /// original only (without it, such a row refuses the whole import).
        #[arg(long)]
        skip_invalid: bool,
    },
    /// GET /health on SERVICE_HOST:SERVICE_PORT; exit 0 when it answers 2xx (for container
    /// health checks in images without curl).
    Healthcheck(federation_server::healthcheck::Args),
    /// The declarative catalog.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    #[command(flatten)]
    Ops(federation_server::cli::OpsCommand),
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Apply a catalog file (the format of config/projects.yaml) to the database, in one
    /// transaction, after printing what it changes; running replicas follow.
    Apply {
        /// The catalog file.
        file: std::path::PathBuf,
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Remove the projects the file registered and no longer lists (also `prune: true`
        /// in the file, or FEDERATION_CATALOG_PRUNE).
        #[arg(long)]
        prune: bool,
    },
}

fn settings() -> anyhow::Result<Settings> {
    let dir = std::env::current_dir().context("reading the working directory")?;
    Settings::load(&dir)
}

/// Reads `./.env` (or `FEDERATION_ENV_FILE`) into the process environment, the
/// environment winning, before any thread starts. Returns the file read.
fn load_env_file() -> anyhow::Result<Option<(std::path::PathBuf, usize)>> {
    let dir = std::env::current_dir().context("reading the working directory")?;
    let Some((path, vars)) =
        federation_server::settings::env_file(&dir, |k| std::env::var(k).ok())?
    else {
        return Ok(None);
    };
    let count = vars.len();
    for (key, value) in vars {
        // Single-threaded still: no other thread reads the environment yet.
        std::env::set_var(key, value);
    }
    Ok(Some((path, count)))
}

/// Says which env file was read (once logging is up).
fn log_env_file(env_file: Option<&(std::path::PathBuf, usize)>) {
    match env_file {
        Some((path, count)) => tracing::info!(
            env_file = %path.display(),
            variables_set = count,
            "read settings from env file (the environment wins over it)"
        ),
        None => tracing::info!("no .env file in the working directory"),
    }
}

/// The settings, with logging up and the env file reported; `database_url` (a command's
/// `--database-url`) wins over the configured one.
fn settings_logged(
    env_file: Option<&(std::path::PathBuf, usize)>,
    database_url: Option<String>,
) -> anyhow::Result<Settings> {
    let mut settings = settings()?;
    telemetry::init(&settings.log_level, settings.log_format)?;
    log_env_file(env_file);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    if database_url.is_some() {
        settings.database_url = database_url;
    }
    Ok(settings)
}

/// Turns transparent huge pages off for this process, before the runtime starts. The
/// allocator asks for them on its regions; a huge page is resident whole once any of it
/// is touched, and the kernel's khugepaged later merges a partly used region into one,
/// so the resident set grew minutes after a burst had been freed (docs/benchmarks.md,
/// *Huge pages*). Returns why it could not, for the log.
fn no_transparent_huge_pages() -> Option<String> {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        return Some(e.to_string());
    }
    None
}

fn main() -> std::process::ExitCode {
    let huge_pages_kept = no_transparent_huge_pages();
    let outcome = load_env_file().and_then(|env_file| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?
            .block_on(run(env_file, huge_pages_kept))
    });
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain of causes on one line, for a person; no backtrace.
            eprintln!("federation: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(
    env_file: Option<(std::path::PathBuf, usize)>,
    huge_pages_kept: Option<String>,
) -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Healthcheck(args) => federation_server::healthcheck::run(args),
        Command::Serve { migrate } => {
            let settings = settings_logged(env_file.as_ref(), None)?;
            tracing::info!(config = ?settings, "starting federation service");
            if let Some(why) = huge_pages_kept {
                tracing::warn!(error = %why, "transparent huge pages could not be turned off for this process; its resident memory may grow in steps of 2 MiB");
            }
            let app = Application::build(settings, ServeOptions { migrate }).await?;
            app.run_until_stopped().await
        }
        Command::Migrate {
            database_url,
            set_aside_invalid,
        } => {
            let settings = settings_logged(env_file.as_ref(), database_url)?;
            let url = app::database_url(&settings)?;
            let (conversion, applied) = app::migrate_converting(
                &settings,
                federation_store::original::ConversionOptions { set_aside_invalid },
            )
            .await?;
            if let Some(c) = &conversion {
                println!(
                    "{}: a database of the original service (alembic {}): converted in one transaction",
                    url.redacted(),
                    c.alembic_version
                );
                for p in &c.converted {
                    println!(
                        "  kept project id {} {:?} status {} ({} tag(s))",
                        p.id, p.slug, p.status, p.tags
                    );
                }
                for r in &c.set_aside {
                    println!(
                        "  set aside project id {} {:?}: {} (kept in table {})",
                        r.id,
                        r.slug,
                        r.reason,
                        federation_store::original::SET_ASIDE_TABLE
                    );
                }
            }
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
        Command::Export {
            file,
            database_url,
            force,
        } => {
            let settings = settings_logged(env_file.as_ref(), database_url)?;
            let done = federation_server::cli::backup::export(&settings, &file, force).await?;
            println!(
                "{} -> {}: exported {} (owner-only: it holds the channels' secrets)",
                done.database,
                file.display(),
                done.counts
            );
            Ok(())
        }
        Command::Import {
            from_file: Some(file),
            database_url,
            skip_invalid,
            ..
        } => {
            if skip_invalid {
                anyhow::bail!(
                    "--skip-invalid is for --from (the original's database); an export \
                     loads whole or not at all"
                );
            }
            let settings = settings_logged(env_file.as_ref(), database_url)?;
            let done = federation_server::cli::backup::import(&settings, &file).await?;
            for version in &done.migrations {
                println!("applied {version}");
            }
            println!(
                "{} -> {}: imported {} in one transaction",
                file.display(),
                done.database,
                done.counts
            );
            Ok(())
        }
        Command::Import {
            from,
            database_url,
            skip_invalid,
            ..
        } => {
            let from = from.context("--from or --from-file is required")?;
            let settings = settings_logged(env_file.as_ref(), database_url)?;
            let target = app::database_url(&settings)?;
            let (applied, imported) = app::import(
                &settings,
                &from,
                federation_store::original::ImportOptions { skip_invalid },
            )
            .await?;
            for version in &applied {
                println!("applied {version}");
            }
            println!(
                "{} -> {}: imported {} project(s) of the original service (alembic {}) in one transaction",
                federation_domain::redact::url(&from),
                target.redacted(),
                imported.converted.len(),
                imported.alembic_version
            );
            for p in &imported.converted {
                println!(
                    "  imported project id {} {:?} status {} ({} tag(s))",
                    p.id, p.slug, p.status, p.tags
                );
            }
            for r in &imported.set_aside {
                println!(
                    "  skipped project id {} {:?}: {} (left in the original database only)",
                    r.id, r.slug, r.reason
                );
            }
            Ok(())
        }
        Command::Catalog {
            command:
                CatalogCommand::Apply {
                    file,
                    dry_run,
                    prune,
                },
        } => {
            let settings = settings_logged(env_file.as_ref(), None)?;
            print!(
                "{}",
                app::catalog_apply(&settings, &file, dry_run, prune).await?
            );
            Ok(())
        }
        Command::Ops(command) => command.run().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn maintenance_takes_a_reason_and_one_end_or_end() {
        let parse = |args: &[&str]| {
            let mut all = vec!["federation", "projects", "maintenance", "web"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(|_| ())
        };
        assert!(parse(&["--reason", "r", "--for", "30m"]).is_ok());
        assert!(parse(&["--reason", "r", "--until", "2030-01-01T00:00:00Z"]).is_ok());
        assert!(parse(&["--end"]).is_ok());
        assert!(parse(&["--reason", "r"]).is_err(), "no end");
        assert!(parse(&["--for", "30m"]).is_err(), "no reason");
        assert!(parse(&["--reason", "r", "--for", "1m", "--until", "x"]).is_err());
        assert!(parse(&["--end", "--reason", "r"]).is_err());
    }
}
