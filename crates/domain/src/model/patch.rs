//! A partial update of a project.

use super::hub_url::HubUrl;
use super::interval::HeartbeatInterval;
use super::key::HeartbeatKeyDigest;
use super::name::ProjectName;
use super::tags::Tags;
use crate::metadata::MetadataPatch;

/// A partial update of a project's descriptive fields (`PATCH`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectPatch {
    /// A new name.
    pub name: Option<ProjectName>,
    /// A new hub URL.
    pub hub_url: Option<HubUrl>,
    /// New tags, replacing the old ones.
    pub tags: Option<Tags>,
    /// Keys of metadata to set or remove (merged into the old ones).
    pub metadata: Option<MetadataPatch>,
    /// A new heartbeat interval; `Some(None)` removes it (the default thresholds).
    pub heartbeat_interval: Option<Option<HeartbeatInterval>>,
    /// A new heartbeat key digest; `Some(None)` removes it. Never set from a `PATCH`
    /// body: only the heartbeat-key routes set it.
    pub heartbeat_key: Option<Option<HeartbeatKeyDigest>>,
}

impl ProjectPatch {
    /// Changes nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.hub_url.is_none()
            && self.tags.is_none()
            && self.metadata.is_none()
            && self.heartbeat_interval.is_none()
            && self.heartbeat_key.is_none()
    }
}
