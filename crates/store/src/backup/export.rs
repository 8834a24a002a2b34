//! `Store::export`: the header, every record in one read transaction, the `end` line.

use std::io::Write;

use super::records::{EndRecord, Record};
use super::{ops, BackupError, Counts, Header, FORMAT, KINDS, VERSION};
use crate::backend::Backend;
use crate::rows::now_micros;
use crate::Store;

/// How long a PostgreSQL export's transaction may sit idle between statements (while
/// the file is written): longer than the pooled connections' 5 s, for a slow disk.
const IDLE_TIMEOUT: &str = "60s";

/// Writes records as JSON lines, counting them.
pub(crate) struct Lines<W> {
    out: W,
    counts: Counts,
}

impl<W: Write> Lines<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            counts: Counts::default(),
        }
    }

    /// Writes one line.
    fn line<T: serde::Serialize>(&mut self, value: &T) -> Result<(), BackupError> {
        serde_json::to_writer(&mut self.out, value)
            .map_err(|e| BackupError::io("writing the export", e.into()))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| BackupError::io("writing the export", e))
    }

    /// Writes one record.
    pub(crate) fn put(&mut self, record: &Record) -> Result<(), BackupError> {
        self.line(record)?;
        self.counts.add(record.kind());
        Ok(())
    }

    /// Writes the `end` line; returns the counts and the writer (flushed).
    fn finish(mut self) -> Result<(Counts, W), BackupError> {
        let records = self.counts.total();
        self.put(&Record::End(EndRecord { records }))?;
        self.out
            .flush()
            .map_err(|e| BackupError::io("writing the export", e))?;
        Ok((self.counts, self.out))
    }
}

impl Store {
    /// Writes a consistent snapshot of everything stored to `out` (see
    /// [`crate::backup`]); returns how many records of each kind it wrote, and `out`.
    ///
    /// The file holds the notification channels' secrets: write it where only its
    /// owner can read it.
    pub async fn export<W: Write + Send + 'static>(
        &self,
        out: W,
    ) -> Result<(Counts, W), BackupError> {
        let header = Header {
            format: FORMAT.to_owned(),
            version: VERSION,
            backend: self.backend().to_owned(),
            exported_at: Some(now_micros()),
            kinds: KINDS.iter().map(|k| (*k).to_owned()).collect(),
        };
        let mut lines = Lines::new(out);
        lines.line(&header)?;
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                conn.build_transaction()
                    .read_only()
                    .repeatable_read()
                    .run(async |c| {
                        diesel_async::SimpleAsyncConnection::batch_execute(
                            c,
                            &format!(
                                "SET LOCAL idle_in_transaction_session_timeout = '{IDLE_TIMEOUT}'"
                            ),
                        )
                        .await?;
                        ops::pg::export_all(c, &mut lines).await
                    })
                    .await?;
                lines.finish()
            }
            Backend::Sqlite(sqlite) => {
                // One read transaction: under WAL its first read fixes the snapshot
                // every later page reads, whatever is written meanwhile.
                sqlite
                    .run(move |c| {
                        Ok(diesel::Connection::transaction(c, |c| {
                            ops::sqlite::export_all(c, &mut lines)
                        })
                        .and_then(|()| lines.finish()))
                    })
                    .await?
            }
        }
    }
}
