//! The records of an export, one per line, and their conversion from and into rows.
//! Each record holds a row's stored values as they are (database ids aside: rows are
//! written back in file order, and refer to each other by slug or name); an import
//! checks them with the same domain rules a read applies.

use chrono::{DateTime, NaiveDate, Utc};
use federation_domain::{Slug, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::StoreError;
use crate::notify::rows::{ChannelRow, DeliveryRow, NewDeliveryRow};
use crate::rows::ProjectRow;
use crate::schema::{DbJson, DbTime};

/// One line after the header. The `type` field names its kind (see
/// [`super::KINDS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// The change log's head.
    Log(LogRecord),
    /// A project.
    Project(ProjectRecord),
    /// A status transition (history).
    Transition(TransitionRecord),
    /// A notification channel, with its secret.
    Channel(ChannelRecord),
    /// A channel's outbox cursor.
    ChannelCursor(CursorRecord),
    /// A notification delivery.
    Delivery(DeliveryRecord),
    /// A span the leader heard the bus.
    UptimeHeard(HeardRecord),
    /// A project's uptime figures for one day.
    UptimeDaily(DailyRecord),
    /// A day rolled up.
    UptimeRolledDay(RolledDayRecord),
    /// The last line: how many records came before it.
    End(EndRecord),
}

impl Record {
    /// Its `type`, as in [`super::KINDS`].
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Log(_) => "log",
            Record::Project(_) => "project",
            Record::Transition(_) => "transition",
            Record::Channel(_) => "channel",
            Record::ChannelCursor(_) => "channel_cursor",
            Record::Delivery(_) => "delivery",
            Record::UptimeHeard(_) => "uptime_heard",
            Record::UptimeDaily(_) => "uptime_daily",
            Record::UptimeRolledDay(_) => "uptime_rolled_day",
            Record::End(_) => "end",
        }
    }
}

impl Record {
    /// Parses one line, naming the field at fault (by its path) when it does not fit.
    /// (The `type` is read first, so a mismatch inside a record keeps its path.)
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let mut fields: Map<String, Value> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
        let kind = match fields.remove("type") {
            Some(Value::String(kind)) => kind,
            Some(_) => return Err("type: not a string".to_owned()),
            None => return Err("no `type` field".to_owned()),
        };
        let body = Value::Object(fields);
        Ok(match kind.as_str() {
            "log" => Record::Log(fit(body)?),
            "project" => Record::Project(fit(body)?),
            "transition" => Record::Transition(fit(body)?),
            "channel" => Record::Channel(fit(body)?),
            "channel_cursor" => Record::ChannelCursor(fit(body)?),
            "delivery" => Record::Delivery(fit(body)?),
            "uptime_heard" => Record::UptimeHeard(fit(body)?),
            "uptime_daily" => Record::UptimeDaily(fit(body)?),
            "uptime_rolled_day" => Record::UptimeRolledDay(fit(body)?),
            "end" => Record::End(fit(body)?),
            other => {
                return Err(format!(
                    "type: unknown record type {other:?} (expected one of {})",
                    super::KINDS.join(", ")
                ))
            }
        })
    }
}

/// A record's fields, or the path of the one that does not fit.
fn fit<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, String> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })
}

/// The change log's head revision and the status events' outbox cursor. A restored
/// database goes on numbering from `head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRecord {
    /// The last revision.
    pub head: u64,
    /// The status events published through this revision.
    pub published_through: u64,
}

/// A project, its tags in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(
    missing_docs,
    reason = "the columns of `projects`, documented in docs/backup.md"
)]
pub struct ProjectRecord {
    pub slug: String,
    pub name: String,
    pub hub_url: String,
    pub mesh_namespace: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub version: Option<String>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tags: Vec<String>,
    pub metadata: Map<String, Value>,
    pub heartbeat_interval_seconds: Option<i32>,
    /// The window as stored (JSON text).
    pub maintenance: Option<String>,
    pub origin: String,
    /// The digest in lowercase hex (never the key).
    pub heartbeat_key_sha256: Option<String>,
}

