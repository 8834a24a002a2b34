//! The use cases: what the API, the NATS adapter and the server's tasks call.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::error::{RepositoryError, ServiceError, ValidationError};
use crate::heartbeat::{self, HeartbeatError};
use crate::model::{
    ListFilter, Project, ProjectPage, ProjectPatch, Registration, RegistrationInput, Slug,
    Transition, Upserted,
};
use crate::ports::{Clock, ProjectRepository, StatusEvents};
use crate::presence::{Flush, GuardState, HeartbeatOutcome, MassExpiry, Presence, StatusCounts};

/// Why a heartbeat was not recorded.
#[derive(Debug, Error)]
pub enum HeartbeatRejected {
    #[error(transparent)]
    Invalid(#[from] HeartbeatError),
    #[error("no project {0} is registered")]
    UnknownProject(String),
}

impl HeartbeatRejected {
    /// The metric label of the outcome (`unknown_project`, `malformed`, …).
    pub fn outcome(&self) -> &'static str {
        match self {
            HeartbeatRejected::Invalid(e) => e.outcome(),
            HeartbeatRejected::UnknownProject(_) => "unknown_project",
        }
    }
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Transitions stored (and then published).
    pub transitions: usize,
    /// Liveness rows written.
    pub updates: usize,
    /// Transitions stored whose event could not be published.
    pub unpublished: usize,
    pub mass_expiry: Option<MassExpiry>,
}

/// A tick whose batch the store refused; the batch was put back for the next tick.
#[derive(Debug, Error)]
#[error(
    "presence batch of {transitions} transitions and {updates} updates kept for retry: {source}"
)]
pub struct FlushFailed {
    pub transitions: usize,
    pub updates: usize,
    #[source]
    pub source: RepositoryError,
}

/// The federation's use cases over the ports.
pub struct Federation {
    repo: Arc<dyn ProjectRepository>,
    events: Arc<dyn StatusEvents>,
    clock: Arc<dyn Clock>,
    presence: Mutex<Presence>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").finish_non_exhaustive()
    }
}

fn path_slug(raw: &str) -> Result<Slug, ServiceError> {
    // A slug that cannot be valid names no project: that is a 404, not a 422.
    Slug::parse(raw).map_err(|_| ServiceError::NotFound(raw.chars().take(64).collect()))
}

