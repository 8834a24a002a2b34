//! Tables and the one custom column type both backends share.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{SqlType, Text, Timestamptz};
use diesel::sqlite::{Sqlite, SqliteValue};

/// A UTC instant with microsecond precision: `timestamptz` on PostgreSQL, fixed-width
/// text `YYYY-MM-DDTHH:MM:SS.ffffffZ` on SQLite (so text order is time order).
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
pub struct UtcTime;

/// The Rust side of [`UtcTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = UtcTime)]
pub struct DbTime(pub DateTime<Utc>);

/// The SQLite text form (always six fractional digits).
pub const SQLITE_TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

impl DbTime {
    /// The SQLite text form of `t`.
    pub fn sqlite_text(t: &DateTime<Utc>) -> String {
        t.format(SQLITE_TIME_FORMAT).to_string()
    }
}

impl ToSql<UtcTime, Pg> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <DateTime<Utc> as ToSql<Timestamptz, Pg>>::to_sql(&self.0, out)
    }
}

impl FromSql<UtcTime, Pg> for DbTime {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        <DateTime<Utc> as FromSql<Timestamptz, Pg>>::from_sql(bytes).map(DbTime)
    }
}

impl ToSql<UtcTime, Sqlite> for DbTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(DbTime::sqlite_text(&self.0));
        Ok(serialize::IsNull::No)
    }
}

impl FromSql<UtcTime, Sqlite> for DbTime {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, Sqlite>>::from_sql(value)?;
        // Our own form first; a lenient fallback for hand-written rows.
        let t = text.strip_suffix('Z').unwrap_or(&text);
        NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
            .map(|n| DbTime(n.and_utc()))
            .map_err(|e| format!("invalid stored time {text:?}: {e}").into())
    }
}

/// A JSON object: `jsonb` on PostgreSQL, text on SQLite.
#[derive(Debug, Clone, Copy, Default, SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(oid = 3802, array_oid = 3807))]
#[diesel(sqlite_type(name = "Text"))]
pub struct JsonObject;

/// The Rust side of [`JsonObject`]: its compact JSON text.
#[derive(Debug, Clone, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = JsonObject)]
pub struct DbJson(pub String);

/// The version byte of PostgreSQL's binary `jsonb` form.
const JSONB_VERSION: u8 = 1;

impl ToSql<JsonObject, Pg> for DbJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        use std::io::Write as _;
        out.write_all(&[JSONB_VERSION])?;
        out.write_all(self.0.as_bytes())?;
        Ok(serialize::IsNull::No)
    }
}

impl FromSql<JsonObject, Pg> for DbJson {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        match bytes.as_bytes().split_first() {
            Some((&JSONB_VERSION, text)) => Ok(DbJson(std::str::from_utf8(text)?.to_owned())),
            _ => Err("unsupported jsonb version".into()),
        }
    }
}

impl ToSql<JsonObject, Sqlite> for DbJson {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.0.clone());
        Ok(serialize::IsNull::No)
    }
}

impl FromSql<JsonObject, Sqlite> for DbJson {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        <String as FromSql<Text, Sqlite>>::from_sql(value).map(DbJson)
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::{JsonObject, UtcTime};

    projects (id) {
        id -> BigInt,
        slug -> Text,
        name -> Text,
        hub_url -> Text,
        mesh_namespace -> Text,
        status -> Text,
        status_reason -> Nullable<Text>,
        version -> Nullable<Text>,
        last_heartbeat_at -> Nullable<UtcTime>,
        created_at -> UtcTime,
        updated_at -> UtcTime,
        metadata -> JsonObject,
        heartbeat_interval_seconds -> Nullable<Integer>,
        maintenance -> Nullable<Text>,
        origin -> Text,
        heartbeat_key_sha256 -> Nullable<Binary>,
        flapping_since -> Nullable<UtcTime>,
    }
}

diesel::table! {
    project_tags (project_id, tag) {
        project_id -> BigInt,
        tag -> Text,
        position -> Integer,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::UtcTime;

    status_transitions (id) {
        id -> BigInt,
        project_id -> Nullable<BigInt>,
        from_status -> Text,
        to_status -> Text,
        reason -> Nullable<Text>,
        at -> UtcTime,
        last_heartbeat_at -> Nullable<UtcTime>,
        slug -> Text,
    }
}

diesel::joinable!(project_tags -> projects (project_id));
diesel::joinable!(status_transitions -> projects (project_id));
diesel::allow_tables_to_appear_in_same_query!(projects, project_tags, status_transitions);

diesel::table! {
    use diesel::sql_types::*;
    use super::UtcTime;

    change_log (revision) {
        revision -> BigInt,
        kind -> Text,
        slug -> Text,
        at -> UtcTime,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        reason -> Nullable<Text>,
        last_heartbeat_at -> Nullable<UtcTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::UtcTime;

    leases (name) {
        name -> Text,
        holder -> Text,
        term -> BigInt,
        expires_at -> UtcTime,
    }
}

diesel::table! {
    change_log_state (id) {
        id -> Integer,
        trimmed_through -> BigInt,
        published_through -> BigInt,
    }
}