impl ProjectRecord {
    pub(crate) fn from_row(row: ProjectRow, tags: Vec<String>) -> Result<Self, StoreError> {
        let metadata = match serde_json::from_str(&row.metadata.0) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(StoreError::Corrupt(format!(
                    "project {:?}: metadata is not a JSON object",
                    row.slug
                )))
            }
        };
        Ok(Self {
            slug: row.slug,
            name: row.name,
            hub_url: row.hub_url,
            mesh_namespace: row.mesh_namespace,
            status: row.status,
            status_reason: row.status_reason,
            version: row.version,
            last_heartbeat_at: row.last_heartbeat_at.map(|t| t.0),
            created_at: row.created_at.0,
            updated_at: row.updated_at.0,
            tags,
            metadata,
            heartbeat_interval_seconds: row.heartbeat_interval_seconds,
            maintenance: row.maintenance,
            origin: row.origin,
            heartbeat_key_sha256: row.heartbeat_key_sha256.as_deref().map(hex),
        })
    }

    /// The row to insert (its id is the database's), after the checks a read applies.
    pub(crate) fn to_row(&self) -> Result<ProjectRow, String> {
        let key = self
            .heartbeat_key_sha256
            .as_deref()
            .map(|h| unhex(h).ok_or("heartbeat_key_sha256: not lowercase hex"))
            .transpose()?;
        let row = || ProjectRow {
            id: 0,
            slug: self.slug.clone(),
            name: self.name.clone(),
            hub_url: self.hub_url.clone(),
            mesh_namespace: self.mesh_namespace.clone(),
            status: self.status.clone(),
            status_reason: self.status_reason.clone(),
            version: self.version.clone(),
            last_heartbeat_at: self.last_heartbeat_at.map(DbTime),
            created_at: DbTime(self.created_at),
            updated_at: DbTime(self.updated_at),
            metadata: DbJson(Value::Object(self.metadata.clone()).to_string()),
            heartbeat_interval_seconds: self.heartbeat_interval_seconds,
            maintenance: self.maintenance.clone(),
            origin: self.origin.clone(),
            heartbeat_key_sha256: key.clone(),
            // Runtime state, not exported: the leader judges flapping again from the
            // transitions it writes after the import.
            flapping_since: None,
        };
        row().into_project(self.tags.clone()).map_err(rule)?;
        Ok(row())
    }
}

/// One step of a project's history. `attached` is false for history kept after its
/// project was removed (then reachable by slug only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "the columns of `status_transitions`")]
pub struct TransitionRecord {
    pub slug: String,
    pub attached: bool,
    pub from_status: String,
    pub to_status: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

impl TransitionRecord {
    /// The checks a read applies.
    pub(crate) fn check(&self) -> Result<(), String> {
        Slug::parse(&self.slug).map_err(|e| format!("slug: {e}"))?;
        Status::parse(&self.from_status).map_err(|e| format!("from_status: {e}"))?;
        Status::parse(&self.to_status).map_err(|e| format!("to_status: {e}"))?;
        Ok(())
    }
}

/// A notification channel as stored, secret included (the export file is then
/// written readable by its owner only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "the columns of `notify_channels`")]
pub struct ChannelRecord {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub secret: Option<String>,
    /// The rules as stored (JSON text).
    pub rules: String,
    pub enabled: bool,
    /// An email channel's settings as stored (JSON text).
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ChannelRecord {
    pub(crate) fn from_row(r: ChannelRow) -> Self {
        Self {
            name: r.name,
            kind: r.kind,
            url: r.url,
            secret: r.secret,
            rules: r.rules,
            enabled: r.enabled,
            email: r.email,
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        }
    }

    /// The row to insert, after the checks a read applies.
    pub(crate) fn to_row(&self) -> Result<ChannelRow, String> {
        let row = || ChannelRow {
            name: self.name.clone(),
            kind: self.kind.clone(),
            url: self.url.clone(),
            secret: self.secret.clone(),
            rules: self.rules.clone(),
            enabled: self.enabled,
            email: self.email.clone(),
            created_at: DbTime(self.created_at),
            updated_at: DbTime(self.updated_at),
        };
        row().into_channel().map_err(rule)?;
        Ok(row())
    }
}

/// A channel's outbox cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "the columns of `notify_cursors`")]
pub struct CursorRecord {
    pub channel: String,
    pub revision: u64,
}

/// A delivery, sent or failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "the columns of `notify_deliveries`")]
pub struct DeliveryRecord {
    pub channel: String,
    pub revision: u64,
    pub event: String,
    pub slug: Option<String>,
    pub status: String,
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub last_error: Option<String>,
    pub latency_ms: u64,
    pub at: DateTime<Utc>,
}

impl DeliveryRecord {
    pub(crate) fn from_row(r: DeliveryRow) -> Result<Self, StoreError> {
        let d = r.into_delivery()?;
        Ok(Self {
            channel: d.channel,
            revision: d.revision,
            event: d.event,
            slug: d.slug,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            http_status: d.http_status,
            last_error: d.last_error,
            latency_ms: d.latency_ms,
            at: d.at,
        })
    }