impl Federation {
    pub fn new(
        repo: Arc<dyn ProjectRepository>,
        events: Arc<dyn StatusEvents>,
        clock: Arc<dyn Clock>,
        presence: Presence,
    ) -> Self {
        Self {
            repo,
            events,
            clock,
            presence: Mutex::new(presence),
        }
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        // The table holds no invariant a panicking holder could half-break beyond one
        // entry, so keep serving rather than poisoning every later heartbeat.
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Loads the presence table from the store (at start).
    pub async fn load(&self) -> Result<usize, RepositoryError> {
        let snapshot = self.repo.presence_snapshot().await?;
        let n = snapshot.len();
        self.presence().load(snapshot);
        Ok(n)
    }

    /// Adds catalog entries registered elsewhere (another replica, the YAML file) to the
    /// presence table, and drops those deleted elsewhere. Returns (added, removed).
    pub async fn sync_catalog(&self) -> Result<(usize, usize), RepositoryError> {
        let snapshot = self.repo.presence_snapshot().await?;
        let mut presence = self.presence();
        let known: std::collections::HashSet<&Slug> = snapshot.iter().map(|r| &r.slug).collect();
        let stale: Vec<Slug> = presence
            .slugs()
            .filter(|s| !known.contains(s))
            .cloned()
            .collect();
        for slug in &stale {
            presence.remove(slug);
        }
        let mut added = 0;
        for record in snapshot {
            if presence.adopt(record) {
                added += 1;
            }
        }
        Ok((added, stale.len()))
    }

    /// Registers or updates a project. `created` tells which.
    pub async fn register(&self, input: &RegistrationInput) -> Result<Upserted, ServiceError> {
        let registration = input.validate()?;
        let upserted = self.repo.upsert(&registration).await?;
        self.presence().register(&registration.slug);
        Ok(upserted)
    }

    /// Registers every entry in one transaction (the catalog file): all or none.
    pub async fn register_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, ServiceError> {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in registrations.iter().enumerate() {
            if !seen.insert(&r.slug) {
                return Err(ValidationError::new(
                    format!("projects[{i}].slug"),
                    format!("duplicate slug {}", r.slug),
                )
                .into());
            }
        }
        let upserted = self.repo.upsert_all(registrations).await?;
        let mut presence = self.presence();
        for r in registrations {
            presence.register(&r.slug);
        }
        Ok(upserted)
    }

    pub async fn get(&self, slug: &str) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        self.repo
            .get(&slug)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    pub async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, ServiceError> {
        Ok(self.repo.list(filter).await?)
    }

    pub async fn update(&self, slug: &str, patch: &ProjectPatch) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        self.repo
            .update(&slug, patch)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    pub async fn deregister(&self, slug: &str) -> Result<(), ServiceError> {
        let slug = path_slug(slug)?;
        if !self.repo.delete(&slug).await? {
            return Err(ServiceError::NotFound(slug.to_string()));
        }
        self.presence().remove(&slug);
        Ok(())
    }

    pub async fn history(&self, slug: &str, limit: u32) -> Result<Vec<Transition>, ServiceError> {
        let slug = path_slug(slug)?;
        self.repo
            .history(&slug, limit)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    /// Decodes and records a heartbeat that arrived for `subject_slug`. Memory only: the
    /// next tick persists it. Returns whether the project's status changed.
    pub fn record_heartbeat(
        &self,
        subject_slug: &str,
        bytes: &[u8],
    ) -> Result<bool, HeartbeatRejected> {
        let now = self.clock.now();
        let policy = *self.presence().policy();
        let hb = heartbeat::decode(subject_slug, bytes, now, &policy)?;
        match self.presence().heartbeat(&hb, now) {
            HeartbeatOutcome::Recorded { changed } => Ok(changed),
            HeartbeatOutcome::UnknownProject => {
                Err(HeartbeatRejected::UnknownProject(hb.slug.to_string()))
            }
        }
    }

    /// Applies the clock, writes the batch in one store call, then publishes the
    /// transitions. A batch the store refuses is kept for the next tick, so no status
    /// change is lost while the store is down.
    pub async fn tick(&self) -> Result<TickReport, FlushFailed> {
        let now = self.clock.now();
        let flush = self.presence().tick(now);
        let mut report = TickReport {
            transitions: flush.transitions.len(),
            updates: flush.updates.len(),
            unpublished: 0,
            mass_expiry: flush.mass_expiry,
        };
        if flush.is_empty() {
            return Ok(report);
        }
        if let Err(source) = self
            .repo
            .write_presence(&flush.updates, &flush.transitions)
            .await
        {
            let err = FlushFailed {
                transitions: flush.transitions.len(),
                updates: flush.updates.len(),
                source,
            };
            self.presence().requeue(Flush {
                mass_expiry: None,
                ..flush
            });
            return Err(err);
        }
        for t in &flush.transitions {
            if let Err(e) = self.events.publish(t).await {
                report.unpublished += 1;
                tracing::warn!(slug = %t.slug, error = %e, "status event not published");
            }
        }
        Ok(report)
    }

    pub fn bus_connected(&self) {
        let now = self.clock.now();
        self.presence().bus_connected(now);
    }

    pub fn bus_disconnected(&self) {
        let now = self.clock.now();
        self.presence().bus_disconnected(now);
    }

    pub fn canary_sent(&self) {
        let now = self.clock.now();
        self.presence().canary_sent(now);
    }

    pub fn canary_received(&self) {
        let now = self.clock.now();
        self.presence().canary_received(now);
    }

    pub fn guard(&self) -> GuardState {
        let now = self.clock.now();
        self.presence().guard(now)
    }

    pub fn last_mass_expiry(&self) -> Option<MassExpiry> {
        self.presence().last_mass_expiry()
    }

    pub fn counts(&self) -> StatusCounts {
        self.presence().counts()
    }

    /// Whether the store answers.
    pub async fn ping_store(&self) -> Result<(), RepositoryError> {
        self.repo.ping().await
    }
}
