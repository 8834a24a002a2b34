//! `federation export FILE` and `federation import --from-file FILE`: the service's own
//! backup format ([`federation_store::backup`]), for moving between backends or
//! databases. Production backups of PostgreSQL are `pg_dump`'s (docs/backup.md).

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use federation_store::backup::Counts;

use crate::app;
use crate::Settings;

/// An export written.
#[derive(Debug)]
pub struct Exported {
    /// The database exported, password masked.
    pub database: String,
    /// The records written, by kind.
    pub counts: Counts,
}

/// An import done.
#[derive(Debug)]
pub struct Imported {
    /// The database imported into, password masked.
    pub database: String,
    /// The migrations applied first.
    pub migrations: Vec<String>,
    /// The records loaded, by kind.
    pub counts: Counts,
}

/// Writes a snapshot of the configured database to `file`, readable by its owner only
/// (it holds the channels' secrets). It is written beside `file` under a temporary
/// name and renamed when complete, so `file` is never a partial export; an existing
/// `file` is replaced only with `replace`.
pub async fn export(settings: &Settings, file: &Path, replace: bool) -> anyhow::Result<Exported> {
    if !replace && file.exists() {
        bail!(
            "{} exists; choose another name, or pass --force to replace it",
            file.display()
        );
    }
    let store = app::connect_store(settings).await?;
    let pending = store
        .pending_migrations()
        .await
        .context("reading the schema's version")?;
    if !pending.is_empty() {
        bail!(
            "{}: {} migration(s) not applied ({}); run `federation migrate` first, so the \
             export reads the whole schema",
            store.redacted_url(),
            pending.len(),
            pending.join(", ")
        );
    }
    let partial = partial_name(file);
    let out =
        create_private(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let written = async {
        let (counts, out) = store.export(BufWriter::new(out)).await?;
        let out = out.into_inner().map_err(|e| e.into_error())?;
        out.sync_all()?;
        std::fs::rename(&partial, file)?;
        anyhow::Ok(counts)
    }
    .await;
    match written {
        Ok(counts) => Ok(Exported {
            database: store.redacted_url(),
            counts,
        }),
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e.context(format!(
                "exporting {} to {}",
                store.redacted_url(),
                file.display()
            )))
        }
    }
}

/// Migrates the configured database, then loads `file` into it (it must hold nothing),
/// in one transaction.
pub async fn import(settings: &Settings, file: &Path) -> anyhow::Result<Imported> {
    let input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    if !input.metadata()?.is_file() {
        bail!("{} is not a regular file", file.display());
    }
    let store = app::connect_store(settings).await?;
    let migrations = store
        .run_migrations()
        .await
        .context("applying migrations")?;
    let counts = store
        .import(BufReader::new(input))
        .await
        .with_context(|| format!("importing {} into {}", file.display(), store.redacted_url()))?;
    Ok(Imported {
        database: store.redacted_url(),
        migrations,
        counts,
    })
}

/// `FILE.partial` beside `FILE`.
fn partial_name(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    file.with_file_name(name)
}

/// A new file (replacing a stale partial one) that only its owner can read and write.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let file = options.open(path)?;
        // A stale file keeps its old mode through `open`: set it.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}
