//! This replica among the others: following the change log, and the sweeper lease.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use crate::error::RepositoryError;
use crate::model::Slug;
use crate::ports::Lease;
use crate::replication::{Change, ChangeKind, ChangesSince, Role, Snapshot};

use super::state::{admit, Leadership, LOG_BATCH};
use super::Federation;

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
        }
    }
}

/// The lease and this replica's place among the others.
pub(super) struct Replica {
    /// The sweeper lease.
    pub(super) lease: Arc<dyn Lease>,
    pub(super) options: ReplicaOptions,
}

impl Federation {
    /// Loads the registry and the presence table from the store (at start).
    pub async fn load(&self) -> Result<usize, RepositoryError> {
        let snapshot = self.state.log.snapshot().await?;
        let n = snapshot.projects.len();
        {
            let mut presence = self.state.presence();
            presence.load(Vec::new());
            for p in &snapshot.projects {
                admit(&mut presence, p);
            }
        }
        self.state.registry_mut().load(snapshot);
        *self
            .state
            .followed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(self.state.clock.now());
        Ok(n)
    }

    /// The change-log revision the registry has applied.
    pub fn revision(&self) -> u64 {
        self.state.registry().revision()
    }

    /// This replica's part in the sweep.
    pub fn role(&self) -> Role {
        self.state.leadership().role
    }

    /// Whether this replica leads with a lease the store confirmed within its TTL. A
    /// leader cut off from the store keeps its role (the store fences its writes if
    /// another took over) but does not count as leading here: `/ready` and the
    /// `federation_replica_leader` gauge then say `leader_unconfirmed`.
    pub fn leads(&self) -> bool {
        let l = self.state.leadership();
        let ttl = TimeDelta::from_std(self.replica.options.lease_ttl).unwrap_or(TimeDelta::MAX);
        matches!(l.role, Role::Leader(_))
            && l.confirmed_at
                .is_some_and(|at| self.state.clock.now() - at <= ttl)
    }

