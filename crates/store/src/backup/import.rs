//! `Store::import`: checks the header, refuses a database that holds anything, then
//! loads every record in one transaction, in batches of one kind.

use std::collections::HashMap;
use std::io::BufRead;

use diesel_async::AsyncConnection;

use super::records::{LogRecord, Record};
use super::{ops, BackupError, Counts, Header, FORMAT, KINDS, PAGE, VERSION};
use crate::backend::Backend;
use crate::Store;

/// The longest line read (a project's metadata is at most 8 KiB; this bounds memory
/// on a file that is not an export, such as one with no newline at all).
pub const MAX_LINE: usize = 4 << 20;

/// How long the import's transaction may sit idle between statements (while the file
/// is read): longer than the pooled connections' 5 s, for a slow disk.
const IDLE_TIMEOUT: &str = "60s";

/// Reads numbered lines.
pub(crate) struct Reader<R> {
    input: R,
    line: u64,
    buf: String,
}

impl<R: BufRead> Reader<R> {
    fn new(input: R) -> Self {
        Self {
            input,
            line: 0,
            buf: String::new(),
        }
    }

    /// The next line's number and text (without its newline); `None` at the end.
    fn next_line(&mut self) -> Result<Option<(u64, &str)>, BackupError> {
        use std::io::Read as _;
        self.buf.clear();
        self.line += 1;
        let line = self.line;
        let limit = u64::try_from(MAX_LINE).unwrap_or(u64::MAX) + 1;
        let n = (&mut self.input)
            .take(limit)
            .read_line(&mut self.buf)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::InvalidData => BackupError::line(line, "not UTF-8 text"),
                _ => BackupError::io(format!("reading line {line}"), e),
            })?;
        if n == 0 {
            return Ok(None);
        }
        if self.buf.len() > MAX_LINE {
            return Err(BackupError::line(
                line,
                format!("longer than {MAX_LINE} bytes"),
            ));
        }
        let text = self.buf.strip_suffix('\n').unwrap_or(&self.buf);
        Ok(Some((line, text.strip_suffix('\r').unwrap_or(text))))
    }

    /// The header, checked.
    fn header(&mut self) -> Result<Header, BackupError> {
        let Some((_, text)) = self.next_line()? else {
            return Err(BackupError::Header("the file is empty".to_owned()));
        };
        let header: Header = serde_json::from_str(text)
            .map_err(|e| BackupError::Header(format!("not a header line: {e}")))?;
        if header.format != FORMAT {
            return Err(BackupError::Header(format!(
                "format {:?}, expected {FORMAT:?}",
                header.format
            )));
        }
        if header.version != VERSION {
            return Err(BackupError::Version {
                found: header.version,
                supported: VERSION,
            });
        }
        Ok(header)
    }

    /// The next record and its line number; `None` at the end of the file.
    fn record(&mut self) -> Result<Option<(u64, Record)>, BackupError> {
        let Some((line, text)) = self.next_line()? else {
            return Ok(None);
        };
        let record = Record::parse(text).map_err(|m| BackupError::line(line, m))?;
        Ok(Some((line, record)))
    }
}

/// Loads the file's records through `insert` (a batch of one kind at a time) and
/// returns the log's record, checking the order of kinds and the `end` line.
macro_rules! load {
    ($reader:expr, $conn:expr, $insert:path, $set_log:path, [$($aw:tt)*]) => {{
        let reader = $reader;
        let conn = $conn;
        let mut counts = Counts::default();
        let mut ids: HashMap<String, i64> = HashMap::new();
        let mut batch: Vec<(u64, Record)> = Vec::new();
        let mut position = 0usize;
        let mut log: Option<LogRecord> = None;
        loop {
            let Some((line, record)) = reader.record()? else {
                return Err(BackupError::Truncated { lines: reader.line - 1 });
            };
            let kind = record.kind();
            let at = KINDS.iter().position(|k| *k == kind).unwrap_or(usize::MAX);
            if at < position {
                return Err(BackupError::line(
                    line,
                    format!(
                        "a {kind} record after {} records: the kinds must come in the order {}",
                        KINDS.get(position).copied().unwrap_or("?"),
                        KINDS.join(", ")
                    ),
                ));
            }
            if at != position || batch.len() >= PAGE {
                $insert(conn, std::mem::take(&mut batch), &mut ids)$($aw)*?;
                position = at;
            }
            match record {
                Record::Log(l) => {
                    if log.is_some() {
                        return Err(BackupError::line(line, "a second log record"));
                    }
                    if l.published_through > l.head {
                        return Err(BackupError::line(
                            line,
                            "published_through is past the head",
                        ));
                    }
                    log = Some(l);
                    counts.add(kind);
                }
                Record::End(end) => {
                    if end.records != counts.total() {
                        return Err(BackupError::line(
                            line,
                            format!(
                                "the end record counts {} records, the file holds {}",
                                end.records,
                                counts.total()
                            ),
                        ));
                    }
                    if let Some((extra, _)) = reader.next_line()? {
                        return Err(BackupError::line(extra, "a line after the end record"));
                    }
                    counts.add(kind);
                    if let Some(l) = &log {
                        $set_log(conn, l)$($aw)*?;
                    }
                    break Ok::<Counts, BackupError>(counts);
                }
                other => {
                    counts.add(kind);
                    batch.push((line, other));
                }
            }
        }
    }};
}

impl Store {
    /// Loads an export (see [`crate::backup`]) into this database, which must be
    /// migrated and hold nothing; all of it in one transaction, or nothing.
    pub async fn import<R: BufRead + Send + 'static>(
        &self,
        input: R,
    ) -> Result<Counts, BackupError> {
        let mut reader = Reader::new(input);
        reader.header()?;
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                conn.transaction(async |c| {
                    // No replica writes meanwhile (they take the log's lock first).
                    crate::pg::lock_log(c).await?;
                    diesel_async::SimpleAsyncConnection::batch_execute(
                        c,
                        &format!(
                            "SET LOCAL idle_in_transaction_session_timeout = '{IDLE_TIMEOUT}'"
                        ),
                    )
                    .await?;
                    if let Some((table, rows)) = ops::pg::first_filled(c).await? {
                        return Err(BackupError::NotEmpty { table, rows });
                    }
                    load!(
                        &mut reader,
                        c,
                        ops::pg::insert_batch,
                        ops::pg::set_log,
                        [.await]
                    )
                })
                .await
            }
            Backend::Sqlite(sqlite) => {
                // One writer at a time in this process, in an IMMEDIATE transaction
                // that any error rolls back.
                let _turn = sqlite.lock_writes().await;
                sqlite
                    .run(move |c| {
                        Ok(c.immediate_transaction(|c| {
                            if let Some((table, rows)) = ops::sqlite::first_filled(c)? {
                                return Err(BackupError::NotEmpty { table, rows });
                            }
                            load!(
                                &mut reader,
                                c,
                                ops::sqlite::insert_batch,
                                ops::sqlite::set_log,
                                []
                            )
                        }))
                    })
                    .await?
            }
        }
    }
}
