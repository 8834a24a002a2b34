//! Notification rows and their conversion into domain values.

use diesel::prelude::*;
use federation_domain::notify::{
    Channel, ChannelKind, ChannelName, ChannelSpec, ChannelUrl, Delivery, DeliveryStatus, Rules,
    Secret,
};

use super::schema::notify_channels;
use crate::error::StoreError;
use crate::schema::DbTime;

/// One `notify_channels` row.
#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = notify_channels)]
#[diesel(treat_none_as_null = true)]
pub(crate) struct ChannelRow {
    pub name: String,
    pub kind: String,
    pub url: String,
    pub secret: Option<String>,
    pub rules: String,
    pub enabled: bool,
    pub email: Option<String>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("notify channel {what}: {e}"))
}

impl ChannelRow {
    /// The row that stores `spec`, created (and updated) at `now`.
    pub(crate) fn new(spec: &ChannelSpec, now: DbTime) -> Result<Self, StoreError> {
        Ok(Self {
            name: spec.name.as_str().to_owned(),
            kind: spec.kind.as_str().to_owned(),
            url: spec.url.as_str().to_owned(),
            secret: spec.secret.as_ref().map(|s| s.expose().to_owned()),
            rules: serde_json::to_string(&spec.rules).map_err(|e| corrupt("rules", e))?,
            enabled: spec.enabled,
            email: spec
                .email
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| corrupt("email", e))?,
            created_at: now,
            updated_at: now,
        })
    }

    /// The channel it holds.
    pub(crate) fn into_channel(self) -> Result<Channel, StoreError> {
        let rules: Rules = serde_json::from_str(&self.rules).map_err(|e| corrupt("rules", e))?;
        let kind = ChannelKind::parse(&self.kind).map_err(|e| corrupt("kind", e))?;
        Ok(Channel {
            spec: ChannelSpec {
                name: ChannelName::parse(&self.name).map_err(|e| corrupt("name", e))?,
                kind,
                url: ChannelUrl::parse_for(kind, &self.url).map_err(|e| corrupt("url", e))?,
                secret: self
                    .secret
                    .map(|s| Secret::parse_password(&s).map_err(|e| corrupt("secret", e.message)))
                    .transpose()?,
                rules,
                enabled: self.enabled,
                email: self
                    .email
                    .map(|e| serde_json::from_str(&e).map_err(|e| corrupt("email", e)))
                    .transpose()?,
            },
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

/// One `notify_deliveries` row as read.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = super::schema::notify_deliveries)]
pub(crate) struct DeliveryRow {
    pub id: i64,
    pub channel: String,
    pub revision: i64,
    pub event: String,
    pub slug: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub http_status: Option<i32>,
    pub last_error: Option<String>,
    pub latency_ms: i64,
    pub at: DbTime,
}

/// One `notify_deliveries` row to insert.
#[derive(Debug, Insertable)]
#[diesel(table_name = super::schema::notify_deliveries)]
pub(crate) struct NewDeliveryRow {
    pub channel: String,
    pub revision: i64,
    pub event: String,
    pub slug: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub http_status: Option<i32>,
    pub last_error: Option<String>,
    pub latency_ms: i64,
    pub at: DbTime,
}

impl NewDeliveryRow {
    pub(crate) fn new(d: &Delivery) -> Self {
        use chrono::SubsecRound;
        Self {
            channel: d.channel.clone(),
            revision: i64::try_from(d.revision).unwrap_or(i64::MAX),
            event: d.event.clone(),
            slug: d.slug.clone(),
            status: d.status.as_str().to_owned(),
            attempts: i32::try_from(d.attempts).unwrap_or(i32::MAX),
            http_status: d.http_status.map(i32::from),
            last_error: d.last_error.clone(),
            latency_ms: i64::try_from(d.latency_ms).unwrap_or(i64::MAX),
            at: DbTime(d.at.trunc_subsecs(6)),
        }
    }
}

impl DeliveryRow {
    pub(crate) fn into_delivery(self) -> Result<Delivery, StoreError> {
        Ok(Delivery {
            id: self.id,
            channel: self.channel,
            revision: u64::try_from(self.revision).unwrap_or_default(),
            event: self.event,
            slug: self.slug,
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| corrupt("delivery status", &self.status))?,
            attempts: u32::try_from(self.attempts).unwrap_or_default(),
            http_status: self.http_status.and_then(|s| u16::try_from(s).ok()),
            last_error: self.last_error,
            latency_ms: u64::try_from(self.latency_ms).unwrap_or_default(),
            at: self.at.0,
        })
    }
}