    /// `leader`, `leader_unconfirmed` (see [`Self::leads`]) or `follower`.
    pub fn role_name(&self) -> &'static str {
        match self.role() {
            Role::Follower => "follower",
            Role::Leader(_) if self.leads() => "leader",
            Role::Leader(_) => "leader_unconfirmed",
        }
    }

    /// How long ago this replica last read the change log to its end (`None`: never).
    pub fn follower_lag(&self) -> Option<TimeDelta> {
        let at = *self
            .state
            .followed_at
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        at.map(|t| (self.state.clock.now() - t).max(TimeDelta::zero()))
    }

    /// Applies every change after the registry's revision, in order (woken by the
    /// store's notifications, and after this replica's own writes). When the log was
    /// trimmed past that revision, reloads the whole catalog. Returns how many changes
    /// were applied.
    pub async fn follow(&self) -> Result<usize, RepositoryError> {
        let mut applied = 0;
        loop {
            let from = self.revision();
            match self.state.log.changes_since(from, LOG_BATCH).await? {
                ChangesSince::Trimmed => {
                    let snapshot = self.state.log.snapshot().await?;
                    tracing::warn!(
                        from,
                        to = snapshot.revision,
                        "the change log was trimmed past this replica's revision: registry reloaded"
                    );
                    self.restore(snapshot);
                }
                ChangesSince::Changes(changes) => {
                    let read = changes.len();
                    let done = self.state.registry_mut().apply(changes);
                    applied += done.len();
                    self.track_membership(&done);
                    if !done.is_empty() {
                        self.announce(&done);
                    }
                    if read < LOG_BATCH as usize {
                        *self
                            .state
                            .followed_at
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = Some(self.state.clock.now());
                        return Ok(applied);
                    }
                }
            }
        }
    }

    /// [`Self::follow`] after a write of this replica's, so it reads its own write: a
    /// failure only delays that (the follower task catches up), so it is logged.
    pub(super) async fn catch_up(&self) {
        if let Err(e) = self.follow().await {
            tracing::warn!(error = %e, "could not read the change log after a write; the follower will catch up");
        }
    }

    pub(super) fn announce(&self, changes: &[Change]) {
        let revision = self.revision();
        let listeners = self
            .state
            .on_change
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for listener in listeners.iter() {
            listener(changes, revision);
        }
    }

    /// Projects registered or deleted through any replica enter or leave the presence
    /// table as their change is applied, so their heartbeats are taken at once.
    fn track_membership(&self, changes: &[Change]) {
        let mut presence = self.state.presence();
        for change in changes {
            match (&change.kind, &change.project) {
                (ChangeKind::Deleted { .. }, _) => {
                    presence.remove(&change.slug);
                }
                (_, Some(project)) => admit(&mut presence, project),
                (_, None) => {}
            }
        }
    }

    /// Replaces the registry (and the presence table's membership) with a snapshot, as
    /// after falling behind a trim. Also for tests that start from a given catalog.
    pub fn restore(&self, snapshot: Snapshot) {
        {
            let mut presence = self.state.presence();
            let known: std::collections::HashSet<&Slug> =
                snapshot.projects.iter().map(|p| &p.slug).collect();
            let stale: Vec<Slug> = presence
                .slugs()
                .filter(|s| !known.contains(s))
                .cloned()
                .collect();
            for slug in &stale {
                presence.remove(slug);
            }
            for p in &snapshot.projects {
                admit(&mut presence, p);
            }
        }
        self.state.registry_mut().load(snapshot);
        self.announce(&[]);
    }

    /// Changes after `revision` from the log, oldest first, at most `limit` (a change
    /// stream resuming where its client left off), or [`ChangesSince::Trimmed`].
    pub async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.state.log.changes_since(revision, limit).await
    }

    /// Takes or renews the sweeper lease (every tick). On promotion, first applies
    /// everything the previous leader wrote, then leads. A replica that cannot reach
    /// the store keeps its role: the store fences its writes if another took over.
    pub async fn campaign(&self) -> Result<Role, RepositoryError> {
        let acquired = self
            .replica
            .lease
            .acquire(&self.replica.options.holder, self.replica.options.lease_ttl)
            .await?;
        let current = self.role();
        let now = self.state.clock.now();
        match acquired {
            Some(term) if current == Role::Leader(term) => {
                self.state.leadership().confirmed_at = Some(now);
            }
            Some(term) => {
                self.follow().await?;
                let published_through = self.state.log.published_through().await?;
                *self.state.leadership() = Leadership {
                    role: Role::Leader(term),
                    reconcile: true,
                    published_through,
                    confirmed_at: Some(now),
                };
                tracing::info!(%term, holder = %self.replica.options.holder, "this replica now leads the sweep");
            }
            None => {
                if current != Role::Follower {
                    self.step_down("another replica holds the lease");
                }
            }
        }
        Ok(self.role())
    }

    pub(super) fn step_down(&self, why: &str) {
        let mut leadership = self.state.leadership();
        if let Role::Leader(term) = leadership.role {
            tracing::warn!(%term, why, "this replica no longer leads the sweep");
        }
        leadership.role = Role::Follower;
        leadership.reconcile = false;
    }

    /// Gives the lease up (a clean stop), after the last flush.
    pub async fn resign(&self) {
        if self.role() == Role::Follower {
            return;
        }
        self.step_down("stopping");
        if let Err(e) = self
            .replica
            .lease
            .release(&self.replica.options.holder)
            .await
        {
            tracing::warn!(error = %e, "could not release the sweeper lease; it expires by itself");
        }
    }

    /// Trims the change log (the leader, now and then).
    pub async fn trim_log(&self) -> Result<u64, RepositoryError> {
        if self.role() == Role::Follower {
            return Ok(0);
        }
        let before = self.state.clock.now() - self.replica.options.log_retention;
        self.state
            .log
            .trim(before, self.replica.options.log_max_rows)
            .await
    }

    /// Applies the history's retention (the leader, now and then): transitions older
    /// than `history_retention`, and each project's beyond its newest
    /// `history_max_per_project`, are deleted.
    pub async fn trim_history(&self) -> Result<u64, RepositoryError> {
        if self.role() == Role::Follower {
            return Ok(0);
        }
        let before = self.state.clock.now() - self.replica.options.history_retention;
        self.repo
            .trim_history(before, self.replica.options.history_max_per_project)
            .await
    }
}
