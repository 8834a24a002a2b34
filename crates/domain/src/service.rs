//! The use cases: what the API, the NATS adapter and the server's tasks call.

use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

use crate::error::{RepositoryError, ServiceError, ValidationError};
use crate::heartbeat::{self, HeartbeatError};
use crate::model::{
    reason, CatalogApplied, CatalogPlan, HeartbeatCredential, HeartbeatKeyDigest, ListFilter,
    MaintenanceChange, MaintenanceInput, PresenceRecord, Project, ProjectPage, ProjectPatch,
    Registration, RegistrationInput, Slug, Status, Transition, Upserted,
};
use crate::policy::StatusPolicy;
use crate::ports::{ChangeLog, Clock, HeartbeatRelay, Lease, ProjectRepository, StatusEvents};
use crate::presence::{Flush, GuardState, HeartbeatOutcome, MassExpiry, Presence, StatusCounts};
use crate::replication::{
    Change, ChangeKind, ChangesSince, Registry, Role, Snapshot, Summary, Term,
};
use crate::stats::{HeartbeatCounters, TransitionCounters};

/// Why a heartbeat was not recorded.
#[derive(Debug, Error)]
pub enum HeartbeatRejected {
    #[error(transparent)]
    /// The heartbeat failed a check.
    Invalid(#[from] HeartbeatError),
    #[error("no project {0} is registered")]
    /// No project with this slug is registered.
    UnknownProject(String),
    #[error("project {0} has a heartbeat key: send it (or a write key) in X-API-Key")]
    /// The project has a heartbeat key and the heartbeat carried no key.
    KeyRequired(String),
    #[error("the key is neither project {0}'s heartbeat key nor a write key")]
    /// The project has a heartbeat key and the heartbeat carried another key.
    KeyInvalid(String),
}

impl HeartbeatRejected {
    /// The metric label of the outcome (`unknown_project`, `malformed`, …).
    pub fn outcome(&self) -> &'static str {
        match self {
            HeartbeatRejected::Invalid(e) => e.outcome(),
            HeartbeatRejected::UnknownProject(_) => "unknown_project",
            HeartbeatRejected::KeyRequired(_) => "key_required",
            HeartbeatRejected::KeyInvalid(_) => "key_invalid",
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
    /// Transitions stored whose event is still to be published (the bus refused it;
    /// it is retried, in order, on the next tick).
    pub unpublished: usize,
    /// Set when this tick's sweep was a mass expiry.
    pub mass_expiry: Option<MassExpiry>,
    /// This replica does not hold the sweeper lease: it wrote nothing.
    pub follower: bool,
    /// Projects removed for being offline longer than `deregister_after`.
    pub expired: usize,
}

/// A tick whose batch the store refused; the batch was put back for the next tick.
#[derive(Debug, Error)]
#[error(
    "presence batch of {transitions} transitions and {updates} updates kept for retry: {source}"
)]
pub struct FlushFailed {
    /// Transitions in the batch.
    pub transitions: usize,
    /// Liveness rows in the batch.
    pub updates: usize,
    #[source]
    /// Why the store refused it.
    pub source: RepositoryError,
}

/// The ports a [`Federation`] drives.
#[derive(Clone)]
pub struct Ports {
    /// The catalog and its history.
    pub repo: Arc<dyn ProjectRepository>,
    /// The ordered change log replicas follow.
    pub log: Arc<dyn ChangeLog>,
    /// The sweeper lease.
    pub lease: Arc<dyn Lease>,
    /// Where transitions are announced.
    pub events: Arc<dyn StatusEvents>,
    /// How heartbeats taken over HTTP reach the other replicas.
    pub relay: Arc<dyn HeartbeatRelay>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

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

/// How many changes one read of the log brings.
const LOG_BATCH: u32 = 1000;

#[derive(Debug)]
struct Leadership {
    role: Role,
    /// Set on promotion: the first flush writes whatever differs between what this
    /// replica's presence table says and what the log recorded (the previous leader's
    /// last moments), instead of the table's own queue.
    reconcile: bool,
    /// The outbox cursor: the last revision whose event was published.
    published_through: u64,
    /// When the store last confirmed the lease (taken or renewed).
    confirmed_at: Option<DateTime<Utc>>,
}

/// The federation's use cases over the ports.
pub struct Federation {
    repo: Arc<dyn ProjectRepository>,
    log: Arc<dyn ChangeLog>,
    lease: Arc<dyn Lease>,
    events: Arc<dyn StatusEvents>,
    relay: Arc<dyn HeartbeatRelay>,
    clock: Arc<dyn Clock>,
    replica: ReplicaOptions,
    /// The presence table's policy, copied so decoding needs no lock.
    policy: StatusPolicy,
    presence: Mutex<Presence>,
    registry: RwLock<Registry>,
    leadership: Mutex<Leadership>,
    heartbeats: HeartbeatCounters,
    clock_skew: crate::stats::ClockSkew,
    /// Projects whose sender's clock was found off, and when that was last logged.
    skew_logged: Mutex<SkewLog>,
    transitions: TransitionCounters,
    on_change: Mutex<Vec<ChangeListener>>,
    /// When the log was last read to its end.
    followed_at: Mutex<Option<DateTime<Utc>>>,
    /// Projects this replica removed by expiry.
    expired: std::sync::atomic::AtomicU64,
}

/// A sender's clock further off than this (seconds) is logged, once per project.
const SKEW_LOGGED_OVER: f64 = 5.0;
/// At most one skew warning this often; the projects found off meanwhile are counted in
/// the next one (a replica that lags behind its queue would otherwise log every project).
const SKEW_LOG_EVERY: TimeDelta = TimeDelta::seconds(60);
/// A project's `clock_skew_seconds` is updated when the skew moves by this much.
const SKEW_FIELD_STEP: f64 = 1.0;
/// The most rows (transitions, or updates) one store transaction of a tick writes: a
/// backlog (after an outage, or the first beat of a large fleet) goes in parts, so no
/// transaction holds the change log's lock for long.
const FLUSH_PART: usize = 2_000;
/// The most parts one tick writes; a larger backlog waits for the next ticks, so a tick
/// (and the lease renewal of the round it is in) never takes long.
const FLUSH_PARTS_PER_TICK: usize = 3;
/// The most status events one tick publishes; the rest follow in the next ticks.
const PUBLISH_PER_TICK: usize = 10_000;

/// The projects whose sender's clock was found off (each counted once), and when a
/// warning last said so.
#[derive(Debug, Default)]
struct SkewLog {
    projects: std::collections::HashSet<Slug>,
    last: Option<DateTime<Utc>>,
    unlogged: usize,
}

impl SkewLog {
    /// Notes that `slug`'s clock is off; when a warning is due (the project is new here
    /// and none was logged within [`SKEW_LOG_EVERY`]), how many projects it speaks for.
    fn note(&mut self, slug: &Slug, now: DateTime<Utc>) -> Option<usize> {
        if !self.projects.insert(slug.clone()) {
            return None;
        }
        self.unlogged += 1;
        if self.last.is_some_and(|last| now - last < SKEW_LOG_EVERY) {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// Called with every batch of changes applied to the registry, in revision order.
pub type ChangeListener = Box<dyn Fn(&[Change], u64) + Send + Sync>;

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").finish_non_exhaustive()
    }
}

/// The liveness the store holds for a project. A project the presence table does not
/// know yet (registered through another replica, or before the table was loaded) is
/// adopted with it, so registering again never resets status or last heartbeat; a
/// known one keeps the table's (newer) liveness. A new project comes back `offline`
/// with no heartbeat, as registering gives.
fn stored_liveness(p: &Project) -> PresenceRecord {
    PresenceRecord {
        slug: p.slug.clone(),
        status: p.status,
        status_reason: p.status_reason.clone(),
        version: p.version.clone(),
        last_heartbeat_at: p.last_heartbeat_at,
    }
}

/// Puts a stored project into the presence table: adopted when new (see
/// [`stored_liveness`]), its registered heartbeat interval taken either way.
fn admit(presence: &mut Presence, p: &Project) {
    presence.adopt(stored_liveness(p));
    presence.set_interval(&p.slug, p.heartbeat_interval);
    presence.set_maintenance(&p.slug, p.maintenance.as_ref().map(|m| m.until));
    presence.set_registered_at(&p.slug, p.created_at);
}

fn path_slug(raw: &str) -> Result<Slug, ServiceError> {
    // A slug that cannot be valid names no project: that is a 404, not a 422.
    Slug::parse(raw).map_err(|_| ServiceError::NotFound(raw.chars().take(64).collect()))
}

/// The one place a decoded heartbeat reaches the presence table.
fn apply_heartbeat(
    presence: &mut Presence,
    hb: &heartbeat::Heartbeat,
    now: DateTime<Utc>,
) -> Result<bool, HeartbeatRejected> {
    match presence.heartbeat(hb, now) {
        HeartbeatOutcome::Recorded { changed } => Ok(changed),
        HeartbeatOutcome::UnknownProject => {
            Err(HeartbeatRejected::UnknownProject(hb.slug.to_string()))
        }
    }
}

/// The reason recorded for a status this replica's table holds but the log does not.
fn reconciled_reason(record: &PresenceRecord) -> String {
    match (&record.status_reason, record.status) {
        (Some(r), _) => r.clone(),
        (None, Status::Online) => reason::HEARTBEAT.to_owned(),
        (None, Status::Degraded) => reason::HEARTBEAT_LATE.to_owned(),
        (None, Status::Offline) => reason::HEARTBEAT_TIMEOUT.to_owned(),
    }
}

impl Federation {
    /// The use cases over the ports, with the presence table and this replica's place
    /// among the others.
    pub fn new(ports: Ports, presence: Presence, replica: ReplicaOptions) -> Self {
        Self {
            repo: ports.repo,
            log: ports.log,
            lease: ports.lease,
            events: ports.events,
            relay: ports.relay,
            clock: ports.clock,
            replica,
            policy: *presence.policy(),
            presence: Mutex::new(presence),
            registry: RwLock::new(Registry::new()),
            leadership: Mutex::new(Leadership {
                role: Role::Follower,
                reconcile: false,
                published_through: 0,
                confirmed_at: None,
            }),
            heartbeats: HeartbeatCounters::default(),
            clock_skew: crate::stats::ClockSkew::default(),
            skew_logged: Mutex::new(SkewLog::default()),
            transitions: TransitionCounters::default(),
            on_change: Mutex::new(Vec::new()),
            followed_at: Mutex::new(None),
            expired: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        // The table holds no invariant a panicking holder could half-break beyond one
        // entry, so keep serving rather than poisoning every later heartbeat.
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    fn leadership(&self) -> MutexGuard<'_, Leadership> {
        self.leadership.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `listener` with every batch of changes this replica applies, after the
    /// registry holds them (the change stream, blocking queries).
    pub fn on_change(&self, listener: ChangeListener) {
        self.on_change
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    /// The current time, by the clock the use cases run on.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Loads the registry and the presence table from the store (at start).
    pub async fn load(&self) -> Result<usize, RepositoryError> {
        let snapshot = self.log.snapshot().await?;
        let n = snapshot.projects.len();
        {
            let mut presence = self.presence();
            presence.load(Vec::new());
            for p in &snapshot.projects {
                admit(&mut presence, p);
            }
        }
        self.registry_mut().load(snapshot);
        *self.followed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.clock.now());
        Ok(n)
    }

    /// The change-log revision the registry has applied.
    pub fn revision(&self) -> u64 {
        self.registry().revision()
    }

    /// This replica's part in the sweep.
    pub fn role(&self) -> Role {
        self.leadership().role
    }

    /// Whether this replica leads with a lease the store confirmed within its TTL. A
    /// leader cut off from the store keeps its role (the store fences its writes if
    /// another took over) but does not count as leading here: `/ready` and the
    /// `federation_replica_leader` gauge then say `leader_unconfirmed`.
    pub fn leads(&self) -> bool {
        let l = self.leadership();
        let ttl = TimeDelta::from_std(self.replica.lease_ttl).unwrap_or(TimeDelta::MAX);
        matches!(l.role, Role::Leader(_))
            && l.confirmed_at
                .is_some_and(|at| self.clock.now() - at <= ttl)
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
        let at = *self.followed_at.lock().unwrap_or_else(|p| p.into_inner());
        at.map(|t| (self.clock.now() - t).max(TimeDelta::zero()))
    }

    /// Applies every change after the registry's revision, in order (woken by the
    /// store's notifications, and after this replica's own writes). When the log was
    /// trimmed past that revision, reloads the whole catalog. Returns how many changes
    /// were applied.
    pub async fn follow(&self) -> Result<usize, RepositoryError> {
        let mut applied = 0;
        loop {
            let from = self.revision();
            match self.log.changes_since(from, LOG_BATCH).await? {
                ChangesSince::Trimmed => {
                    let snapshot = self.log.snapshot().await?;
                    tracing::warn!(
                        from,
                        to = snapshot.revision,
                        "the change log was trimmed past this replica's revision: registry reloaded"
                    );
                    self.restore(snapshot);
                }
                ChangesSince::Changes(changes) => {
                    let read = changes.len();
                    let done = self.registry_mut().apply(changes);
                    applied += done.len();
                    self.track_membership(&done);
                    if !done.is_empty() {
                        self.announce(&done);
                    }
                    if read < LOG_BATCH as usize {
                        *self.followed_at.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(self.clock.now());
                        return Ok(applied);
                    }
                }
            }
        }
    }

    /// [`Self::follow`] after a write of this replica's, so it reads its own write: a
    /// failure only delays that (the follower task catches up), so it is logged.
    async fn catch_up(&self) {
        if let Err(e) = self.follow().await {
            tracing::warn!(error = %e, "could not read the change log after a write; the follower will catch up");
        }
    }

    fn announce(&self, changes: &[Change]) {
        let revision = self.revision();
        let listeners = self.on_change.lock().unwrap_or_else(|p| p.into_inner());
        for listener in listeners.iter() {
            listener(changes, revision);
        }
    }

    /// Projects registered or deleted through any replica enter or leave the presence
    /// table as their change is applied, so their heartbeats are taken at once.
    fn track_membership(&self, changes: &[Change]) {
        let mut presence = self.presence();
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
            let mut presence = self.presence();
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
        self.registry_mut().load(snapshot);
        self.announce(&[]);
    }

    /// Takes or renews the sweeper lease (every tick). On promotion, first applies
    /// everything the previous leader wrote, then leads. A replica that cannot reach
    /// the store keeps its role: the store fences its writes if another took over.
    pub async fn campaign(&self) -> Result<Role, RepositoryError> {
        let acquired = self
            .lease
            .acquire(&self.replica.holder, self.replica.lease_ttl)
            .await?;
        let current = self.role();
        let now = self.clock.now();
        match acquired {
            Some(term) if current == Role::Leader(term) => {
                self.leadership().confirmed_at = Some(now);
            }
            Some(term) => {
                self.follow().await?;
                let published_through = self.log.published_through().await?;
                *self.leadership() = Leadership {
                    role: Role::Leader(term),
                    reconcile: true,
                    published_through,
                    confirmed_at: Some(now),
                };
                tracing::info!(%term, holder = %self.replica.holder, "this replica now leads the sweep");
            }
            None => {
                if current != Role::Follower {
                    self.step_down("another replica holds the lease");
                }
            }
        }
        Ok(self.role())
    }

    fn step_down(&self, why: &str) {
        let mut leadership = self.leadership();
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
        if let Err(e) = self.lease.release(&self.replica.holder).await {
            tracing::warn!(error = %e, "could not release the sweeper lease; it expires by itself");
        }
    }

    /// Trims the change log (the leader, now and then).
    pub async fn trim_log(&self) -> Result<u64, RepositoryError> {
        if self.role() == Role::Follower {
            return Ok(0);
        }
        let before = self.clock.now() - self.replica.log_retention;
        self.log.trim(before, self.replica.log_max_rows).await
    }

    /// Applies the history's retention (the leader, now and then): transitions older
    /// than `history_retention`, and each project's beyond its newest
    /// `history_max_per_project`, are deleted.
    pub async fn trim_history(&self) -> Result<u64, RepositoryError> {
        if self.role() == Role::Follower {
            return Ok(0);
        }
        let before = self.clock.now() - self.replica.history_retention;
        self.repo
            .trim_history(before, self.replica.history_max_per_project)
            .await
    }

    /// Registers or updates a project. `created` tells which.
    pub async fn register(&self, input: &RegistrationInput) -> Result<Upserted, ServiceError> {
        let registration = input.validate()?;
        let upserted = self.repo.upsert(&registration).await?;
        {
            let mut presence = self.presence();
            admit(&mut presence, &upserted.project);
            presence.register(&registration.slug);
        }
        self.catch_up().await;
        Ok(upserted)
    }

    /// Registers every entry in one transaction (bulk registration): all or none.
    pub async fn register_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, ServiceError> {
        Ok(self.apply_catalog(registrations, false).await?.upserted)
    }

    /// What applying `registrations` (with `prune`) would change, from the registry.
    pub fn plan_catalog(&self, registrations: &[Registration], prune: bool) -> CatalogPlan {
        let registry = self.registry();
        let all = registry.list(&ListFilter::default());
        CatalogPlan::new(&all.items, registrations, prune)
    }

    /// Applies a catalog in one transaction, all or none: registers every entry and,
    /// with `prune`, removes the projects the file registered and no longer lists.
    pub async fn apply_catalog(
        &self,
        registrations: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, ServiceError> {
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
        let applied = self.repo.apply_catalog(registrations, prune).await?;
        {
            let mut presence = self.presence();
            for u in &applied.upserted {
                admit(&mut presence, &u.project);
            }
            for r in registrations {
                presence.register(&r.slug);
            }
            for slug in &applied.removed {
                presence.remove(slug);
            }
        }
        self.catch_up().await;
        Ok(applied)
    }

    /// A project as the registry holds it (memory: no store round trip), with the
    /// revision it reflects.
    pub fn get(&self, slug: &str) -> Result<(Project, u64), ServiceError> {
        let slug = path_slug(slug)?;
        let registry = self.registry();
        registry
            .get(&slug)
            .map(|p| (p.clone(), registry.revision()))
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    /// A page of the registry (memory).
    pub fn list(&self, filter: &ListFilter) -> ProjectPage {
        self.registry().list(filter)
    }

    /// Applies a partial update to the project's descriptive fields.
    pub async fn update(&self, slug: &str, patch: &ProjectPatch) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        let project = self
            .repo
            .update(&slug, patch)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))?;
        self.presence()
            .set_interval(&project.slug, project.heartbeat_interval);
        self.catch_up().await;
        Ok(project)
    }

    /// Starts (or replaces) a maintenance window for `by` (the caller's key name, or
    /// `anonymous`): until it ends no degraded/offline transition is recorded for the
    /// project. Recorded in its history and the change log.
    pub async fn start_maintenance(
        &self,
        slug: &str,
        input: &MaintenanceInput,
        by: &str,
    ) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        let maintenance = input.validate(self.clock.now(), by)?;
        let project = self
            .repo
            .set_maintenance(&slug, &MaintenanceChange::Start(maintenance))
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))?;
        self.presence()
            .set_maintenance(&slug, project.maintenance.as_ref().map(|m| m.until));
        self.catch_up().await;
        Ok(project)
    }

