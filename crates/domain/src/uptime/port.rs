//! What uptime reports read and the leader records: the port the stores implement.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::group::GroupDay;
use super::rollup::DailyRollup;
use super::timeline::Span;
use crate::error::RepositoryError;
use crate::model::{Slug, Transition};

/// The raw facts of uptime: history rows by window, and the time the service heard the
/// bus (the coverage the leader records).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UptimeSource: Send + Sync + 'static {
    /// The history rows of the projects `slugs` (every project's when `None`) that
    /// tell their status within `[from, to)`: each project's last row at or before
    /// `from`, its rows in `(from, to)`, and its maintenance and removal rows
    /// (reasons `maintenance_…`, `removed…`) from [`MAINTENANCE_MAX`] before `from`
    /// (a window open at `from` started then at the earliest); oldest first, rows at
    /// the same instant in the order they were written.
    ///
    /// [`MAINTENANCE_MAX`]: crate::model::MAINTENANCE_MAX
    async fn history_between(
        &self,
        slugs: Option<Vec<Slug>>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Transition>, RepositoryError>;

    /// The spans the service heard the bus (the leader ran and was not deaf) that
    /// overlap `[from, to)`, oldest first.
    async fn heard(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Span>, RepositoryError>;

    /// Records that the leader heard the bus over `span`: the span recorded with the
    /// same start grows to `span.end` (never shrinks), or a new one is kept.
    async fn record_heard(&self, span: Span) -> Result<(), RepositoryError>;

    /// The daily rollups of `slugs` (every project's when `None`) for the days in
    /// `[from, to)`.
    async fn rollups(
        &self,
        slugs: Option<Vec<Slug>>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyRollup>, RepositoryError>;

    /// The days in `[from, to)` that were rolled up.
    async fn rolled_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, RepositoryError>;

    /// The days in `[from, to)` whose group rollups were kept (every day rolled up
    /// since groups exist; days rolled up before are regrouped by the leader).
    async fn grouped_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<NaiveDate>, RepositoryError>;

    /// The group rollups of the group `scope` ([`Scope::key`]) for the days in
    /// `[from, to)`, with their edges.
    ///
    /// [`Scope::key`]: super::Scope::key
    async fn group_rollups(
        &self,
        scope: String,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<GroupDay>, RepositoryError>;

    /// Stores `day`'s rollups and its group rollups (replacing any) and marks the day
    /// rolled up and grouped, in one transaction.
    async fn save_rollups(
        &self,
        day: NaiveDate,
        rows: Vec<DailyRollup>,
        groups: Vec<GroupDay>,
    ) -> Result<(), RepositoryError>;

    /// Stores `day`'s group rollups (replacing any) and marks the day grouped, in one
    /// transaction; the day's project rollups stay.
    async fn save_groups(
        &self,
        day: NaiveDate,
        groups: Vec<GroupDay>,
    ) -> Result<(), RepositoryError>;
}
