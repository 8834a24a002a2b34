//! A PostgreSQL primary with a streaming standby, for database failover tests.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::postgres::{psql_command, psql_query, PostgresCluster};
use crate::process::run;

/// The standby's name: its `application_name` on the primary (in
/// `pg_stat_replication` and `synchronous_standby_names`) and its replication slot.
pub const STANDBY_NAME: &str = "fed_standby";

/// How the primary waits for the standby when a transaction commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// `synchronous_commit = on` with the standby in `synchronous_standby_names`: a
    /// commit is acknowledged to the client only once the standby has the commit's WAL
    /// on disk, so a promoted standby holds every acknowledged transaction, and no
    /// other session sees a commit before the standby has it.
    Synchronous,
    /// Commits do not wait for the standby (PostgreSQL's default): the last
    /// acknowledged transactions may be missing on a standby promoted after a crash.
    Asynchronous,
}

/// A primary and a streaming standby made from it with `pg_basebackup`, each a
/// [`PostgresCluster`] of its own on a free port of 127.0.0.1, in a throwaway folder
/// (both stopped and removed on drop). The standby streams through a physical
/// replication slot, so the primary keeps every WAL segment it has not received.
///
/// Failover is the test's to drive: [`PostgresCluster::stop_immediately`] on
/// [`ReplicatedPostgres::primary`] (a crash), then [`ReplicatedPostgres::promote`].
/// After promotion the standby commits without waiting for anyone (it has no standby
/// of its own).
#[derive(Debug)]
pub struct ReplicatedPostgres {
    primary: PostgresCluster,
    standby: PostgresCluster,
    mode: Replication,
}

impl ReplicatedPostgres {
    /// Starts the primary, makes the standby from it, and waits until the standby
    /// streams (and, for [`Replication::Synchronous`], is the synchronous one).
    pub fn start(mode: Replication) -> Result<Self> {
        let primary = PostgresCluster::start()?;
        let mut standby = PostgresCluster::prepare()?;
        run(
            standby
                .server_cmd("pg_basebackup")
                .arg("-d")
                .arg(format!(
                    "host=127.0.0.1 port={} user=postgres",
                    primary.port()
                ))
                .arg("-D")
                .arg(standby.data())
                .args(["-X", "stream", "-c", "fast", "--no-sync", "-C", "-S"])
                .arg(STANDBY_NAME),
            "pg_basebackup",
        )?;
        // The copied postgresql.conf is the primary's: its socket folder is replaced,
        // and the standby never waits for a standby of its own once promoted.
        standby.append_conf(&format!(
            "\n# federation-testkit: standby of 127.0.0.1:{port}\n\
             unix_socket_directories = {sock}\n\
             primary_conninfo = 'host=127.0.0.1 port={port} user=postgres application_name={STANDBY_NAME}'\n\
             primary_slot_name = '{STANDBY_NAME}'\n\
             synchronous_standby_names = ''\n\
             hot_standby = on\n\
             wal_receiver_status_interval = 1s\n",
            port = primary.port(),
            sock = conf_quote(&standby.root().join("sock").to_string_lossy()),
        ))?;
        let signal = standby.data().join("standby.signal");
        std::fs::write(&signal, b"").context("writing standby.signal")?;
        if crate::process::is_root() {
            run(
                Command::new("chown").arg("postgres:").arg(&signal),
                "chown standby.signal to postgres",
            )?;
        }
        standby.start_on_free_port()?;
        if mode == Replication::Synchronous {
            primary.append_conf(&format!(
                "\n# federation-testkit: synchronous replication\n\
                 synchronous_commit = on\n\
                 synchronous_standby_names = '{STANDBY_NAME}'\n"
            ))?;
            psql_command(&primary.url("postgres"), "SELECT pg_reload_conf()")?;
        }
        let pair = ReplicatedPostgres {
            primary,
            standby,
            mode,
        };
        pair.wait_streaming(Duration::from_secs(60))?;
        Ok(pair)
    }

    /// The primary (until a failover).
    pub fn primary(&self) -> &PostgresCluster {
        &self.primary
    }

    /// The standby (the primary after [`ReplicatedPostgres::promote`]).
    pub fn standby(&self) -> &PostgresCluster {
        &self.standby
    }

    /// How commits wait for the standby.
    pub fn mode(&self) -> Replication {
        self.mode
    }

    /// Creates an empty database on the primary, waits until the standby has it (by
    /// replication), and returns [`ReplicatedPostgres::url`] for it.
    pub fn create_database(&self, name: &str) -> Result<String> {
        self.primary.create_database(name)?;
        // A synchronous standby confirms a commit once its WAL is flushed, before it is
        // applied: until then a connection to the new database on the standby fails.
        let sql = format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'");
        wait_for(Duration::from_secs(30), || {
            let seen = psql_query(&self.standby.url("postgres"), &sql)?;
            Ok((seen != "1").then(|| format!("database {name} not on the standby yet")))
        })?;
        Ok(self.url(name))
    }

    /// A URL naming both servers, primary first, that connects only to the one taking
    /// writes: `postgres://postgres@127.0.0.1:P,127.0.0.1:S/name?target_session_attrs=read-write`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{name}?target_session_attrs=read-write",
            self.primary.port(),
            self.standby.port()
        )
    }

    /// Waits until the primary's `pg_stat_replication` shows the standby `streaming`
    /// (and `sync` for [`Replication::Synchronous`]).
    pub fn wait_streaming(&self, within: Duration) -> Result<()> {
        let want = match self.mode {
            Replication::Synchronous => "streaming|sync",
            Replication::Asynchronous => "streaming|async",
        };
        let sql = format!(
            "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'"
        );
        wait_for(within, || {
            let seen = psql_query(&self.primary.url("postgres"), &sql)?;
            if seen == want {
                Ok(None)
            } else {
                Ok(Some(format!(
                    "pg_stat_replication: {seen:?}, waiting for {want:?}"
                )))
            }
        })
    }

    /// Promotes the standby and waits until it takes writes (`pg_is_in_recovery()`
    /// false); returns how long that took.
    pub fn promote(&self) -> Result<Duration> {
        let started = Instant::now();
        self.standby.promote()?;
        wait_for(Duration::from_secs(30), || {
            match psql_query(&self.standby.url("postgres"), "SELECT pg_is_in_recovery()")?.as_str()
            {
                "f" => Ok(None),
                seen => Ok(Some(format!("pg_is_in_recovery() = {seen}"))),
            }
        })?;
        Ok(started.elapsed())
    }
}

/// Runs `check` every 50 ms until it returns `Ok(None)`; fails with its last word (or
/// error) after `within`.
fn wait_for(within: Duration, mut check: impl FnMut() -> Result<Option<String>>) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let seen = match check() {
            Ok(None) => return Ok(()),
            Ok(Some(why)) => why,
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("not within {within:?}: {seen}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A string as a `postgresql.conf` value: single quotes, inner ones doubled.
fn conf_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_values_are_quoted() {
        assert_eq!(conf_quote("/tmp/a"), "'/tmp/a'");
        assert_eq!(conf_quote("it's"), "'it''s'");
    }
}
