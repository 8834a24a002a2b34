//! When offline projects make an incident.

use chrono::TimeDelta;

use crate::error::ValidationError;

/// When offline projects make an incident (see the module's rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentSettings {
    /// Projects offline within the window that open a fleet incident; 0 turns the
    /// fleet trigger off.
    pub min_projects: usize,
    /// The share of a tag's projects (in %) offline within the window that opens a tag
    /// incident; 0 turns the tag trigger off.
    pub tag_percent: u8,
    /// Tags with fewer projects never open an incident on their own.
    pub tag_min_projects: usize,
    /// How close together the offline transitions must be.
    pub window: TimeDelta,
}

/// The defaults: 5 projects, or 50 % of a tag of at least 4 projects, within 30 s (also
/// how long a lone offline status waits to be told on its own, like Alertmanager's
/// `group_wait`).
pub const INCIDENT_DEFAULTS: IncidentSettings = IncidentSettings {
    min_projects: 5,
    tag_percent: 50,
    tag_min_projects: 4,
    window: TimeDelta::seconds(30),
};

/// The largest window accepted (an incident is about things failing *together*).
pub const WINDOW_MAX: TimeDelta = TimeDelta::hours(1);

impl Default for IncidentSettings {
    fn default() -> Self {
        INCIDENT_DEFAULTS
    }
}

impl IncidentSettings {
    /// Whether incidents can open at all.
    pub fn enabled(&self) -> bool {
        self.min_projects > 0 || self.tag_percent > 0
    }

    /// Checks the bounds; the error names the setting.
    pub fn validated(self) -> Result<Self, ValidationError> {
        if self.min_projects == 1 {
            return Err(ValidationError::new(
                "FEDERATION_INCIDENT_MIN_PROJECTS",
                "must be 0 (off) or at least 2: one project is an outage, not an incident",
            ));
        }
        if self.tag_percent > 100 {
            return Err(ValidationError::new(
                "FEDERATION_INCIDENT_TAG_PERCENT",
                "must be from 0 (off) to 100",
            ));
        }
        if self.tag_min_projects < 2 {
            return Err(ValidationError::new(
                "FEDERATION_INCIDENT_TAG_MIN_PROJECTS",
                "must be at least 2",
            ));
        }
        if self.window <= TimeDelta::zero() || self.window > WINDOW_MAX {
            return Err(ValidationError::new(
                "FEDERATION_INCIDENT_WINDOW",
                "must be above 0 and at most 1h",
            ));
        }
        Ok(self)
    }
}
