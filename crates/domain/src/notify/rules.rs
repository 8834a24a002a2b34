//! A channel's rules: which projects, which changes, and how long a status must hold
//! before anyone is told.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ValidationError;
use crate::model::{Project, Slug, Status, Tag};

/// Most slugs a rule lists.
pub const RULE_SLUGS_MAX: usize = 100;
/// Most tags a rule lists.
pub const RULE_TAGS_MAX: usize = 32;
/// Most metadata keys a rule matches on.
pub const RULE_METADATA_MAX: usize = 16;
/// Longest hold: one day.
pub const HOLD_MAX_SECONDS: u32 = 86_400;
/// Shortest reminder period: five minutes.
pub const REMIND_MIN_SECONDS: u32 = 300;
/// Longest reminder period: one week.
pub const REMIND_MAX_SECONDS: u32 = 604_800;

/// A change a channel can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A project went offline.
    Offline,
    /// A project went degraded.
    Degraded,
    /// A project that was told as offline or degraded is online again.
    Recovered,
}

impl Trigger {
    /// Every trigger, the default set.
    pub const ALL: [Trigger; 3] = [Trigger::Offline, Trigger::Degraded, Trigger::Recovered];

    /// The name shown and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Offline => "offline",
            Trigger::Degraded => "degraded",
            Trigger::Recovered => "recovered",
        }
    }

    /// The trigger a bad status (offline, degraded) is told with; `None` for online.
    pub fn of_bad(status: Status) -> Option<Trigger> {
        match status {
            Status::Offline => Some(Trigger::Offline),
            Status::Degraded => Some(Trigger::Degraded),
            Status::Online => None,
        }
    }
}

/// Which projects, which changes, and when. Absent parts mean "any": the default rules
/// tell every change of every project at once, with no reminders.
///
/// A project matches when it is one of `slugs` (if any are listed), carries at least
/// one of `tags` (if any, ignoring case), and has every `metadata` key with exactly
/// that value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Projects by slug; empty: any.
    #[serde(default)]
    pub slugs: Vec<String>,
    /// Projects by tag (any of them); empty: any.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Projects by metadata (every key equal); empty: any.
    #[serde(default)]
    pub metadata: BTreeMap<String, Value>,
    /// The changes told.
    #[serde(default = "all_triggers")]
    pub on: Vec<Trigger>,
    /// How long a bad status must hold before it is told; a project back within it
    /// causes no message at all.
    #[serde(default)]
    pub hold_seconds: u32,
    /// While a told bad status lasts, tell it again this often; absent: never.
    #[serde(default)]
    pub remind_every_seconds: Option<u32>,
}

fn all_triggers() -> Vec<Trigger> {
    Trigger::ALL.to_vec()
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            slugs: Vec::new(),
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            on: all_triggers(),
            hold_seconds: 0,
            remind_every_seconds: None,
        }
    }
}

impl Rules {
    /// Checks the bounds and normalizes (slugs lowercased, duplicates dropped). Errors
    /// name `rules.FIELD`.
    pub fn check(&self) -> Result<(), ValidationError> {
        self.clone().normalized().map(|_| ())
    }

    /// The rules with slugs and tags validated and normalized.
    pub fn normalized(mut self) -> Result<Self, ValidationError> {
        if self.slugs.len() > RULE_SLUGS_MAX {
            return Err(ValidationError::new(
                "rules.slugs",
                format!("must list at most {RULE_SLUGS_MAX} slugs"),
            ));
        }
        let mut slugs = Vec::with_capacity(self.slugs.len());
        for (i, s) in self.slugs.iter().enumerate() {
            let slug = Slug::parse(s).map_err(|e| e.at(format!("rules.slugs[{i}]")))?;
            if !slugs.contains(&slug.as_str().to_owned()) {
                slugs.push(slug.as_str().to_owned());
            }
        }
        self.slugs = slugs;
        if self.tags.len() > RULE_TAGS_MAX {
            return Err(ValidationError::new(
                "rules.tags",
                format!("must list at most {RULE_TAGS_MAX} tags"),
            ));
        }
        for (i, t) in self.tags.iter_mut().enumerate() {
            *t = Tag::parse(t)
                .map_err(|e| e.at(format!("rules.tags[{i}]")))?
                .as_str()
                .to_owned();
        }
        if self.metadata.len() > RULE_METADATA_MAX {
            return Err(ValidationError::new(
                "rules.metadata",
                format!("must match at most {RULE_METADATA_MAX} keys"),
            ));
        }
        crate::model::Metadata::from_map(self.metadata.clone())
            .map_err(|e| ValidationError::new(format!("rules.{}", e.field), e.message))?;
        if self.on.is_empty() {
            return Err(ValidationError::new(
                "rules.on",
                "must name at least one change (offline, degraded, recovered)",
            ));
        }
        self.on.sort();
        self.on.dedup();
        if self.hold_seconds > HOLD_MAX_SECONDS {
            return Err(ValidationError::new(
                "rules.hold_seconds",
                format!("must be at most {HOLD_MAX_SECONDS}"),
            ));
        }
        if let Some(r) = self.remind_every_seconds {
            if !(REMIND_MIN_SECONDS..=REMIND_MAX_SECONDS).contains(&r) {
                return Err(ValidationError::new(
                    "rules.remind_every_seconds",
                    format!("must be from {REMIND_MIN_SECONDS} to {REMIND_MAX_SECONDS}"),
                ));
            }
        }
        Ok(self)
    }

    /// Whether the rules select this project.
    pub fn selects(&self, project: &Project) -> bool {
        let slug_ok =
            self.slugs.is_empty() || self.slugs.iter().any(|s| s == project.slug.as_str());
        let tag_ok = self.tags.is_empty()
            || self.tags.iter().any(|t| {
                project
                    .tags
                    .iter()
                    .any(|have| have.as_str().to_lowercase() == t.to_lowercase())
            });
        let meta_ok = self
            .metadata
            .iter()
            .all(|(k, v)| project.metadata.get(k) == Some(v));
        slug_ok && tag_ok && meta_ok
    }

    /// Whether this change is told.
    pub fn tells(&self, trigger: Trigger) -> bool {
        self.on.contains(&trigger)
    }
}