    /// The row to insert, after the checks a read applies.
    pub(crate) fn to_row(&self) -> Result<NewDeliveryRow, String> {
        federation_domain::notify::DeliveryStatus::parse(&self.status)
            .ok_or_else(|| format!("status: {:?} is neither sent nor failed", self.status))?;
        Ok(NewDeliveryRow {
            channel: self.channel.clone(),
            revision: crate::log::to_db(self.revision),
            event: self.event.clone(),
            slug: self.slug.clone(),
            status: self.status.clone(),
            attempts: i32::try_from(self.attempts).map_err(|_| "attempts: too large")?,
            http_status: self.http_status.map(i32::from),
            last_error: self.last_error.clone(),
            latency_ms: i64::try_from(self.latency_ms).map_err(|_| "latency_ms: too large")?,
            at: DbTime(self.at),
        })
    }
}

/// A span the leader heard the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "the columns of `uptime_heard`")]
pub struct HeardRecord {
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

/// A project's uptime figures for one closed UTC day (microseconds).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    diesel::Queryable,
    diesel::Selectable,
    diesel::Insertable,
)]
#[diesel(table_name = crate::uptime::uptime_daily)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "the columns of `uptime_daily`")]
pub struct DailyRecord {
    pub day: NaiveDate,
    pub slug: String,
    pub online_us: i64,
    pub degraded_us: i64,
    pub offline_us: i64,
    pub maintenance_us: i64,
    pub unknown_us: i64,
    pub outages: i64,
    pub longest_outage_us: i64,
    pub leading_offline_us: i64,
    pub trailing_offline_us: i64,
}

/// A day rolled up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(missing_docs, reason = "the columns of `uptime_rolled_days`")]
pub struct RolledDayRecord {
    pub day: NaiveDate,
    pub rolled_at: DateTime<Utc>,
}

/// The last line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndRecord {
    /// Records between the header and this line.
    pub records: u64,
}

/// A stored value that breaks a rule, as an import reports it.
fn rule(e: StoreError) -> String {
    match e {
        StoreError::Corrupt(why) => why,
        other => other.to_string(),
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The bytes of lowercase hex text.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            let pair = text.get(i..i + 2)?;
            if !pair.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return None;
            }
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_lowercase_hex() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)).as_deref(), Some(&bytes[..]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("AB"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("+1"), None);
    }

    #[test]
    fn a_record_names_its_kind_in_the_type_field() {
        let r = Record::Log(LogRecord {
            head: 7,
            published_through: 5,
        });
        let line = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(line, r#"{"type":"log","head":7,"published_through":5}"#);
        let back: Record =
            serde_json::from_str(&line).unwrap_or(Record::End(EndRecord { records: 0 }));
        assert_eq!(back, r);
        assert!(super::super::KINDS.contains(&r.kind()));
    }

    #[test]
    fn a_field_that_does_not_fit_is_named_by_its_path() {
        let e = Record::parse(r#"{"type":"log","head":"seven","published_through":5}"#);
        assert!(
            e.as_ref()
                .is_err_and(|e| e.starts_with("head: invalid type")),
            "{e:?}"
        );
        let e = Record::parse(r#"{"type":"nope"}"#);
        assert!(
            e.as_ref().is_err_and(|e| e.contains("unknown record type")),
            "{e:?}"
        );
        let e = Record::parse(r#"{"head":1}"#);
        assert_eq!(e, Err("no `type` field".to_owned()));
        let r = Record::parse(r#"{"type":"end","records":3}"#);
        assert_eq!(r, Ok(Record::End(EndRecord { records: 3 })));
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let line = r#"{"type":"log","head":7,"published_through":5,"extra":1}"#;
        assert!(serde_json::from_str::<Record>(line).is_err());
        assert!(Record::parse(line).is_err_and(|e| e.contains("extra")));
    }
}