    /// Ends a project's maintenance window now (the normal rules apply at once). A
    /// project not in maintenance is returned as it is.
    pub async fn end_maintenance(&self, slug: &str, by: &str) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        let change = MaintenanceChange::End {
            at: self.clock.now(),
            reason: format!("{}: ended early by {by}", reason::MAINTENANCE_ENDED),
            due: false,
        };
        let project = self
            .repo
            .set_maintenance(&slug, &change)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))?;
        self.presence().set_maintenance(&slug, None);
        self.catch_up().await;
        Ok(project)
    }

    /// The leader records the end of every window whose time has come (at its own end
    /// time). The presence table already applies the normal rules from then; a failed
    /// write is tried again next tick.
    async fn end_due_maintenance(&self, now: DateTime<Utc>) {
        let due = self.presence().maintenance_due(now);
        if due.is_empty() {
            return;
        }
        for (slug, until) in due {
            let change = MaintenanceChange::End {
                at: until,
                reason: format!("{}: its window closed", reason::MAINTENANCE_ENDED),
                due: true,
            };
            match self.repo.set_maintenance(&slug, &change).await {
                Ok(_) => self.presence().set_maintenance(&slug, None),
                Err(e) => {
                    tracing::warn!(slug = %slug, error = %e, "could not record the end of a maintenance window; trying again next tick");
                }
            }
        }
        self.catch_up().await;
    }

    /// The leader removes every project offline for longer than `deregister_after`
    /// (recorded as removed with reason `expired`; its history stays readable). Returns
    /// how many were removed; a failed removal is tried again next tick.
    async fn expire(&self, now: DateTime<Utc>) -> usize {
        let expired = self.presence().expired(now);
        let mut removed = 0;
        for slug in expired {
            match self.repo.delete(&slug, reason::EXPIRED).await {
                Ok(gone) => {
                    self.presence().remove(&slug);
                    if gone {
                        removed += 1;
                        tracing::info!(slug = %slug, "project removed: offline for longer than deregister_after");
                    }
                }
                Err(e) => {
                    tracing::warn!(slug = %slug, error = %e, "could not remove an expired project; trying again next tick");
                }
            }
        }
        if removed > 0 {
            self.expired
                .fetch_add(removed as u64, std::sync::atomic::Ordering::Relaxed);
            self.catch_up().await;
        }
        removed
    }

    /// Projects removed by expiry since start (this replica as leader).
    pub fn expired_total(&self) -> u64 {
        self.expired.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many projects are in a maintenance window now.
    pub fn in_maintenance(&self) -> usize {
        self.presence().in_maintenance(self.clock.now())
    }

    /// Removes the project and its history.
    pub async fn deregister(&self, slug: &str) -> Result<(), ServiceError> {
        let slug = path_slug(slug)?;
        if !self.repo.delete(&slug, reason::DELETED).await? {
            return Err(ServiceError::NotFound(slug.to_string()));
        }
        self.presence().remove(&slug);
        self.catch_up().await;
        Ok(())
    }

    /// The project's latest status changes, newest first, at most `limit`.
    pub async fn history(&self, slug: &str, limit: u32) -> Result<Vec<Transition>, ServiceError> {
        let slug = path_slug(slug)?;
        self.repo
            .history(&slug, limit)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    /// Makes `key` the project's heartbeat key (replacing any other), or with `None`
    /// removes it. A catalog change (`updated` in the log, so every replica follows);
    /// status and liveness stay as they are.
    pub async fn set_heartbeat_key(
        &self,
        slug: &str,
        key: Option<HeartbeatKeyDigest>,
    ) -> Result<Project, ServiceError> {
        let patch = ProjectPatch {
            heartbeat_key: Some(key),
            ..ProjectPatch::default()
        };
        self.update(slug, &patch).await
    }

    /// The heartbeat-key rule for a heartbeat taken over HTTP for `subject_slug`, from
    /// this replica's registry. `Ok(false)`: the project has no heartbeat key (or is not
    /// known), so the caller's usual rule applies; `Ok(true)`: it has one and the
    /// credential is a write key or that key. A refusal is counted as the heartbeat's
    /// outcome (`key_required`, `key_invalid`).
    pub fn check_heartbeat_key(
        &self,
        subject_slug: &str,
        credential: &HeartbeatCredential,
    ) -> Result<bool, HeartbeatRejected> {
        let Ok(slug) = Slug::parse(subject_slug) else {
            return Ok(false);
        };
        let Some(digest) = self.registry().get(&slug).and_then(|p| p.heartbeat_key) else {
            return Ok(false);
        };
        let refused = match credential {
            HeartbeatCredential::WriteKey => None,
            HeartbeatCredential::Key(presented) if digest.matches(presented) => None,
            HeartbeatCredential::Key(_) => Some(HeartbeatRejected::KeyInvalid(slug.to_string())),
            HeartbeatCredential::None => Some(HeartbeatRejected::KeyRequired(slug.to_string())),
        };
        match refused {
            None => Ok(true),
            Some(e) => {
                self.heartbeats.add(e.outcome());
                Err(e)
            }
        }
    }

    /// Decodes and records a heartbeat that arrived for `subject_slug`. Memory only: the
    /// next tick persists it. Returns whether the project's status changed.
    pub fn record_heartbeat(
        &self,
        subject_slug: &str,
        bytes: &[u8],
    ) -> Result<bool, HeartbeatRejected> {
        let now = self.clock.now();
        let result = heartbeat::decode(subject_slug, bytes, now, &self.policy)
            .map_err(HeartbeatRejected::from)
            .and_then(|hb| {
                self.note_skew(&hb, now);
                apply_heartbeat(&mut self.presence(), &hb, now)
            });
        self.count_heartbeat(&result);
        result
    }

    /// A heartbeat taken over HTTP: recorded here, then relayed to the other replicas
    /// (a relay failure is logged: this replica has it, and while the bus is down no
    /// replica expires anyone for silence).
    pub async fn accept_heartbeat(
        &self,
        subject_slug: &str,
        bytes: &[u8],
    ) -> Result<bool, HeartbeatRejected> {
        let changed = self.record_heartbeat(subject_slug, bytes)?;
        if let Ok(slug) = Slug::parse(subject_slug) {
            if let Err(e) = self.relay.relay(&slug, bytes).await {
                tracing::debug!(%slug, error = %e, "heartbeat not relayed to the other replicas");
            }
        }
        Ok(changed)
    }

    /// Records a batch of heartbeats `(subject_slug, bytes)` as [`Self::record_heartbeat`]
    /// does each one, but decodes them all before taking the presence lock once for the
    /// whole batch (the NATS ingest path: thousands per second). The batch is judged by
    /// one reading of the clock. Returns the rejected ones with their subject slug:
    /// those that did not decode first, then those for unknown projects.
    pub fn record_heartbeats<'a, I>(&self, batch: I) -> Vec<(&'a str, HeartbeatRejected)>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let now = self.clock.now();
        let mut rejected = Vec::new();
        let mut decoded = Vec::new();
        for (subject, bytes) in batch {
            match heartbeat::decode(subject, bytes, now, &self.policy) {
                Ok(hb) => {
                    self.note_skew(&hb, now);
                    decoded.push((subject, hb));
                }
                Err(e) => {
                    let e = HeartbeatRejected::from(e);
                    self.heartbeats.add(e.outcome());
                    rejected.push((subject, e));
                }
            }
        }
        let mut presence = self.presence();
        for (subject, hb) in &decoded {
            let result = apply_heartbeat(&mut presence, hb, now);
            self.count_heartbeat(&result);
            if let Err(e) = result {
                rejected.push((*subject, e));
            }
        }
        rejected
    }

    /// Records how far the sender's clock is from ours (liveness does not depend on it)
    /// and logs it once per project when it is off by more than [`SKEW_LOGGED_OVER`].
    fn note_skew(&self, hb: &heartbeat::Heartbeat, now: DateTime<Utc>) {
        let Some(sent_at) = hb.sent_at else {
            return;
        };
        #[allow(clippy::cast_precision_loss, reason = "a metric")]
        let skew = (now - sent_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
        self.clock_skew.observe(skew);
        // The project's field moves only when the skew does (by a second or more), so
        // the registry's write lock is not taken for every heartbeat.
        let moved = self.registry().get(&hb.slug).is_some_and(|p| {
            p.clock_skew_seconds
                .is_none_or(|old| (old - skew).abs() >= SKEW_FIELD_STEP)
        });
        if moved {
            self.registry_mut()
                .note_skew(&hb.slug, (skew * 1000.0).round() / 1000.0);
        }
        if skew.abs() > SKEW_LOGGED_OVER {
            let mut log = self.skew_logged.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(since_last) = log.note(&hb.slug, now) {
                tracing::warn!(
                    slug = %hb.slug,
                    skew_seconds = skew,
                    projects_off_since_last_warning = since_last,
                    projects_off = log.projects.len(),
                    "the sender's clock is off (positive: behind ours, or this replica is \
                     behind its queue); status is measured on our clock, so this has no \
                     effect unless it exceeds an hour behind or 5 minutes ahead"
                );
            }
        }
    }

    /// How far senders' clocks are from ours.
    pub fn clock_skew(&self) -> &crate::stats::ClockSkew {
        &self.clock_skew
    }

    fn count_heartbeat(&self, result: &Result<bool, HeartbeatRejected>) {
        self.heartbeats.add(match result {
            Ok(_) => "ok",
            Err(rejected) => rejected.outcome(),
        });
    }

    /// Whether a heartbeat on this subject token can be for a registered project: a
    /// cheap lookup (a read lock on the registry, no allocation for a lowercase token)
    /// an adapter makes before a message takes a place in its ingest queue, so a flood
    /// for unknown slugs cannot crowd out the members' heartbeats.
    pub fn is_member(&self, token: &str) -> bool {
        let registry = self.registry();
        registry.contains(token)
            || (token.bytes().any(|b| b.is_ascii_uppercase())
                && registry.contains(&token.to_ascii_lowercase()))
    }

    /// Counts a heartbeat an adapter refused for an unknown slug before it reached the
    /// use cases (see [`Self::is_member`]).
    pub fn count_unknown_heartbeat(&self) {
        self.heartbeats.add("unknown_project");
    }

    /// Counts a heartbeat an adapter had to drop before it reached the use cases
    /// (its queue was full).
    pub fn count_dropped_heartbeat(&self) {
        self.heartbeats.add("dropped");
    }

    /// Heartbeats by outcome since start.
    pub fn heartbeat_counters(&self) -> &HeartbeatCounters {
        &self.heartbeats
    }

    /// Transitions stored, by (from, to), since start.
    pub fn transition_counters(&self) -> &TransitionCounters {
        &self.transitions
    }

    /// How long the project offline the longest has been offline (counted from its
    /// last heartbeat plus `offline_after`); `None` when no project that ever sent a
    /// heartbeat is offline.
    pub fn longest_offline(&self) -> Option<chrono::TimeDelta> {
        let now = self.clock.now();
        self.presence().longest_offline(now)
    }

    /// Applies the clock to the presence table. The leader then writes the batch in one
    /// fenced store call and publishes the transitions from the log; a follower writes
    /// nothing (the leader records, and the log brings it here) and only keeps the heard
    /// heartbeat times in its registry. A batch the store refuses is kept for the next
    /// tick, so no status change is lost while the store is down; a batch refused by
    /// the fence is dropped, as this replica no longer leads.
    pub async fn tick(&self) -> Result<TickReport, FlushFailed> {
        let now = self.clock.now();
        if matches!(self.role(), Role::Leader(_)) {
            // Before the sweep, so the history reads "window closed", then what follows.
            self.end_due_maintenance(now).await;
        }
        let mut flush = self.presence().tick(now);
        self.registry_mut().apply_liveness(&flush.updates);
        let (role, reconcile) = {
            let l = self.leadership();
            (l.role, l.reconcile)
        };
        let Role::Leader(term) = role else {
            return Ok(TickReport {
                follower: true,
                ..TickReport::default()
            });
        };
        if reconcile {
            let (transitions, updates) =
                self.reconcile(now, std::mem::take(&mut flush.transitions));
            flush.transitions = transitions;
            for u in updates {
                if !flush.updates.iter().any(|have| have.slug == u.slug) {
                    flush.updates.push(u);
                }
            }
        }
        if let Some(later) = flush.cut(FLUSH_PART * FLUSH_PARTS_PER_TICK) {
            // Not a failure: the rest is the next ticks', in order.
            self.presence().requeue(later);
        }
        let mut report = TickReport {
            transitions: flush.transitions.len(),
            updates: flush.updates.len(),
            unpublished: 0,
            mass_expiry: flush.mass_expiry,
            follower: false,
            expired: 0,
        };
        let wrote_transitions = !flush.transitions.is_empty();
        let mut parts = flush.split(FLUSH_PART).into_iter();
        while let Some(part) = parts.next() {
            if part.is_empty() {
                continue;
            }
            match self
                .repo
                .write_presence(&part.updates, &part.transitions, term)
                .await
            {
                Ok(()) => {
                    for t in &part.transitions {
                        self.transitions.add(t.from, t.to);
                    }
                    // What a reconciliation found is written or queued below: doing it
                    // again before the log brings the written parts here would
                    // record them twice.
                    if reconcile {
                        self.leadership().reconcile = false;
                    }
                }
                Err(RepositoryError::Fenced(why)) => {
                    self.step_down(&why);
                    return Ok(TickReport {
                        follower: true,
                        ..TickReport::default()
                    });
                }
                Err(source) => {
                    // The parts written stay written; this one and the rest wait.
                    let rest = Flush::join(std::iter::once(part).chain(parts));
                    let err = FlushFailed {
                        transitions: rest.transitions.len(),
                        updates: rest.updates.len(),
                        source,
                    };
                    self.presence().requeue(Flush {
                        mass_expiry: None,
                        ..rest
                    });
                    return Err(err);
                }
            }
        }
        if reconcile {
            self.leadership().reconcile = false;
        }
        if wrote_transitions {
            self.catch_up().await;
        }
        report.unpublished = self.publish_pending(term).await;
        report.expired = self.expire(now).await;
        Ok(report)
    }

    /// On promotion: every project whose status in this replica's table differs from
    /// the one recorded gets the transitions the previous leader did not write: the
    /// table's own queued ones when they lead from the recorded status to the current
    /// one (they carry their real times), else one transition now.
    /// A new leader whose partition guard holds (it could not hear the bus, so its
    /// table is no evidence of what it did not see happen) invents nothing: where its
    /// table differs from the log without a queued chain of its own, it takes the
    /// recorded status, and its next sweeps and heartbeats go on from there.
    fn reconcile(
        &self,
        now: DateTime<Utc>,
        queued: Vec<Transition>,
    ) -> (Vec<Transition>, Vec<PresenceRecord>) {
        let registry = self.registry();
        let mut presence = self.presence();
        let heard_the_bus = !presence.guard(now).is_active();
        let mut chains: std::collections::HashMap<Slug, Vec<Transition>> =
            std::collections::HashMap::new();
        for t in &queued {
            chains.entry(t.slug.clone()).or_default().push(t.clone());
        }
        let order = queued;
        let mut kept = std::collections::HashSet::new();
        let mut synthesized = Vec::new();
        let mut updates = Vec::new();
        for (slug, recorded) in registry.statuses() {
            let Some(held) = presence.get(slug) else {
                continue;
            };
            let chain = chains.get(slug).map(Vec::as_slice).unwrap_or_default();
            let leads_here = chain.first().is_some_and(|t| t.from == recorded)
                && chain.last().is_some_and(|t| t.to == held.status);
            if leads_here {
                kept.insert(slug.clone());
                updates.push(held);
            } else if held.status != recorded && !heard_the_bus {
                // No evidence either way: the log's word stands.
                let reason = registry.get(slug).and_then(|p| p.status_reason.clone());
                presence.assume(slug, recorded, reason);
            } else if held.status != recorded {
                synthesized.push(Transition {
                    slug: slug.clone(),
                    from: recorded,
                    to: held.status,
                    reason: Some(reconciled_reason(&held)),
                    at: now,
                    last_heartbeat_at: held.last_heartbeat_at,
                });
                updates.push(held);
            }
        }
        // The kept ones in the order they happened, then the rest.
        let mut transitions: Vec<Transition> = order
            .into_iter()
            .filter(|t| kept.contains(&t.slug))
            .collect();
        transitions.extend(synthesized);
        if !transitions.is_empty() {
            tracing::info!(
                transitions = transitions.len(),
                "recording the status changes the previous leader had not written"
            );
        }
        (transitions, updates)
    }

    /// The outbox: publishes, in revision order, the transitions in the log after the
    /// cursor (at most [`PUBLISH_PER_TICK`]), then moves the cursor. Stops at the first
    /// the bus refuses (retried next tick). Returns how many are still to be published
    /// (past the cap: how many changes are left to look at).
    async fn publish_pending(&self, term: Term) -> usize {
        let head = self.revision();
        let start = self.leadership().published_through;
        let mut through = start;
        let mut pending = 0;
        let mut published = 0;
        while through < head && pending == 0 {
            if published >= PUBLISH_PER_TICK {
                // The rest in the next ticks (counted as still to publish).
                pending = usize::try_from(head - through).unwrap_or(usize::MAX);
                break;
            }
            let changes = match self.log.changes_since(through, LOG_BATCH).await {
                Ok(ChangesSince::Changes(changes)) if !changes.is_empty() => changes,
                Ok(ChangesSince::Changes(_)) => break,
                Ok(ChangesSince::Trimmed) => {
                    tracing::warn!(
                        through,
                        "status events trimmed from the log before they were published"
                    );
                    through = head;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the outbox");
                    break;
                }
            };
            for (i, change) in changes.iter().enumerate() {
                if let ChangeKind::Transition(t) = &change.kind {
                    if let Err(e) = self.events.publish(t, change.revision).await {
                        pending = changes
                            .iter()
                            .skip(i)
                            .filter(|c| matches!(c.kind, ChangeKind::Transition(_)))
                            .count();
                        tracing::warn!(slug = %t.slug, revision = change.revision, error = %e, pending, "status event not published; retried next tick");
                        break;
                    }
                    published += 1;
                }
                through = change.revision;
            }
        }
        if through > start {
            match self.log.mark_published(through, term).await {
                Ok(()) => self.leadership().published_through = through,
                Err(RepositoryError::Fenced(why)) => self.step_down(&why),
                Err(e) => {
                    // Published but not marked: a later tick (or leader) publishes them
                    // again, with the same revision as the id.
                    tracing::warn!(error = %e, "outbox cursor not stored");
                    self.leadership().published_through = through;
                }
            }
        }
        pending
    }

    /// Applies the clock without writing anything: for ticks while the store refuses
    /// batches, so transitions keep their real times until a flush gets through.
    pub fn advance(&self) -> Option<MassExpiry> {
        let now = self.clock.now();
        self.presence().advance(now)
    }

    /// The link to the bus is up (ends a `LinkDown` guard).
    pub fn bus_connected(&self) {
        let now = self.clock.now();
        self.presence().bus_connected(now);
    }

    /// The link to the bus is down: silence stops counting.
    pub fn bus_disconnected(&self) {
        let now = self.clock.now();
        self.presence().bus_disconnected(now);
    }

    /// A canary heartbeat was published.
    pub fn canary_sent(&self) {
        let now = self.clock.now();
        self.presence().canary_sent(now);
    }

    /// A canary heartbeat came back through the subscription.
    pub fn canary_received(&self) {
        let now = self.clock.now();
        self.presence().canary_received(now);
    }

    /// The partition guard's state.
    pub fn guard(&self) -> GuardState {
        let now = self.clock.now();
        self.presence().guard(now)
    }

    /// The last sweep that expired a large share of the live projects at once.
    pub fn last_mass_expiry(&self) -> Option<MassExpiry> {
        self.presence().last_mass_expiry()
    }

    /// Projects by recorded status (the registry: the same on every replica).
    pub fn counts(&self) -> StatusCounts {
        self.registry().counts()
    }

    /// Counts by status and tag, the offline project silent the longest, the revision.
    pub fn summary(&self) -> Summary {
        self.registry().summary()
    }

    /// Changes after `revision` from the log, oldest first, at most `limit` (a change
    /// stream resuming where its client left off), or [`ChangesSince::Trimmed`].
    pub async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.log.changes_since(revision, limit).await
    }

    /// Whether the store answers.
    pub async fn ping_store(&self) -> Result<(), RepositoryError> {
        self.repo.ping().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::TimeDelta;

    use super::*;
    use crate::error::EventError;
    use crate::memory::MemoryStore;
    use crate::model::{Origin, ProjectName, Status};
    use crate::policy::StatusPolicy;
    use crate::ports::{ManualClock, MockStatusEvents, NoRelay};
    use crate::presence::StatusCounts;
    use crate::testing::{secs, slug, t0};

    fn input(s: &str) -> RegistrationInput {
        RegistrationInput {
            slug: Some(s.into()),
            name: Some(format!("Project {s}")),
            hub_url: Some(format!("http://{}.example:8000", s.to_lowercase())),
            mesh_namespace: None,
            tags: Some(vec!["Rust".into()]),
            metadata: None,
            heartbeat_interval: None,
        }
    }

    fn registration(s: &str) -> Registration {
        input(s).validate().unwrap()
    }

    /// Status events as the bus received them: `slug:to@revision`.
    type Published = Arc<Mutex<Vec<String>>>;

    /// A bus that records what it is given, refusing while `refuse` holds.
    fn recording_bus(refuse: Arc<std::sync::atomic::AtomicBool>) -> (MockStatusEvents, Published) {
        let published: Published = Arc::default();
        let p = published.clone();
        let mut events = MockStatusEvents::new();
        events.expect_publish().returning(move |t, revision| {
            if refuse.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(EventError("no bus".into()));
            }
            p.lock()
                .unwrap()
                .push(format!("{}:{}@{revision}", t.slug, t.to));
            Ok(())
        });
        (events, published)
    }

    /// One database (a [`MemoryStore`]) with a manual clock, and replicas over it.
    struct Cluster {
        store: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
        refuse_events: Arc<std::sync::atomic::AtomicBool>,
        published: Published,
    }

    impl Cluster {
        async fn new(slugs: &[&str]) -> Self {
            let clock = Arc::new(ManualClock::new(t0()));
            let store = Arc::new(MemoryStore::new(clock.clone()));
            for s in slugs {
                store.upsert(&registration(s)).await.unwrap();
            }
            Self {
                store,
                clock,
                refuse_events: Arc::default(),
                published: Arc::default(),
            }
        }

        /// A replica named `holder`, loaded from the store (not yet in the lease).
        async fn replica(&self, holder: &str, presence: Presence) -> Federation {
            let (events, published) = recording_bus(self.refuse_events.clone());
            let fed = Federation::new(
                Ports {
                    repo: self.store.clone(),
                    log: self.store.clone(),
                    lease: self.store.clone(),
                    events: Arc::new(events),
                    relay: Arc::new(NoRelay),
                    clock: self.clock.clone(),
                },
                presence,
                ReplicaOptions {
                    holder: holder.into(),
                    lease_ttl: Duration::from_secs(5),
                    log_retention: TimeDelta::hours(1),
                    log_max_rows: 1000,
                    history_max_per_project: 10,
                    ..ReplicaOptions::default()
                },
            );
            fed.load().await.unwrap();
            // Every replica of a test shares one record of what was published.
            let shared = self.published.clone();
            let own = published;
            fed.on_change(Box::new(move |_, _| {
                let mut own = own.lock().unwrap();
                shared.lock().unwrap().append(&mut own);
            }));
            fed
        }

        /// The single replica of most tests: it leads.
        async fn leader(&self) -> Federation {
            let fed = self
                .replica("a", Presence::new(StatusPolicy::default()))
                .await;
            assert!(matches!(fed.campaign().await.unwrap(), Role::Leader(_)));
            fed
        }

        /// What the bus has received (flushed from each replica's recorder).
        fn published(&self, fed: &Federation) -> Vec<String> {
            fed.announce(&[]);
            self.published.lock().unwrap().clone()
        }

        fn history(&self, slug: &str) -> Vec<String> {
            self.store
                .transitions_of(slug)
                .iter()
                .map(|t| format!("{}->{}", t.from, t.to))
                .collect()
        }
    }

    fn beat(s: &str) -> Vec<u8> {
        format!(r#"{{"project_slug":"{s}"}}"#).into_bytes()
    }

    /// `p-0` … `p-(n-1)`.
    fn numbered(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("p-{i}")).collect()
    }

    /// A cluster with `slugs` registered and a leader that heard each of them once.
    async fn all_beating(slugs: &[&str]) -> (Cluster, Federation) {
        let cluster = Cluster::new(slugs).await;
        let fed = cluster.leader().await;
        for s in slugs {
            fed.record_heartbeat(s, &beat(s)).unwrap();
        }
        (cluster, fed)
    }

    fn not_found<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
        match r {
            Err(ServiceError::NotFound(s)) => s,
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    fn status_of(fed: &Federation, slug: &str) -> Status {
        fed.get(slug).unwrap().0.status
    }

    // ---- register --------------------------------------------------------------------

    #[tokio::test]
    async fn register_validates_before_touching_the_store() {
        let cluster = Cluster::new(&[]).await;
        let fed = cluster.leader().await;
        let mut bad = input("alpha");
        bad.hub_url = Some("ftp://alpha".into());
        match fed.register(&bad).await {
            Err(ServiceError::Validation(e)) => assert_eq!(e.field, "hub_url"),
            other => panic!("{other:?}"),
        }
        let mut missing = input("alpha");
        missing.name = None;
        match fed.register(&missing).await {
            Err(ServiceError::Validation(e)) => assert_eq!(e.field, "name"),
            other => panic!("{other:?}"),
        }
        assert_eq!(fed.revision(), 0, "nothing reached the log");
        assert!(cluster.store.stored("alpha").is_none());
    }

    #[tokio::test]
    async fn a_registration_is_readable_at_once_and_its_heartbeats_are_taken() {
        let cluster = Cluster::new(&[]).await;
        let fed = cluster.leader().await;
        let err = fed.record_heartbeat("alpha", &beat("alpha")).unwrap_err();
        assert_eq!(err.outcome(), "unknown_project");

        let up = fed.register(&input("Alpha")).await.unwrap();
        assert!(up.created);
        let (project, revision) = fed.get("ALPHA").unwrap();
        assert_eq!(
            (project.slug.as_str(), project.status),
            ("alpha", Status::Offline)
        );
        assert_eq!(revision, 1, "the registration is the log's first change");
        assert!(fed.record_heartbeat("alpha", &beat("alpha")).unwrap());
        // The recorded status follows the leader's next write.
        assert_eq!(status_of(&fed, "alpha"), Status::Offline);
        fed.tick().await.unwrap();
        assert_eq!(status_of(&fed, "alpha"), Status::Online);
        assert_eq!(fed.revision(), 2);
    }

    #[tokio::test]
    async fn a_heartbeat_key_is_enforced_on_every_replica_and_kept_by_registration() {
        let cluster = Cluster::new(&["keyed", "other"]).await;
        let leader = cluster.leader().await;
        let follower = cluster
            .replica("b", Presence::new(StatusPolicy::default()))
            .await;
        let key = HeartbeatKeyDigest::from_bytes([7; 32]);
        let wrong = HeartbeatKeyDigest::from_bytes([8; 32]);
        // No key: the caller's usual rule applies, whatever is presented.
        for c in [
            HeartbeatCredential::None,
            HeartbeatCredential::Key(wrong),
            HeartbeatCredential::WriteKey,
        ] {
            assert!(!leader.check_heartbeat_key("keyed", &c).unwrap());
        }
        leader.record_heartbeat("keyed", &beat("keyed")).unwrap();
        leader.tick().await.unwrap();
        assert_eq!(status_of(&leader, "keyed"), Status::Online);

        let p = leader.set_heartbeat_key("KEYED", Some(key)).await.unwrap();
        assert_eq!(p.heartbeat_key, Some(key));
        assert_eq!(p.status, Status::Online, "setting a key keeps the status");
        assert!(!format!("{p:?}").contains("[7, 7"), "Debug shows no digest");
        let json = serde_json::to_string(&p).unwrap();
        assert!(!json.contains("heartbeat_key"), "{json}");
        follower.follow().await.unwrap();
        for fed in [&leader, &follower] {
            assert!(fed
                .check_heartbeat_key("keyed", &HeartbeatCredential::Key(key))
                .unwrap());
            assert!(fed
                .check_heartbeat_key("Keyed", &HeartbeatCredential::WriteKey)
                .unwrap());
            let e = fed
                .check_heartbeat_key("keyed", &HeartbeatCredential::None)
                .unwrap_err();
            assert_eq!(e.outcome(), "key_required");
            let e = fed
                .check_heartbeat_key("keyed", &HeartbeatCredential::Key(wrong))
                .unwrap_err();
            assert_eq!(e.outcome(), "key_invalid");
            // Another project is not keyed by it.
            assert!(!fed
                .check_heartbeat_key("other", &HeartbeatCredential::Key(key))
                .unwrap());
            assert_eq!(fed.heartbeat_counters().get("key_required"), 1);
            assert_eq!(fed.heartbeat_counters().get("key_invalid"), 1);
        }
        assert_eq!(status_of(&follower, "keyed"), Status::Online);

        // Registering again (an API upsert or the catalog file) keeps the key.
        leader.register(&input("keyed")).await.unwrap();
        leader
            .apply_catalog(&[registration("keyed")], false)
            .await
            .unwrap();
        follower.follow().await.unwrap();
        assert_eq!(follower.get("keyed").unwrap().0.heartbeat_key, Some(key));

        // Removing it opens the project again on every replica.
        let p = follower.set_heartbeat_key("keyed", None).await.unwrap();
        assert_eq!(p.heartbeat_key, None);
        leader.follow().await.unwrap();
        assert!(!leader
            .check_heartbeat_key("keyed", &HeartbeatCredential::None)
            .unwrap());
        assert!(matches!(
            leader.set_heartbeat_key("ghost", Some(key)).await,
            Err(ServiceError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_registered_interval_reaches_every_replica_and_a_patch_removes_it() {
        let cluster = Cluster::new(&[]).await;
        let leader = cluster.leader().await;
        let follower = cluster
            .replica("b", Presence::new(StatusPolicy::default()))
            .await;
        let fast = RegistrationInput {
            heartbeat_interval: Some(5),
            ..input("fast")
        };
        let up = follower.register(&fast).await.unwrap();
        assert_eq!(up.project.heartbeat_interval.map(|i| i.seconds()), Some(5));
        leader.follow().await.unwrap();
        leader.record_heartbeat("fast", &beat("fast")).unwrap();
        leader.tick().await.unwrap();
        cluster.clock.advance(secs(15));
        leader.tick().await.unwrap();
        follower.follow().await.unwrap();
        assert_eq!(status_of(&follower, "fast"), Status::Offline);
        // Registering again without an interval keeps it; a patch with null removes it.
        follower.register(&input("fast")).await.unwrap();
        assert_eq!(
            follower.get("fast").unwrap().0.heartbeat_interval,
            up.project.heartbeat_interval
        );
        let clear = ProjectPatch {
            heartbeat_interval: Some(None),
            ..ProjectPatch::default()
        };
        assert_eq!(
            follower
                .update("fast", &clear)
                .await
                .unwrap()
                .heartbeat_interval,
            None
        );
        leader.follow().await.unwrap();
        leader.record_heartbeat("fast", &beat("fast")).unwrap();
        leader.tick().await.unwrap();
        cluster.clock.advance(secs(15));
        leader.tick().await.unwrap();
        assert_eq!(
            status_of(&leader, "fast"),
            Status::Online,
            "back on 60 s / 90 s"
        );
        let wrong = RegistrationInput {
            heartbeat_interval: Some(0),
            ..input("slow")
        };
        match follower.register(&wrong).await {
            Err(ServiceError::Validation(e)) => assert_eq!(e.field, "heartbeat_interval"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_maintenance_window_across_a_silent_period_records_no_transition() {
        let cluster = Cluster::new(&["kept"]).await;
        let leader = cluster.leader().await;
        let follower = cluster
            .replica("b", Presence::new(StatusPolicy::default()))
            .await;
        leader.record_heartbeat("kept", &beat("kept")).unwrap();
        leader.tick().await.unwrap();
        let window = MaintenanceInput {
            reason: Some("kernel upgrade".into()),
            duration: Some("10m".into()),
            ..MaintenanceInput::default()
        };
        let p = follower
            .start_maintenance("kept", &window, "key:ab12")
            .await
            .unwrap();
        let until = p.maintenance.as_ref().map(|m| m.until).unwrap();
        assert_eq!(until, t0() + secs(600));
        leader.follow().await.unwrap();
        assert_eq!(follower.in_maintenance(), 1);
        // Nine minutes of silence, one tick a second: nothing recorded, still online.
        for _ in 0..540 {
            cluster.clock.advance(secs(1));
            assert_eq!(leader.tick().await.unwrap().transitions, 0);
        }
        follower.follow().await.unwrap();
        assert_eq!(status_of(&follower, "kept"), Status::Online);
        assert_eq!(
            cluster.history("kept"),
            ["offline->online", "online->online"]
        );
        // It ends by itself at its end: recorded at that time, then offline at once.
        cluster.clock.set(until + secs(1));
        assert_eq!(leader.tick().await.unwrap().transitions, 1);
        follower.follow().await.unwrap();
        let (p, _) = follower.get("kept").unwrap();
        assert_eq!((p.status, p.maintenance), (Status::Offline, None));
        let history = cluster.store.transitions_of("kept");
        let reasons: Vec<_> = history.iter().map(|t| t.reason.clone().unwrap()).collect();
        assert_eq!(
            reasons,
            [
                "heartbeat",
                "maintenance_started: kernel upgrade (until 2025-11-18T12:10:00Z, by key:ab12)",
                "maintenance_ended: its window closed",
                "heartbeat_timeout",
            ]
        );
        assert_eq!(history[2].at, until);
        assert_eq!(follower.in_maintenance(), 0);
        // Ending a window that is not open changes nothing; an unknown slug is 404.
        let again = follower.end_maintenance("kept", "anonymous").await.unwrap();
        assert_eq!(again.maintenance, None);
        assert_eq!(cluster.store.transitions_of("kept").len(), 4);
        assert_eq!(
            not_found(follower.end_maintenance("ghost", "a").await),
            "ghost"
        );
    }

    #[tokio::test]
    async fn a_window_ended_early_lets_the_rules_apply_at_once() {
        let cluster = Cluster::new(&["kept"]).await;
        let fed = cluster.leader().await;
        fed.record_heartbeat("kept", &beat("kept")).unwrap();
        fed.tick().await.unwrap();
        let window = MaintenanceInput {
            reason: Some("move".into()),
            until: Some("2025-11-19T12:00:00Z".into()),
            ..MaintenanceInput::default()
        };
        fed.start_maintenance("kept", &window, "anonymous")
            .await
            .unwrap();
        cluster.clock.advance(secs(3600));
        assert_eq!(fed.tick().await.unwrap().transitions, 0);
        let p = fed.end_maintenance("kept", "key:ab12").await.unwrap();
        assert_eq!(p.maintenance, None);
        assert_eq!(fed.tick().await.unwrap().transitions, 1);
        assert_eq!(status_of(&fed, "kept"), Status::Offline);
        let reasons: Vec<_> = cluster
            .store
            .transitions_of("kept")
            .iter()
            .map(|t| t.reason.clone().unwrap())
            .collect();
        assert_eq!(reasons[2], "maintenance_ended: ended early by key:ab12");
        let bad = MaintenanceInput::default();
        match fed.start_maintenance("kept", &bad, "a").await {
            Err(ServiceError::Validation(e)) => assert_eq!(e.field, "reason"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn projects_offline_longer_than_deregister_after_are_removed_with_their_history_kept() {
        let cluster = Cluster::new(&["silent", "never", "kept", "alive"]).await;
        let policy = StatusPolicy::default()
            .with_deregister_after(Duration::from_secs(3600))
            .unwrap();
        let fed = cluster.replica("a", Presence::new(policy)).await;
        assert!(matches!(fed.campaign().await.unwrap(), Role::Leader(_)));
        for s in ["silent", "kept", "alive"] {
            fed.record_heartbeat(s, &beat(s)).unwrap();
        }
        fed.tick().await.unwrap();
        let window = MaintenanceInput {
            reason: Some("long repair".into()),
            duration: Some("2d".into()),
            ..MaintenanceInput::default()
        };
        fed.start_maintenance("kept", &window, "anonymous")
            .await
            .unwrap();
        cluster.clock.set(t0() + secs(90));
        fed.record_heartbeat("alive", &beat("alive")).unwrap();
        fed.tick().await.unwrap();
        assert_eq!(status_of(&fed, "silent"), Status::Offline);
        // `never` (offline since registration at t0) goes first, then `silent` (offline
        // since 90 s); `kept` is in maintenance and `alive` beats.
        cluster.clock.set(t0() + secs(3601));
        assert_eq!(fed.tick().await.unwrap().expired, 1);
        fed.record_heartbeat("alive", &beat("alive")).unwrap();
        assert!(not_found(fed.get("never")) == "never");
        cluster.clock.set(t0() + secs(90 + 3601));
        fed.record_heartbeat("alive", &beat("alive")).unwrap();
        let report = fed.tick().await.unwrap();
        assert_eq!(report.expired, 1);
        assert_eq!(fed.expired_total(), 2);
        assert_eq!(not_found(fed.get("silent")), "silent");
        assert!(fed.get("kept").is_ok() && fed.get("alive").is_ok());
        // The history stays readable, ending with the removal.
        let history = fed.history("silent", 10).await.unwrap();
        assert_eq!(history[0].reason.as_deref(), Some("removed: expired"));
        assert_eq!(history[1].to, Status::Offline);
        let head = fed.revision();
        match cluster.store.changes_since(head - 1, 10).await.unwrap() {
            ChangesSince::Changes(c) => assert_eq!(
                c[0].kind,
                ChangeKind::Deleted {
                    reason: Some("expired".into())
                }
            ),
            other => panic!("{other:?}"),
        }
        // A normal DELETE keeps the history too.
        fed.deregister("alive").await.unwrap();
        let history = fed.history("alive", 1).await.unwrap();
        assert_eq!(history[0].reason.as_deref(), Some("removed: deleted"));
        assert_eq!(not_found(fed.history("ghost", 1).await), "ghost");
    }

    #[tokio::test]
    async fn a_pruning_catalog_removes_only_the_projects_it_registered_and_no_longer_lists() {
        let cluster = Cluster::new(&[]).await;
        let fed = cluster.leader().await;
        fed.register(&input("by-api")).await.unwrap();
        let file = |s: &str| Registration {
            origin: Origin::File,
            ..registration(s)
        };
        let first = [file("a"), file("b"), file("by-api")];
        let plan = fed.plan_catalog(&first, true);
        assert_eq!(plan.create.len(), 2);
        assert_eq!(plan.update, vec![(slug("by-api"), vec!["origin"])]);
        assert!(plan.remove.is_empty());
        fed.apply_catalog(&first, true).await.unwrap();
        assert_eq!(
            fed.get("by-api").unwrap().0.origin,
            Origin::File,
            "the file owns it now"
        );
        fed.register(&input("later-api")).await.unwrap();
        // `b` and `by-api` leave the file: both go, `later-api` (from the API) stays.
        let second = [file("a")];
        let plan = fed.plan_catalog(&second, true);
        assert_eq!(plan.remove, vec![slug("b"), slug("by-api")]);
        assert_eq!(plan.unchanged, vec![slug("a")]);
        assert!(fed.plan_catalog(&second, false).remove.is_empty());
        let applied = fed.apply_catalog(&second, true).await.unwrap();
        assert_eq!(applied.removed.len(), 2);
        assert_eq!(not_found(fed.get("b")), "b");
        assert!(fed.get("later-api").is_ok() && fed.get("a").is_ok());
        let history = fed.history("b", 1).await.unwrap();
        assert_eq!(history[0].reason.as_deref(), Some("removed: pruned"));
        // Without prune nothing is removed.
        fed.apply_catalog(&[], false).await.unwrap();
        assert!(fed.get("a").is_ok());
    }

    #[test]
    fn clock_skew_is_warned_about_once_a_minute_at_most_counting_the_projects() {
        let mut log = SkewLog::default();
        let at = |s: i64| t0() + secs(s);
        assert_eq!(log.note(&slug("a"), at(0)), Some(1));
        assert_eq!(log.note(&slug("a"), at(1)), None, "once per project");
        assert_eq!(log.note(&slug("b"), at(2)), None);
        assert_eq!(log.note(&slug("c"), at(30)), None);
        // A minute on, the next new project's warning counts the two left unsaid.
        assert_eq!(log.note(&slug("d"), at(60)), Some(3));
        assert_eq!(log.note(&slug("b"), at(200)), None);
        assert_eq!(log.projects.len(), 4);
    }

    #[tokio::test]
    async fn a_backlog_cut_over_ticks_leaves_every_replica_with_every_status() {
        // 5,000 projects online, then beating again (rows only) while 4,000 more beat
        // for the first time (a transition each, their rows listed after the others).
        let names = numbered(9000);
        let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (old, new) = slugs.split_at(5000);
        let cluster = Cluster::new(&slugs).await;
        let fed = cluster.leader().await;
        for s in old {
            fed.record_heartbeat(s, &beat(s)).unwrap();
        }
        fed.tick().await.unwrap();
        cluster.clock.advance(secs(1));
        for s in old.iter().chain(new) {
            fed.record_heartbeat(s, &beat(s)).unwrap();
        }
        fed.tick().await.unwrap();
        fed.tick().await.unwrap();
        let follower = cluster
            .replica("b", Presence::new(StatusPolicy::default()))
            .await;
        for s in &slugs {
            assert_eq!(status_of(&fed, s), Status::Online, "{s} on the leader");
            assert_eq!(status_of(&follower, s), Status::Online, "{s} on a follower");
            assert_eq!(
                cluster.store.stored(s).unwrap().status,
                Status::Online,
                "{s} stored"
            );
        }
    }

    #[tokio::test]
    async fn a_tick_writes_at_most_three_parts_and_leaves_the_rest_to_the_next() {
        let names = numbered(7000);
        let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (cluster, fed) = all_beating(&slugs).await;
        let before = cluster.store.presence_writes();
        fed.tick().await.unwrap();
        assert_eq!(cluster.store.presence_writes(), before + 3);
        let written = || {
            slugs
                .iter()
                .filter(|s| !cluster.store.transitions_of(s).is_empty())
                .count()
        };
        assert_eq!(written(), 6000);
        fed.tick().await.unwrap();
        assert_eq!(cluster.store.presence_writes(), before + 4);
        assert_eq!(written(), 7000);
        let published = cluster.published(&fed);
        assert_eq!(published.len(), 7000);
        assert_eq!(
            published
                .iter()
                .collect::<std::collections::HashSet<_>>()
                .len(),
            7000,
            "each event once"
        );
    }

    #[tokio::test]
    async fn a_tick_publishes_at_most_ten_thousand_events_and_the_next_the_rest() {
        let names = numbered(12_000);
        let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (cluster, fed) = all_beating(&slugs).await;
        cluster
            .refuse_events
            .store(true, std::sync::atomic::Ordering::SeqCst);
        fed.tick().await.unwrap();
        fed.tick().await.unwrap();
        assert!(cluster.published(&fed).is_empty());
        cluster
            .refuse_events
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let report = fed.tick().await.unwrap();
        assert_eq!(cluster.published(&fed).len(), 10_000);
        assert!(report.unpublished > 0);
        assert_eq!(fed.tick().await.unwrap().unpublished, 0);
        assert_eq!(cluster.published(&fed).len(), 12_000);
    }

    #[tokio::test]
    async fn a_large_backlog_is_written_in_parts_and_a_failed_part_waits_with_the_rest() {
        let names = numbered(4500);
        let slugs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (cluster, fed) = all_beating(&slugs).await;
        let before = cluster.store.presence_writes();
        // Parts of 2,000, 2,000 and 500: the first is stored, the second fails.
        cluster.store.fail_presence_writes_from(Some(before + 1));
        let failed = fed.tick().await.unwrap_err();
        assert_eq!((failed.transitions, failed.updates), (2500, 2500));
        let written = |slugs: &[&str]| {
            slugs
                .iter()
                .filter(|s| !cluster.store.transitions_of(s).is_empty())
                .count()
        };
        assert_eq!(written(&slugs), 2000);
        assert_eq!(
            cluster.store.stored("p-0").unwrap().status,
            Status::Online,
            "a stored part carries its projects' rows"
        );
        assert_eq!(
            cluster.store.stored("p-4499").unwrap().status,
            Status::Offline
        );

        cluster.store.fail_presence_writes_from(None);
        assert_eq!(fed.tick().await.unwrap().transitions, 2500);
        assert_eq!(cluster.store.presence_writes(), before + 3);
        for s in &slugs {
            let history = cluster.store.transitions_of(s);
            assert_eq!(history.len(), 1, "{s}: written once, in its part");
            assert_eq!(cluster.store.stored(s).unwrap().status, Status::Online);
        }
    }

    #[tokio::test]
    async fn registering_again_does_not_reset_liveness() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.tick().await.unwrap();
        cluster.clock.advance(secs(10));
        assert!(!fed.register(&input("alpha")).await.unwrap().created);
        assert_eq!(status_of(&fed, "alpha"), Status::Online);
        // The silence still counts from the heartbeat, not the re-registration.
        cluster.clock.set(t0() + secs(60));
        assert_eq!(fed.tick().await.unwrap().transitions, 1);
        assert_eq!(status_of(&fed, "alpha"), Status::Degraded);
    }

    #[tokio::test]
    async fn register_reports_store_failures_and_keeps_nothing() {
        let cluster = Cluster::new(&[]).await;
        let fed = cluster.leader().await;
        cluster.store.set_unavailable(true);
        assert!(matches!(
            fed.register(&input("alpha")).await,
            Err(ServiceError::Repository(RepositoryError::Unavailable(_)))
        ));
        assert_eq!(fed.counts(), StatusCounts::default());
        not_found(fed.get("alpha"));
    }

    #[tokio::test]
    async fn register_all_rejects_duplicate_slugs_naming_the_entry() {
        let cluster = Cluster::new(&[]).await;
        let fed = cluster.leader().await;
        let regs = [registration("a"), registration("b"), registration("A")];
        match fed.register_all(&regs).await {
            Err(ServiceError::Validation(e)) => {
                assert_eq!(e.field, "projects[2].slug");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(fed.revision(), 0);
    }

    #[tokio::test]
    async fn register_all_registers_every_entry_in_one_call() {
        let cluster = Cluster::new(&[]).await;
        let fed = cluster.leader().await;
        let regs = [registration("a"), registration("b"), registration("c")];
        assert_eq!(fed.register_all(&regs).await.unwrap().len(), 3);
        assert_eq!(fed.counts().offline, 3);
        assert_eq!(fed.revision(), 3);
        for s in ["a", "b", "c"] {
            assert!(fed.record_heartbeat(s, &beat(s)).unwrap());
        }
    }

    // ---- reads, update, deregister, history --------------------------------------------

    #[tokio::test]
    async fn reads_come_from_the_registry_with_its_revision() {
        let cluster = Cluster::new(&["alpha", "beta"]).await;
        let fed = cluster.leader().await;
        // The store is down: reads still answer, from memory.
        cluster.store.set_unavailable(true);
        assert_eq!(fed.get("Alpha").unwrap().0.slug.as_str(), "alpha");
        assert_eq!(not_found(fed.get("ghost")), "ghost");
        let page = fed.list(&ListFilter::parse(None, None, Some("1"), Some("1")).unwrap());
        assert_eq!(
            (page.items[0].slug.as_str(), page.total, page.revision),
            ("beta", 2, 2)
        );
    }

    #[tokio::test]
    async fn an_invalid_path_slug_is_not_found_without_asking_the_store() {
        let cluster = Cluster::new(&[]).await;
        let fed = cluster.leader().await;
        cluster.store.set_unavailable(true);
        for bad in ["bad.slug", "", "-x", "a b", &"x".repeat(51)] {
            not_found(fed.get(bad));
            not_found(fed.update(bad, &ProjectPatch::default()).await);
            not_found(fed.deregister(bad).await);
            not_found(fed.history(bad, 10).await);
        }
        let long = "é".repeat(500);
        assert_eq!(not_found(fed.get(&long)).chars().count(), 64);
    }

    #[tokio::test]
    async fn update_applies_the_patch_and_maps_missing_to_not_found() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        let patch = ProjectPatch {
            name: Some(ProjectName::parse("New").unwrap()),
            ..ProjectPatch::default()
        };
        assert_eq!(
            fed.update("alpha", &patch).await.unwrap().name.as_str(),
            "New"
        );
        assert_eq!(fed.get("alpha").unwrap().0.name.as_str(), "New");
        assert_eq!(not_found(fed.update("ghost", &patch).await), "ghost");
    }

    #[tokio::test]
    async fn deregister_deletes_and_forgets_presence_and_a_failed_one_keeps_it() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        cluster.store.set_unavailable(true);
        assert!(matches!(
            fed.deregister("alpha").await,
            Err(ServiceError::Repository(_))
        ));
        assert!(fed.record_heartbeat("alpha", &beat("alpha")).is_ok());
        cluster.store.set_unavailable(false);
        fed.deregister("ALPHA").await.unwrap();
        assert_eq!(fed.counts(), StatusCounts::default());
        let err = fed.record_heartbeat("alpha", &beat("alpha")).unwrap_err();
        assert_eq!(err.outcome(), "unknown_project");
        assert_eq!(not_found(fed.deregister("ghost").await), "ghost");
    }

    #[tokio::test]
    async fn history_is_newest_first_with_the_limit() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.tick().await.unwrap();
        cluster.clock.set(t0() + secs(60));
        fed.tick().await.unwrap();
        let h = fed.history("alpha", 1).await.unwrap();
        assert_eq!((h.len(), h[0].to), (1, Status::Degraded));
        assert_eq!(not_found(fed.history("ghost", 7).await), "ghost");
    }

    // ---- record_heartbeat ------------------------------------------------------------

    #[tokio::test]
    async fn record_heartbeat_rejections_have_their_outcome() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        let cases: [(&str, Vec<u8>, &str); 8] = [
            ("ghost", beat("ghost"), "unknown_project"),
            ("alpha", b"not json".to_vec(), "malformed"),
            ("alpha", br#"{"project_slug": 1}"#.to_vec(), "malformed"),
            ("alpha", br#"{"hub_url":"http://x"}"#.to_vec(), "malformed"),
            ("alpha", beat("beta"), "slug_mismatch"),
            (
                "alpha",
                br#"{"project_slug":"alpha","mesh_namespace":"hub..beta"}"#.to_vec(),
                "bad_namespace",
            ),
            (
                "alpha",
                br#"{"project_slug":"alpha","timestamp":"2025-11-18T10:58:29Z"}"#.to_vec(),
                "replay",
            ),
            (
                "alpha",
                format!(r#"{{"project_slug":"alpha","pad":"{}"}}"#, "x".repeat(9000)).into_bytes(),
                "oversize",
            ),
        ];
        for (subject, body, outcome) in cases {
            let err = fed.record_heartbeat(subject, &body).unwrap_err();
            assert_eq!(err.outcome(), outcome, "{}", String::from_utf8_lossy(&body));
        }
        // None of them changed anything.
        assert_eq!(fed.tick().await.unwrap(), TickReport::default());
    }

    #[tokio::test]
    async fn record_heartbeats_takes_a_batch_as_record_heartbeat_takes_each() {
        let cluster = Cluster::new(&["alpha", "beta"]).await;
        let fed = cluster.leader().await;
        let alpha = beat("alpha");
        let beta = beat("beta");
        let ghost = beat("ghost");
        let batch: Vec<(&str, &[u8])> = vec![
            ("alpha", &alpha),
            ("ghost", &ghost),
            ("alpha", b"not json"),
            ("beta", &beta),
            ("beta", &alpha),
            ("alpha", &alpha),
        ];
        let rejected = fed.record_heartbeats(batch);
        let outcomes: Vec<(&str, &str)> = rejected.iter().map(|(s, r)| (*s, r.outcome())).collect();
        assert_eq!(
            outcomes,
            [
                ("alpha", "malformed"),
                ("beta", "slug_mismatch"),
                ("ghost", "unknown_project")
            ]
        );
        let c = fed.heartbeat_counters();
        assert_eq!(
            (
                c.get("ok"),
                c.get("unknown_project"),
                c.get("malformed"),
                c.get("slug_mismatch")
            ),
            (3, 1, 1, 1)
        );
        assert_eq!(fed.tick().await.unwrap().transitions, 2);
        assert!(fed.record_heartbeats(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn record_heartbeat_judges_timestamps_by_the_clock_and_reports_change() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        let body = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:00:00Z"}"#;
        assert!(fed.record_heartbeat("alpha", body).unwrap());
        assert!(!fed.record_heartbeat("alpha", body).unwrap(), "no change");
        // A sender 91 s behind is still heard (the original refused it as a replay)…
        cluster.clock.advance(secs(91));
        assert!(!fed.record_heartbeat("alpha", body).unwrap(), "no change");
        // …and one over an hour behind is a replay.
        cluster.clock.advance(secs(3600));
        assert_eq!(
            fed.record_heartbeat("alpha", body).unwrap_err().outcome(),
            "replay"
        );
        let degraded = br#"{"project_slug":"alpha","status":"degraded","reasons":["db"]}"#;
        assert!(fed.record_heartbeat("alpha", degraded).unwrap());
        fed.tick().await.unwrap();
        assert_eq!(fed.counts().degraded, 1);
    }

    #[tokio::test]
    async fn the_last_observed_clock_skew_is_on_the_project() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        let skew = |fed: &Federation| fed.get("alpha").unwrap().0.clock_skew_seconds;
        assert_eq!(skew(&fed), None);
        // No timestamp: nothing to measure.
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        assert_eq!(skew(&fed), None);
        let body = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:00:00Z"}"#;
        fed.record_heartbeat("alpha", body).unwrap();
        assert_eq!(skew(&fed), Some(0.0));
        cluster.clock.advance(secs(91));
        fed.record_heartbeat("alpha", body).unwrap();
        fed.tick().await.unwrap();
        assert_eq!(skew(&fed), Some(91.0));
        // A sender ahead of us shows a negative skew.
        let ahead = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:03:31Z"}"#;
        fed.record_heartbeat("alpha", ahead).unwrap();
        assert_eq!(skew(&fed), Some(-120.0));
    }

    #[tokio::test]
    async fn membership_is_looked_up_by_subject_token_in_any_case() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        assert!(fed.is_member("alpha"));
        assert!(fed.is_member("Alpha"));
        assert!(!fed.is_member("beta"));
        assert!(!fed.is_member(""));
        fed.register(&input("beta")).await.unwrap();
        assert!(fed.is_member("beta"));
        fed.deregister("alpha").await.unwrap();
        assert!(!fed.is_member("alpha"));
    }

    #[tokio::test]
    async fn heartbeats_are_counted_by_outcome() {
        let cluster = Cluster::new(&["known"]).await;
        let fed = cluster.leader().await;
        fed.record_heartbeat("known", &beat("known")).unwrap();
        fed.record_heartbeat("known", &beat("known")).unwrap();
        fed.record_heartbeat("ghost", &beat("ghost")).unwrap_err();
        fed.record_heartbeat("known", b"{oops").unwrap_err();
        fed.record_heartbeat("other", &beat("known")).unwrap_err();
        fed.count_dropped_heartbeat();
        let c = fed.heartbeat_counters();
        assert_eq!(c.get("ok"), 2);
        assert_eq!(c.get("unknown_project"), 1);
        assert_eq!(c.get("malformed"), 1);
        assert_eq!(c.get("slug_mismatch"), 1);
        assert_eq!(c.get("dropped"), 1);
    }

    // ---- tick and the outbox ---------------------------------------------------------

    #[tokio::test]
    async fn tick_writes_one_batch_then_publishes_each_transition_in_log_order() {
        let cluster = Cluster::new(&["alpha", "beta", "gamma"]).await;
        let fed = cluster.leader().await;
        fed.record_heartbeat("beta", &beat("beta")).unwrap();
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        let report = fed.tick().await.unwrap();
        assert_eq!(
            report,
            TickReport {
                transitions: 2,
                updates: 2,
                unpublished: 0,
                mass_expiry: None,
                follower: false,
                expired: 0,
            }
        );
        assert_eq!(cluster.store.presence_writes(), 1);
        assert_eq!(
            fed.transition_counters()
                .get(Status::Offline, Status::Online),
            2
        );
        // Revisions 1-3 are the registrations.
        assert_eq!(cluster.published(&fed), ["beta:online@4", "alpha:online@5"]);
    }

    #[tokio::test]
    async fn an_idle_tick_touches_neither_store_nor_bus() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        for _ in 0..5 {
            assert_eq!(fed.tick().await.unwrap(), TickReport::default());
            cluster.clock.advance(secs(100));
        }
        assert_eq!(cluster.store.presence_writes(), 0);
        assert!(cluster.published(&fed).is_empty());
    }

    #[tokio::test]
    async fn heartbeats_without_a_change_are_written_behind_without_events() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster.leader().await;
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.tick().await.unwrap();
        cluster.clock.advance(secs(30));
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        let report = fed.tick().await.unwrap();
        assert_eq!((report.transitions, report.updates), (0, 1));
        assert_eq!(cluster.store.presence_writes(), 2);
        let stored = cluster.store.stored("alpha").unwrap();
        assert_eq!(stored.last_heartbeat_at, Some(t0() + secs(30)));
        assert_eq!(cluster.published(&fed).len(), 1);
    }

    #[tokio::test]
    async fn a_failed_write_publishes_nothing_and_the_next_tick_writes_it_with_its_time() {
        let cluster = Cluster::new(&["alpha", "beta"]).await;
        let fed = cluster.leader().await;
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        cluster.store.set_unavailable(true);
        let err = fed.tick().await.unwrap_err();
        assert_eq!((err.transitions, err.updates), (1, 1));
        assert!(cluster.published(&fed).is_empty(), "nothing published");

        cluster.store.set_unavailable(false);
        cluster.clock.advance(secs(1));
        fed.record_heartbeat("beta", &beat("beta")).unwrap();
        let report = fed.tick().await.unwrap();
        assert_eq!((report.transitions, report.updates), (2, 2));
        let alpha = cluster.store.transitions_of("alpha");
        assert_eq!(
            alpha[0].at,
            t0(),
            "the kept transition has its original time"
        );
        assert_eq!(cluster.published(&fed), ["alpha:online@3", "beta:online@4"]);
    }

    #[tokio::test]
    async fn events_the_bus_refused_are_published_later_in_order_not_dropped() {
        let cluster = Cluster::new(&["a", "b", "c"]).await;
        let fed = cluster.leader().await;
        cluster
            .refuse_events
            .store(true, std::sync::atomic::Ordering::SeqCst);
        for s in ["a", "b", "c"] {
            fed.record_heartbeat(s, &beat(s)).unwrap();
        }
        let report = fed.tick().await.unwrap();
        assert_eq!((report.transitions, report.unpublished), (3, 3));
        cluster.clock.set(t0() + secs(60));
        assert_eq!(fed.tick().await.unwrap().unpublished, 6);
        cluster
            .refuse_events
            .store(false, std::sync::atomic::Ordering::SeqCst);
        cluster.clock.advance(secs(1));
        assert_eq!(fed.tick().await.unwrap().unpublished, 0);
        let published = cluster.published(&fed);
        assert_eq!(published[..3], ["a:online@4", "b:online@5", "c:online@6"]);
        // One sweep degrades all three at once, in the table's order; the revisions
        // follow the order they were stored in.
        let mut degraded: Vec<&str> = published[3..]
            .iter()
            .map(|e| e.split('@').next().unwrap())
            .collect();
        degraded.sort_unstable();
        assert_eq!(degraded, ["a:degraded", "b:degraded", "c:degraded"]);
        let revisions: Vec<&str> = published[3..]
            .iter()
            .map(|e| e.split('@').nth(1).unwrap())
            .collect();
        assert_eq!(revisions, ["7", "8", "9"]);
        // A new leader starts from the stored cursor: nothing is published twice.
        fed.resign().await;
        let next = cluster
            .replica("b", Presence::new(StatusPolicy::default()))
            .await;
        next.campaign().await.unwrap();
        next.tick().await.unwrap();
        assert_eq!(cluster.published(&next).len(), 6);
    }

    #[tokio::test]
    async fn tick_follows_the_clock_and_reports_a_mass_expiry() {
        let slugs = ["a", "b", "c", "d", "e"];
        let cluster = Cluster::new(&slugs).await;
        let fed = cluster.leader().await;
        for s in slugs {
            fed.record_heartbeat(s, &beat(s)).unwrap();
        }
        fed.tick().await.unwrap();
        cluster.clock.set(t0() + secs(90));
        let report = fed.tick().await.unwrap();
        assert_eq!(report.transitions, 5);
        let mass = report.mass_expiry.expect("mass expiry");
        assert_eq!((mass.expired, mass.live), (5, 5));
        assert_eq!(fed.last_mass_expiry(), Some(mass));
        assert_eq!(fed.counts().offline, 5);
    }

    #[tokio::test]
    async fn bus_events_are_stamped_with_the_clock() {
        let cluster = Cluster::new(&["alpha"]).await;
        let fed = cluster
            .replica("a", Presence::with_bus(StatusPolicy::default()))
            .await;
        fed.campaign().await.unwrap();
        assert_eq!(fed.guard(), GuardState::LinkDown);
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.tick().await.unwrap();
        cluster.clock.set(t0() + secs(500));
        fed.bus_connected();
        assert_eq!(
            fed.guard(),
            GuardState::Recovering {
                until: t0() + secs(590)
            }
        );
        for _ in 0..4 {
            fed.canary_sent();
        }
        assert_eq!(fed.guard(), GuardState::CanaryLost);
        fed.canary_received();
        // Silence counts from the connection at +500: late at +560, offline at +590.
        cluster.clock.set(t0() + secs(559));
        fed.campaign().await.unwrap();
        assert_eq!(fed.tick().await.unwrap().transitions, 0);
        cluster.clock.set(t0() + secs(589));
        fed.campaign().await.unwrap();
        assert_eq!(fed.tick().await.unwrap().transitions, 1);
        cluster.clock.set(t0() + secs(590));
        fed.campaign().await.unwrap();
        assert_eq!(fed.tick().await.unwrap().transitions, 1);
        fed.bus_disconnected();
        assert_eq!(fed.guard(), GuardState::LinkDown);
    }

    // ---- several replicas ------------------------------------------------------------

    fn policy() -> Presence {
        Presence::new(StatusPolicy::default())
    }

    #[tokio::test]
    async fn load_fills_the_registry_and_the_presence_table_from_the_store() {
        let cluster = Cluster::new(&["a", "b"]).await;
        let fed = cluster.replica("x", policy()).await;
        assert_eq!(fed.revision(), 2);
        assert_eq!(fed.counts().offline, 2);
        assert!(fed.record_heartbeat("a", &beat("a")).unwrap());
    }

    #[tokio::test]
    async fn one_replica_leads_the_others_follow_and_write_nothing() {
        let cluster = Cluster::new(&["alpha"]).await;
        let a = cluster.replica("a", policy()).await;
        let b = cluster.replica("b", policy()).await;
        assert!(matches!(a.campaign().await.unwrap(), Role::Leader(Term(1))));
        assert_eq!(b.campaign().await.unwrap(), Role::Follower);
        // Both hear the heartbeat (NATS fans out); only the leader writes.
        for fed in [&a, &b] {
            fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        }
        assert!(b.tick().await.unwrap().follower);
        assert_eq!(cluster.store.presence_writes(), 0);
        a.tick().await.unwrap();
        assert_eq!(status_of(&b, "alpha"), Status::Offline, "until it follows");
        assert_eq!(b.follow().await.unwrap(), 1);
        assert_eq!(status_of(&b, "alpha"), Status::Online);
        for at in [60, 90] {
            cluster.clock.set(t0() + secs(at));
            a.campaign().await.unwrap();
            b.tick().await.unwrap();
            a.tick().await.unwrap();
        }
        b.follow().await.unwrap();
        assert_eq!(status_of(&b, "alpha"), Status::Offline);
        assert_eq!(
            cluster.history("alpha"),
            ["offline->online", "online->degraded", "degraded->offline"],
            "each transition once"
        );
    }

    #[tokio::test]
    async fn a_registration_through_one_replica_reaches_the_others_presence() {
        let cluster = Cluster::new(&[]).await;
        let a = cluster.replica("a", policy()).await;
        let b = cluster.replica("b", policy()).await;
        a.campaign().await.unwrap();
        a.register(&input("newcomer")).await.unwrap();
        assert_eq!(
            b.record_heartbeat("newcomer", &beat("newcomer"))
                .unwrap_err()
                .outcome(),
            "unknown_project"
        );
        b.follow().await.unwrap();
        assert!(b.record_heartbeat("newcomer", &beat("newcomer")).unwrap());
        a.deregister("newcomer").await.unwrap();
        b.follow().await.unwrap();
        not_found(b.get("newcomer"));
        assert_eq!(
            b.record_heartbeat("newcomer", &beat("newcomer"))
                .unwrap_err()
                .outcome(),
            "unknown_project"
        );
    }

    #[tokio::test]
    async fn a_new_leader_writes_what_the_dead_one_had_not_and_nothing_twice() {
        let cluster = Cluster::new(&["beating", "silent"]).await;
        let a = cluster.replica("a", policy()).await;
        let b = cluster.replica("b", policy()).await;
        a.campaign().await.unwrap();
        b.campaign().await.unwrap();
        for fed in [&a, &b] {
            fed.record_heartbeat("silent", &beat("silent")).unwrap();
        }
        a.tick().await.unwrap();
        b.tick().await.unwrap();
        // "beating" comes online in both tables, but `a` dies before writing it.
        cluster.clock.advance(secs(1));
        for fed in [&a, &b] {
            fed.record_heartbeat("beating", &beat("beating")).unwrap();
        }
        b.tick().await.unwrap();
        // Within the lease (taken at t0, 5 s), `b` stays a follower.
        cluster.clock.advance(secs(3));
        assert_eq!(b.campaign().await.unwrap(), Role::Follower);
        cluster.clock.advance(secs(1));
        assert!(matches!(b.campaign().await.unwrap(), Role::Leader(Term(2))));
        b.tick().await.unwrap();
        assert_eq!(cluster.history("beating"), ["offline->online"]);
        assert_eq!(cluster.history("silent"), ["offline->online"]);
        assert_eq!(status_of(&b, "beating"), Status::Online);
        // The silent one expires on the new leader's clock, once.
        for at in [60, 90] {
            cluster.clock.set(t0() + secs(at));
            b.campaign().await.unwrap();
            b.tick().await.unwrap();
        }
        assert_eq!(
            cluster.history("silent"),
            ["offline->online", "online->degraded", "degraded->offline"]
        );
        assert_eq!(cluster.published(&b).len(), 4, "every event once");
    }

    #[tokio::test]
    async fn a_new_leader_that_could_not_hear_the_bus_resurrects_nobody() {
        let cluster = Cluster::new(&["alpha"]).await;
        let a = cluster.replica("a", policy()).await;
        let b = cluster
            .replica("b", Presence::with_bus(StatusPolicy::default()))
            .await;
        b.bus_connected();
        a.campaign().await.unwrap();
        for fed in [&a, &b] {
            fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        }
        a.tick().await.unwrap();
        b.tick().await.unwrap();
        // `b` loses its link; `a` expires the silent project.
        b.bus_disconnected();
        for at in [60, 90] {
            cluster.clock.set(t0() + secs(at));
            a.campaign().await.unwrap();
            a.tick().await.unwrap();
            b.tick().await.unwrap();
        }
        b.follow().await.unwrap();
        assert_eq!(status_of(&b, "alpha"), Status::Offline);
        // `a` dies; `b`, whose table still says online (it held expiry), takes over.
        cluster.clock.advance(secs(6));
        assert!(matches!(b.campaign().await.unwrap(), Role::Leader(_)));
        b.tick().await.unwrap();
        assert_eq!(cluster.history("alpha"), LIFE_OF_ALPHA);
        // Its link back, a heartbeat is news again.
        b.bus_connected();
        b.record_heartbeat("alpha", &beat("alpha")).unwrap();
        b.tick().await.unwrap();
        assert_eq!(cluster.history("alpha").last().unwrap(), "offline->online");
    }

    const LIFE_OF_ALPHA: [&str; 3] = ["offline->online", "online->degraded", "degraded->offline"];

    #[tokio::test]
    async fn the_leader_applies_the_history_retention_and_a_follower_does_not() {
        let cluster = Cluster::new(&["alpha"]).await;
        let leader = cluster.leader().await;
        let follower = cluster.replica("b", policy()).await;
        follower.campaign().await.unwrap();
        let degraded = br#"{"project_slug":"alpha","status":"degraded"}"#;
        // Twelve ticks, each flipping the status once.
        for i in 0u32..12 {
            cluster.clock.advance(secs(1));
            let body: &[u8] = if i.is_multiple_of(2) {
                &beat("alpha")
            } else {
                degraded
            };
            leader.record_heartbeat("alpha", body).unwrap();
            leader.campaign().await.unwrap();
            leader.tick().await.unwrap();
        }
        assert_eq!(cluster.history("alpha").len(), 12);
        assert_eq!(follower.trim_history().await.unwrap(), 0);
        assert_eq!(
            leader.trim_history().await.unwrap(),
            2,
            "beyond the newest 10"
        );
        let kept = leader.history("alpha", 100).await.unwrap();
        assert_eq!(kept.len(), 10);
        assert_eq!(kept[0].at, t0() + secs(12));
        // And by age (90 days by default).
        cluster.clock.advance(TimeDelta::days(91));
        leader.campaign().await.unwrap();
        assert_eq!(leader.trim_history().await.unwrap(), 10);
    }

    #[tokio::test]
    async fn a_leader_that_cannot_renew_its_lease_stops_counting_as_leader() {
        let cluster = Cluster::new(&[]).await;
        let fed = cluster.leader().await;
        assert!(fed.leads());
        assert_eq!(fed.role_name(), "leader");
        cluster.store.set_unavailable(true);
        cluster.clock.advance(secs(3));
        fed.campaign().await.unwrap_err();
        assert_eq!(fed.role_name(), "leader", "within the lease");
        cluster.clock.advance(secs(3));
        fed.campaign().await.unwrap_err();
        assert!(!fed.leads());
        assert_eq!(fed.role_name(), "leader_unconfirmed");
        cluster.store.set_unavailable(false);
        fed.campaign().await.unwrap();
        assert_eq!(fed.role_name(), "leader", "its own lease, renewed");
    }

    #[tokio::test]
    async fn a_paused_leader_that_wakes_is_fenced_and_steps_down() {
        let cluster = Cluster::new(&["alpha"]).await;
        let a = cluster.replica("a", policy()).await;
        let b = cluster.replica("b", policy()).await;
        a.campaign().await.unwrap();
        for fed in [&a, &b] {
            fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        }
        // `a` freezes; `b` takes over after the lease and records the change.
        cluster.clock.advance(secs(6));
        assert!(matches!(b.campaign().await.unwrap(), Role::Leader(Term(2))));
        b.tick().await.unwrap();
        // `a` wakes with its old term and its unwritten batch: refused, it follows.
        let report = a.tick().await.unwrap();
        assert!(report.follower);
        assert_eq!(a.role(), Role::Follower);
        assert_eq!(cluster.history("alpha"), ["offline->online"]);
        assert_eq!(a.campaign().await.unwrap(), Role::Follower);
        a.follow().await.unwrap();
        assert_eq!(status_of(&a, "alpha"), Status::Online);
    }

    #[tokio::test]
    async fn a_follower_behind_a_trimmed_log_reloads_the_catalog() {
        let cluster = Cluster::new(&["a"]).await;
        let leader = cluster.leader().await;
        let late = cluster.replica("late", policy()).await;
        for s in ["b", "c", "d"] {
            leader.register(&input(s)).await.unwrap();
        }
        leader.deregister("a").await.unwrap();
        leader.tick().await.unwrap(); // publishes (no transitions) and moves the cursor
        leader.campaign().await.unwrap();
        cluster.clock.advance(secs(7200));
        assert!(leader.trim_log().await.unwrap() > 0);
        late.follow().await.unwrap();
        assert_eq!(late.revision(), leader.revision());
        let slugs: Vec<String> = late
            .list(&ListFilter::default())
            .items
            .iter()
            .map(|p| p.slug.to_string())
            .collect();
        assert_eq!(slugs, ["b", "c", "d"]);
        assert_eq!(
            late.record_heartbeat("a", &beat("a"))
                .unwrap_err()
                .outcome(),
            "unknown_project"
        );
    }
}
