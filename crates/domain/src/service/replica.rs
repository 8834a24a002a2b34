//! This replica among the others: the sweeper lease (taken, renewed, given up) and the
//! retention the leader applies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::RepositoryError;
use crate::ports::{Lease, ProjectRepository};
use crate::replication::Role;

use super::state::{Leadership, State};

/// This replica's place among the others.
#[derive(Debug, Clone)]
pub struct ReplicaOptions {
    /// This replica's name in the lease (unique per process).
    pub holder: String,
    /// How long a lease lasts unless renewed (every tick).
    pub lease_ttl: Duration,
    /// Changes older than this are trimmed from the log.
    pub log_retention: TimeDelta,
    /// At most this many changes are kept.
    pub log_max_rows: u64,
    /// Transitions older than this are trimmed from the history.
    pub history_retention: TimeDelta,
    /// At most this many transitions are kept per project (the newest).
    pub history_max_per_project: u32,
    /// When a project counts as flapping (judged by the leader, see
    /// [`crate::flapping`]).
    pub flapping: crate::flapping::Flapping,
}

impl Default for ReplicaOptions {
    fn default() -> Self {
        Self {
            holder: "federation".into(),
            lease_ttl: Duration::from_secs(5),
            log_retention: TimeDelta::hours(24),
            log_max_rows: 100_000,
            history_retention: TimeDelta::days(90),
            history_max_per_project: 1000,
            flapping: crate::flapping::FLAPPING_DEFAULT,
        }
    }
}

/// This replica's contact with the store, as its campaigns found it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Contact {
    /// The last campaign reached the store.
    Fine,
    /// The last campaign (or probe) failed.
    Lost,
    /// Reachable again since then, after a loss: a follower does not take the lease
    /// until a lease's time to live has passed since (see [`Replica::campaign`]).
    BackSince(DateTime<Utc>),
}

/// This replica among the others: the sweeper lease, and the retention it applies
/// while it leads.
pub(super) struct Replica {
    state: Arc<State>,
    /// The history's retention is applied through it.
    repo: Arc<dyn ProjectRepository>,
    /// The sweeper lease.
    lease: Arc<dyn Lease>,
    options: ReplicaOptions,
    contact: Mutex<Contact>,
}

impl Replica {
    pub(super) fn new(
        state: Arc<State>,
        repo: Arc<dyn ProjectRepository>,
        lease: Arc<dyn Lease>,
        options: ReplicaOptions,
    ) -> Self {
        Self {
            state,
            repo,
            lease,
            options,
            contact: Mutex::new(Contact::Fine),
        }
    }

    /// The lease's time to live, on the clock's scale.
    fn lease_ttl(&self) -> TimeDelta {
        TimeDelta::from_std(self.options.lease_ttl).unwrap_or(TimeDelta::MAX)
    }

    fn contact(&self) -> std::sync::MutexGuard<'_, Contact> {
        self.contact.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn leads(&self) -> bool {
        let ttl = self.lease_ttl();
        let l = self.state.leadership();
        matches!(l.role, Role::Leader(_))
            && l.confirmed_at
                .is_some_and(|at| self.state.clock.now() - at <= ttl)
    }

    pub(super) fn role_name(&self) -> &'static str {
        match self.state.role() {
            Role::Follower => "follower",
            Role::Leader(_) if self.leads() => "leader",
            Role::Leader(_) => "leader_unconfirmed",
        }
    }

    /// Takes or renews the lease. A follower that lost the store holds back once it is
    /// reachable again: it reads the log (a probe) and takes a free or expired lease
    /// only a lease's time to live later. A leader cut off by the same outage renews
    /// first (its lease is its own, expired or not), so an outage of the database alone
    /// does not move the lead; a leader that died during the outage is replaced that
    /// much later.
    pub(super) async fn campaign(&self) -> Result<Role, RepositoryError> {
        if self.state.role() == Role::Follower && self.holding_back().await? {
            return Ok(Role::Follower);
        }
        let acquired = match self
            .lease
            .acquire(&self.options.holder, self.options.lease_ttl)
            .await
        {
            Ok(acquired) => acquired,
            Err(e) => {
                *self.contact() = Contact::Lost;
                return Err(e);
            }
        };
        *self.contact() = Contact::Fine;
        let current = self.state.role();
        let now = self.state.clock.now();
        match acquired {
            Some(term) if current == Role::Leader(term) => {
                self.state.leadership().confirmed_at = Some(now);
            }
            Some(term) => {
                self.state.follow().await?;
                let published_through = self.state.log.published_through().await?;
                *self.state.leadership() = Leadership {
                    role: Role::Leader(term),
                    reconcile: true,
                    published_through,
                    confirmed_at: Some(now),
                };
                tracing::info!(%term, holder = %self.options.holder, "this replica now leads the sweep");
            }
            None => {
                if current != Role::Follower {
                    self.state.step_down("another replica holds the lease");
                }
            }
        }
        Ok(self.state.role())
    }

    /// Whether a follower skips this campaign: after a loss of the store, until a probe
    /// (a read of the log) reaches it and a lease's time to live has passed since.
    async fn holding_back(&self) -> Result<bool, RepositoryError> {
        let contact = *self.contact();
        match contact {
            Contact::Fine => Ok(false),
            Contact::BackSince(at) => Ok(self.state.clock.now() - at < self.lease_ttl()),
            Contact::Lost => {
                self.state.follow().await?;
                *self.contact() = Contact::BackSince(self.state.clock.now());
                tracing::info!("the store is reachable again; the lease is left to its holder for one time to live");
                Ok(true)
            }
        }
    }

    pub(super) async fn resign(&self) {
        if self.state.role() == Role::Follower {
            return;
        }
        self.state.step_down("stopping");
        if let Err(e) = self.lease.release(&self.options.holder).await {
            tracing::warn!(error = %e, "could not release the sweeper lease; it expires by itself");
        }
    }

    pub(super) async fn trim_log(&self) -> Result<u64, RepositoryError> {
        if self.state.role() == Role::Follower {
            return Ok(0);
        }
        let before = self.state.clock.now() - self.options.log_retention;
        self.state.log.trim(before, self.options.log_max_rows).await
    }

    pub(super) async fn trim_history(&self) -> Result<u64, RepositoryError> {
        if self.state.role() == Role::Follower {
            return Ok(0);
        }
        let before = self.state.clock.now() - self.options.history_retention;
        self.repo
            .trim_history(before, self.options.history_max_per_project)
            .await
    }
}
