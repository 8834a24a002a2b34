//! An open psql session: SQL sent a line at a time, for a test that holds something in
//! the database (a row lock, an open transaction) while the service works, and lets go
//! when it has seen what it waits for.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};

use anyhow::{anyhow, Context, Result};

/// `psql` reading from a pipe; killed when dropped.
pub struct PsqlSession {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl PsqlSession {
    /// Connects psql to `url`; it stops at the first error.
    pub fn open(url: &str) -> Result<Self> {
        let mut child = Command::new(crate::postgres::psql()?)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting psql")?;
        let stdin = child.stdin.take();
        Ok(Self { child, stdin })
    }

    /// Sends SQL (one or more statements, each ended by `;`); returns once written, not
    /// once run: wait for its effect (e.g. in `pg_locks`) with [`crate::psql_query`].
    pub fn send(&mut self, sql: &str) -> Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("the psql session is closed"))?;
        writeln!(stdin, "{sql}").context("writing to psql")?;
        stdin.flush().context("writing to psql")
    }

    /// Ends the input, so psql runs what it was sent and exits; fails if it did not
    /// exit with success.
    pub fn close(mut self) -> Result<()> {
        drop(self.stdin.take());
        let status = self.child.wait().context("waiting for psql")?;
        if status.success() {
            Ok(())
        } else {
            Err(anyhow!("psql ended with {status}"))
        }
    }
}

impl Drop for PsqlSession {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
