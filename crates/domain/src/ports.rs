//! The ports the use cases drive: persistence, status events and the clock.
//!
//! Adapters implement them (`federation-store`, `federation-nats`); tests use the
//! mockall mocks generated with the `mock` feature, and [`ManualClock`]. This crate's own
//! unit tests get the mocks without the feature (`cfg(test)`; mockall is also a
//! dev-dependency), so `cargo test -p federation-domain` needs no extra flags.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::error::{EventError, RepositoryError};
use crate::model::{
    ListFilter, PresenceRecord, Project, ProjectPage, ProjectPatch, Registration, Slug, Transition,
    Upserted,
};

/// The catalog and its liveness history.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProjectRepository: Send + Sync + 'static {
    /// Inserts or updates by slug, race-free; replaces the tags; never touches status or
    /// heartbeat fields.
    async fn upsert(&self, registration: &Registration) -> Result<Upserted, RepositoryError>;

    /// Upserts every registration in one transaction: all apply or none.
    async fn upsert_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, RepositoryError>;

    /// Changes descriptive fields; `None` when no such project exists.
    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, RepositoryError>;

    /// The project with this slug, if registered.
    async fn get(&self, slug: &Slug) -> Result<Option<Project>, RepositoryError>;

    /// Projects matching the filter in slug order, with the total that match.
    async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, RepositoryError>;

    /// Removes a project with its tags and history; `false` when there was none.
    async fn delete(&self, slug: &Slug) -> Result<bool, RepositoryError>;

    /// Every project's liveness, to load the presence table at start.
    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, RepositoryError>;

    /// Writes a batch of liveness updates and appends the transitions, in one
    /// transaction. `last_heartbeat_at` never moves backwards; unknown slugs are skipped.
    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
    ) -> Result<(), RepositoryError>;

    /// A project's transitions, newest first; `None` when no such project exists.
    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, RepositoryError>;

    /// Whether the store answers.
    async fn ping(&self) -> Result<(), RepositoryError>;
}

/// Where status transitions are announced.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StatusEvents: Send + Sync + 'static {
    /// Publishes one stored status change.
    async fn publish(&self, transition: &Transition) -> Result<(), EventError>;
}

/// Status events for a service without a bus: the history in the store is the record.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoStatusEvents;

#[async_trait]
impl StatusEvents for NoStatusEvents {
    async fn publish(&self, _transition: &Transition) -> Result<(), EventError> {
        Ok(())
    }
}

/// The time.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to: status rules are tested without sleeping.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock that reads `start` until set or advanced.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: TimeDelta) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
