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
use crate::flapping::FlapMark;
use crate::model::{
    CatalogApplied, ListFilter, LoggedSteps, MaintenanceChange, PresenceRecord, Project,
    ProjectPage, ProjectPatch, Registration, Slug, Transition, Upserted,
};
use crate::replication::{ChangesSince, Snapshot, Term};

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

    /// Applies the catalog file in one transaction: upserts every registration and,
    /// with `prune`, removes (reason `pruned`, as [`Self::delete`] does) every project
    /// whose origin is the file and that the registrations do not list.
    async fn apply_catalog(
        &self,
        registrations: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, RepositoryError>;

    /// Changes descriptive fields; `None` when no such project exists.
    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, RepositoryError>;

    /// Starts or ends the project's maintenance window, recording it in the history (a
    /// row from its status to the same status, with the reason) and in the change log
    /// (`updated`), in one transaction. `None` when no such project exists; the project
    /// unchanged, with nothing written, when [`MaintenanceChange::End`] finds no window
    /// to end.
    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, RepositoryError>;

    /// The project with this slug, if registered.
    async fn get(&self, slug: &Slug) -> Result<Option<Project>, RepositoryError>;

    /// Projects matching the filter in slug order, with the total that match.
    async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, RepositoryError>;

    /// Removes a project with its tags, recording why (`deleted`, `expired`) in the
    /// change log and as a last history row (`removed: <why>`, from its status to the
    /// same); its history stays readable by slug. `false` when there was none.
    async fn delete(&self, slug: &Slug, why: &str) -> Result<bool, RepositoryError>;

    /// Every project's liveness, to load the presence table at start.
    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, RepositoryError>;

    /// Writes a batch of liveness updates and appends the transitions (to the history
    /// and to the change log), in one transaction, fenced by the sweeper lease: when
    /// `term` is no longer the lease's current term nothing is written and the answer
    /// is [`RepositoryError::Fenced`]. `last_heartbeat_at` never moves backwards;
    /// unknown slugs are skipped. Returns the steps it logged (see [`LoggedSteps`]).
    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<LoggedSteps, RepositoryError>;

    /// Records starts and ends of flapping: each mark sets (or clears) the project's
    /// `flapping_since` and appends a `flapping` (or `stable`) change to the log, in one
    /// transaction fenced like [`Self::write_presence`]. A mark that would change
    /// nothing (a start for a project already flapping, an end for one that is not, an
    /// unknown slug) writes nothing, so deciding again is harmless.
    async fn write_flapping(&self, marks: &[FlapMark], term: Term) -> Result<(), RepositoryError>;

    /// A project's transitions, newest first, also after it was removed; `None` when
    /// no project with this slug ever had any and none exists.
    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, RepositoryError>;

    /// Applies the history's retention: deletes transitions older than `before`, and
    /// every project's beyond its `per_project` newest. Returns how many went.
    async fn trim_history(
        &self,
        before: DateTime<Utc>,
        per_project: u32,
    ) -> Result<u64, RepositoryError>;

    /// Whether the store answers.
    async fn ping(&self) -> Result<(), RepositoryError>;
}

/// The ordered change log: every catalog change and status transition, numbered by a
/// cluster-wide revision in the transaction of the change. Writes append to it through
/// [`ProjectRepository`]; replicas read it to follow.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ChangeLog: Send + Sync + 'static {
    /// The whole catalog and the revision it reflects, read in one consistent view.
    async fn snapshot(&self) -> Result<Snapshot, RepositoryError>;

    /// Changes after `revision`, oldest first, at most `limit`; [`ChangesSince::Trimmed`]
    /// when some of them are no longer kept.
    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError>;

    /// [`Self::changes_since`] without their projects (each `project` is `None`): what
    /// the outbox publishes from, a revision, a slug and a kind, read without the
    /// projects' rows and tags.
    async fn events_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError>;

    /// The last revision whose status event was published (the outbox cursor).
    async fn published_through(&self) -> Result<u64, RepositoryError>;

    /// Moves the outbox cursor forward, fenced by `term` like transitions.
    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), RepositoryError>;

    /// Deletes changes older than `before`, and beyond the newest `keep` rows, but
    /// never one whose event is still to be published, nor the newest. Returns how many
    /// went.
    async fn trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, RepositoryError>;
}

/// The sweeper lease (the Kubernetes Lease model: a holder, a term, an expiry).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Lease: Send + Sync + 'static {
    /// Takes the lease for `holder` when it is free or expired, or renews it when
    /// `holder` has it, for `ttl` from the store's clock. Returns the term held, or
    /// `None` while another holder's lease is live. The term grows whenever the lease
    /// changes hands.
    async fn acquire(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Term>, RepositoryError>;

    /// Gives the lease up at once (a clean stop), so another replica leads without
    /// waiting for it to expire.
    async fn release(&self, holder: &str) -> Result<(), RepositoryError>;
}

/// Where status transitions are announced.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StatusEvents: Send + Sync + 'static {
    /// Publishes one transition; `revision` is its place in the change log, an id
    /// consumers can de-duplicate on.
    async fn publish(&self, transition: &Transition, revision: u64) -> Result<(), EventError>;

    /// Publishes a start (`flapping`) or end (`stable`) of flapping of `slug`, recorded
    /// at `revision` at time `at`.
    async fn publish_flapping(
        &self,
        slug: &Slug,
        flapping: bool,
        at: DateTime<Utc>,
        revision: u64,
    ) -> Result<(), EventError>;

    /// Returns once the bus has every event published before (a round trip to its
    /// server). The outbox moves its cursor only past confirmed events: one a dropped
    /// connection lost after the client took it is published again, with its revision.
    async fn confirm(&self) -> Result<(), EventError>;
}

/// Hands a heartbeat taken over HTTP to the other replicas (NATS: republished on the
/// presence subject), so every replica's presence table hears it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait HeartbeatRelay: Send + Sync + 'static {
    /// Hands the heartbeat `body`, taken for `slug`, to the other replicas.
    async fn relay(&self, slug: &Slug, body: &[u8]) -> Result<(), EventError>;
}

/// No other replica to tell (no bus: one replica only, see docs/replication.md).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoRelay;

#[async_trait]
impl HeartbeatRelay for NoRelay {
    async fn relay(&self, _slug: &Slug, _body: &[u8]) -> Result<(), EventError> {
        Ok(())
    }
}

/// Status events for a service without a bus: the history in the store is the record.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoStatusEvents;

#[async_trait]
impl StatusEvents for NoStatusEvents {
    async fn publish(&self, _transition: &Transition, _revision: u64) -> Result<(), EventError> {
        Ok(())
    }

    async fn publish_flapping(
        &self,
        _slug: &Slug,
        _flapping: bool,
        _at: DateTime<Utc>,
        _revision: u64,
    ) -> Result<(), EventError> {
        Ok(())
    }

    async fn confirm(&self) -> Result<(), EventError> {
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
