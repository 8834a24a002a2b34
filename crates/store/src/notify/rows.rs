//! Notification rows and their conversion into domain values.

use diesel::prelude::*;
use federation_domain::notify::{
    Channel, ChannelKind, ChannelName, ChannelSpec, ChannelUrl, Rules, Secret,
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
            created_at: now,
            updated_at: now,
        })
    }

    /// The channel it holds.
    pub(crate) fn into_channel(self) -> Result<Channel, StoreError> {
        let rules: Rules = serde_json::from_str(&self.rules).map_err(|e| corrupt("rules", e))?;
        Ok(Channel {
            spec: ChannelSpec {
                name: ChannelName::parse(&self.name).map_err(|e| corrupt("name", e))?,
                kind: ChannelKind::parse(&self.kind).map_err(|e| corrupt("kind", e))?,
                url: ChannelUrl::parse(&self.url).map_err(|e| corrupt("url", e))?,
                secret: self
                    .secret
                    .map(|s| Secret::parse(&s).map_err(|e| corrupt("secret", e.message)))
                    .transpose()?,
                rules,
                enabled: self.enabled,
            },
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}
