//! An [`UptimeSource`] in memory, for other crates' tests.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::group::GroupDay;
use super::port::UptimeSource;
use super::rollup::DailyRollup;
use super::timeline::Span;
use crate::error::RepositoryError;
use crate::model::{Slug, Transition};

/// History rows and heard spans a test puts in; answers as a store would.
#[derive(Debug, Default)]
pub struct MemoryUptime {
    rows: Mutex<Vec<Transition>>,
    heard: Mutex<Vec<Span>>,
    rollups: Mutex<Vec<DailyRollup>>,
    rolled: Mutex<Vec<NaiveDate>>,
    groups: Mutex<Vec<GroupDay>>,
    grouped: Mutex<Vec<NaiveDate>>,
    slos: Mutex<Vec<super::slo::Objective>>,
}

impl MemoryUptime {
    /// Empty: every window unknown.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds history rows (any order; ties keep the order given).
    pub fn add_rows(&self, rows: impl IntoIterator<Item = Transition>) {
        let mut all = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        all.extend(rows);
        all.sort_by_key(|r| r.at);
    }

    /// Drops the history rows before `before` (retention), keeping rollups and spans.
    pub fn trim_rows(&self, before: DateTime<Utc>) {
        let mut all = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|r| r.at >= before);
    }
}

#[async_trait]
impl super::slo_store::SloStore for MemoryUptime {
    async fn list_slos(&self) -> Result<Vec<super::slo::Objective>, RepositoryError> {
        let mut all = self.slos.lock().unwrap_or_else(|p| p.into_inner()).clone();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    async fn put_slo(
        &self,
        objective: &super::slo::Objective,
    ) -> Result<super::SloWrite, RepositoryError> {
        let mut all = self.slos.lock().unwrap_or_else(|p| p.into_inner());
        let created = !all.iter().any(|o| o.name == objective.name);
        if created && all.len() >= super::SLOS_MAX {
            return Ok(super::SloWrite::Full);
        }
        all.retain(|o| o.name != objective.name);
        all.push(objective.clone());
        Ok(if created {
            super::SloWrite::Created
        } else {
            super::SloWrite::Replaced
        })
    }

    async fn delete_slo(&self, name: &str) -> Result<bool, RepositoryError> {
        let mut all = self.slos.lock().unwrap_or_else(|p| p.into_inner());
        let before = all.len();
        all.retain(|o| o.name != name);
        Ok(all.len() != before)
    }
}

#[async_trait]
impl UptimeSource for MemoryUptime {
    async fn history_between(
        &self,
        slugs: Option<Vec<Slug>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Transition>, RepositoryError> {
        let all = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let wanted = |s: &Slug| slugs.as_ref().is_none_or(|w| w.contains(s));
        let mut out: Vec<Transition> = Vec::new();
        let mut last_before: std::collections::HashMap<&Slug, &Transition> = Default::default();
        let reach = from - crate::model::MAINTENANCE_MAX;
        let marks = |r: &Transition| {
            r.reason
                .as_deref()
                .is_some_and(|w| w.starts_with("maintenance") || w.starts_with("removed"))
        };
        for r in all.iter().filter(|r| wanted(&r.slug)) {
            if r.at <= from {
                if let Some(earlier) = last_before.insert(&r.slug, r) {
                    if earlier.at >= reach && marks(earlier) {
                        out.push(earlier.clone());
                    }
                }
            } else if r.at < to {
                out.push(r.clone());
            }
        }
        out.extend(last_before.into_values().cloned());
        // Stable: rows at the same instant keep the order written.
        out.sort_by_key(|r| r.at);
        Ok(out)
    }

    async fn heard(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Span>, RepositoryError> {
        let heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        Ok(heard
            .iter()
            .filter(|s| s.start < to && s.end > from)
            .copied()
            .collect())
    }

    async fn record_heard(&self, span: Span) -> Result<(), RepositoryError> {
        let mut heard = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        match heard.iter_mut().find(|s| s.start == span.start) {
            Some(s) => s.end = s.end.max(span.end),
            None => heard.push(span),
        }
        heard.sort_by_key(|s| s.start);
        Ok(())
    }

    async fn rollups(
        &self,
        slugs: Option<Vec<Slug>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyRollup>, RepositoryError> {
        let all = self.rollups.lock().unwrap_or_else(|p| p.into_inner());
        Ok(all
            .iter()
            .filter(|r| from <= r.day && r.day < to)
            .filter(|r| slugs.as_ref().is_none_or(|w| w.contains(&r.slug)))
            .cloned()
            .collect())
    }

    async fn rolled_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, RepositoryError> {
        let rolled = self.rolled.lock().unwrap_or_else(|p| p.into_inner());
        Ok(rolled
            .iter()
            .filter(|d| from <= **d && **d < to)
            .copied()
            .collect())
    }

    async fn grouped_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, RepositoryError> {
        let grouped = self.grouped.lock().unwrap_or_else(|p| p.into_inner());
        Ok(grouped
            .iter()
            .filter(|d| from <= **d && **d < to)
            .copied()
            .collect())
    }

    async fn group_rollups(
        &self,
        scope: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<GroupDay>, RepositoryError> {
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        Ok(groups
            .iter()
            .filter(|g| g.scope == scope && from <= g.day && g.day < to)
            .cloned()
            .collect())
    }

    async fn save_rollups(
        &self,
        day: NaiveDate,
        rows: Vec<DailyRollup>,
        groups: Vec<GroupDay>,
    ) -> Result<(), RepositoryError> {
        self.save_rollups_without_groups(day, rows);
        self.save_groups(day, groups).await
    }

    async fn save_groups(
        &self,
        day: NaiveDate,
        groups: Vec<GroupDay>,
    ) -> Result<(), RepositoryError> {
        let mut all = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|g| g.day != day);
        all.extend(groups);
        let mut grouped = self.grouped.lock().unwrap_or_else(|p| p.into_inner());
        if !grouped.contains(&day) {
            grouped.push(day);
        }
        Ok(())
    }
}

impl MemoryUptime {
    /// Stores `day`'s project rollups the way an install from before group rollups
    /// did: rolled up, not grouped.
    pub fn save_rollups_without_groups(&self, day: NaiveDate, rows: Vec<DailyRollup>) {
        let mut all = self.rollups.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|r| r.day != day);
        all.extend(rows);
        let mut rolled = self.rolled.lock().unwrap_or_else(|p| p.into_inner());
        if !rolled.contains(&day) {
            rolled.push(day);
        }
    }
}
