//! The state the concerns share: the registry, the presence table and leadership, and
//! following the change log that fills the registry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, TimeDelta, Utc};

use crate::error::RepositoryError;
use crate::flapping::{FlapJudge, Flapping};
use crate::model::{LoggedSteps, PresenceRecord, Project, Slug, Upserted};
use crate::ports::{ChangeLog, Clock};
use crate::presence::Presence;

use super::unconfirmed::Unconfirmed;
use crate::replication::{Change, ChangeKind, ChangesSince, Registry, Role, Snapshot, Term};

/// How many changes one read of the log brings.
pub(super) const LOG_BATCH: u32 = 1000;

#[derive(Debug)]
pub(super) struct Leadership {
    pub(super) role: Role,
    /// Set on promotion: the first flush writes whatever differs between what this
    /// replica's presence table says and what the log recorded (the previous leader's
    /// last moments), instead of the table's own queue.
    pub(super) reconcile: bool,
    /// The outbox cursor: the last revision whose event was published.
    pub(super) published_through: u64,
    /// When the store last confirmed the lease (taken or renewed).
    pub(super) confirmed_at: Option<DateTime<Utc>>,
}

/// Called with every batch of changes applied to the registry, in revision order.
pub type ChangeListener = Box<dyn Fn(&[Change], u64) + Send + Sync>;

/// What every concern shares: the clock and the change log, the registry the log
/// fills, the presence table, and this replica's leadership. Locks are taken through
/// its accessors, which keep serving after a panicking holder (see [`State::presence`]).
pub(super) struct State {
    /// The time.
    pub(super) clock: Arc<dyn Clock>,
    /// The ordered change log replicas follow.
    pub(super) log: Arc<dyn ChangeLog>,
    presence: Mutex<Presence>,
    registry: RwLock<Registry>,
    leadership: Mutex<Leadership>,
    pub(super) on_change: Mutex<Vec<ChangeListener>>,
    /// When the log was last read to its end.
    pub(super) followed_at: Mutex<Option<DateTime<Utc>>>,
    /// A follower's transitions the log has not recorded yet.
    unconfirmed: Mutex<Unconfirmed>,
    /// The flapping rule over the log this replica applied (the leader judges by it).
    flaps: Mutex<FlapJudge>,
    /// One read of the log at a time (see [`State::follow`]).
    follow_gate: futures::lock::Mutex<()>,
    /// One application of changes at a time, in revision order: a read of the log and
    /// a writer applying its own change (see [`State::catch_up_with`]) take turns here,
    /// not at the gate, so a writer never waits for a read in flight.
    absorbing: Mutex<()>,
    /// Reads of the log begun, numbered from 1…
    follows_begun: AtomicU64,
    /// …and the number of the last one that read to the log's end.
    follows_done: AtomicU64,
}

impl State {
    pub(super) fn new(
        clock: Arc<dyn Clock>,
        log: Arc<dyn ChangeLog>,
        presence: Presence,
        flapping: Flapping,
    ) -> Self {
        Self {
            clock,
            log,
            presence: Mutex::new(presence),
            registry: RwLock::new(Registry::new()),
            leadership: Mutex::new(Leadership {
                role: Role::Follower,
                reconcile: false,
                published_through: 0,
                confirmed_at: None,
            }),
            on_change: Mutex::new(Vec::new()),
            followed_at: Mutex::new(None),
            unconfirmed: Mutex::new(Unconfirmed::default()),
            flaps: Mutex::new(FlapJudge::new(flapping)),
            follow_gate: futures::lock::Mutex::new(()),
            absorbing: Mutex::new(()),
            follows_begun: AtomicU64::new(0),
            follows_done: AtomicU64::new(0),
        }
    }

    pub(super) fn flaps(&self) -> MutexGuard<'_, FlapJudge> {
        self.flaps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The judge takes every project of a snapshot (see [`FlapJudge::know`]).
    fn know_flapping(&self, projects: &[Box<Project>]) {
        let now = self.clock.now();
        let mut flaps = self.flaps();
        for p in projects {
            flaps.know(p, now);
        }
    }

    pub(super) fn unconfirmed(&self) -> MutexGuard<'_, Unconfirmed> {
        self.unconfirmed.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn presence(&self) -> MutexGuard<'_, Presence> {
        // The table holds no invariant a panicking holder could half-break beyond one
        // entry, so keep serving rather than poisoning every later heartbeat.
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn registry(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn registry_mut(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn leadership(&self) -> MutexGuard<'_, Leadership> {
        self.leadership.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn on_change(&self, listener: ChangeListener) {
        self.on_change
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub(super) async fn load(&self) -> Result<usize, RepositoryError> {
        let snapshot = self.log.snapshot().await?;
        let n = snapshot.projects.len();
        {
            let mut presence = self.presence();
            presence.load(Vec::new());
            presence.reserve(n);
            for p in &snapshot.projects {
                admit(&mut presence, p);
            }
        }
        self.know_flapping(&snapshot.projects);
        self.registry_mut().load(snapshot);
        *self.followed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(self.clock.now());
        Ok(n)
    }

    pub(super) fn revision(&self) -> u64 {
        self.registry().revision()
    }

    pub(super) fn role(&self) -> Role {
        self.leadership().role
    }

    pub(super) fn follower_lag(&self) -> Option<TimeDelta> {
        let at = *self.followed_at.lock().unwrap_or_else(|p| p.into_inner());
        at.map(|t| (self.clock.now() - t).max(TimeDelta::zero()))
    }

    /// Applies what the log holds past the registry's revision: on return, the registry
    /// has every change committed before the call.
    ///
    /// Reads are one at a time, and shared: a read that began after this call sees
    /// every such change, so a caller that waited for the gate while one such read ran
    /// to the end is served by it (and returns 0). Concurrent writers (a group of
    /// registrations, the listener's wake-up for each of them) then cost one read
    /// between them, not one each.
    pub(super) async fn follow(&self) -> Result<usize, RepositoryError> {
        self.follow_to(None).await
    }

    /// [`State::follow`], or nothing to read once the registry has reached `revision`
    /// (a change notification's; revisions commit in order, so the registry at it holds
    /// every change up to it), checked again after waiting for the gate.
    pub(super) async fn follow_to(&self, revision: Option<u64>) -> Result<usize, RepositoryError> {
        let asked = self.follows_begun.load(Ordering::Acquire);
        let _gate = self.follow_gate.lock().await;
        if self.follows_done.load(Ordering::Acquire) > asked
            || revision.is_some_and(|r| self.revision() >= r)
        {
            return Ok(0);
        }
        let number = self.follows_begun.fetch_add(1, Ordering::AcqRel) + 1;
        let applied = self.read_log().await?;
        self.follows_done.store(number, Ordering::Release);
        Ok(applied)
    }

    /// One read of the log to its end (see [`State::follow`]).
    async fn read_log(&self) -> Result<usize, RepositoryError> {
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
                    applied += self.absorb(changes);
                    if read < LOG_BATCH as usize {
                        *self.followed_at.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(self.clock.now());
                        return Ok(applied);
                    }
                }
            }
        }
    }

    /// Applies changes read from the log, in revision order, to the registry, the
    /// presence table's membership and the flapping marks, and announces them; how many
    /// were new. Called by reads of the log (under the follow gate), in a turn at
    /// `absorbing`.
    fn absorb(&self, changes: Vec<Change>) -> usize {
        let _turn = self.absorbing();
        self.absorb_in_turn(changes)
    }

    fn absorbing(&self) -> MutexGuard<'_, ()> {
        self.absorbing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Self::absorb`], the turn taken.
    fn absorb_in_turn(&self, changes: Vec<Change>) -> usize {
        let done = self.registry_mut().apply(changes);
        self.track_membership(&done);
        {
            let mut flaps = self.flaps();
            for change in &done {
                flaps.apply(change);
            }
        }
        if !done.is_empty() {
            self.announce(&done);
        }
        done.len()
    }

    /// After a registration of this replica's: its change is applied as written when
    /// the registry stands at the revision right before it (nothing else can come
    /// between: revisions are drawn in order under the log's lock), which is what
    /// reading the log would apply, without reading it; with the other changes its
    /// transaction wrote when the store gives them (a group commit's, see
    /// [`Upserted::written`]): then the group's first caller back applies them all,
    /// and the others find theirs applied. It does not wait for a read of the log in
    /// flight (the listener's, woken by this very write): that read applies only what
    /// is past the registry's revision when its turn comes. Otherwise (another write
    /// came first, or the store gave no revision) the log is read up to the revision,
    /// unless a read brought it while this one waited its turn (as
    /// [`Self::follow_to`]).
    pub(super) async fn catch_up_with(&self, upserted: &Upserted) {
        if let Some(revision) = upserted.revision {
            let _turn = self.absorbing();
            let at = self.revision();
            if at >= revision {
                return;
            }
            let first = upserted
                .written
                .as_deref()
                .and_then(<[Change]>::first)
                .map_or(revision, |c| c.revision);
            if first <= at + 1 {
                let unapplied: Vec<Change> = match &upserted.written {
                    Some(all) => all.iter().filter(|c| c.revision > at).cloned().collect(),
                    None => Change::registration(upserted).into_iter().collect(),
                };
                self.absorb_in_turn(unapplied);
                return;
            }
        }
        self.catch_up_to(upserted.revision).await;
    }

    /// After this replica's presence write: the steps it logged applied as written,
    /// when the registry stands at or within their run of revisions (nothing else can
    /// come between: revisions are drawn in order under the log's lock). Each carries
    /// its project as the write left it: the registry's, with the batch's liveness row
    /// for it (status, reason, version, and the later heartbeat time, in microseconds
    /// as the store keeps them), which is what a read of the log would bring, without
    /// reading it. Returns whether the registry has the steps; otherwise (another
    /// write came first, the store did not number them, a step without its row) the
    /// caller reads the log.
    pub(super) fn absorb_written(&self, rows: &[PresenceRecord], logged: &LoggedSteps) -> bool {
        let (Some(first), Some(numbered)) = (logged.first_revision, logged.numbered()) else {
            return logged.transitions.is_empty();
        };
        let _turn = self.absorbing();
        let at = self.revision();
        if first > at + 1 {
            return false;
        }
        let rows: std::collections::HashMap<&Slug, &PresenceRecord> =
            rows.iter().map(|r| (&r.slug, r)).collect();
        let changes: Option<Vec<Change>> = {
            let registry = self.registry();
            numbered
                .filter(|(revision, _)| *revision > at)
                .map(|(revision, t)| {
                    let mut project = registry.get(t.slug.as_str())?.clone();
                    written_liveness(&mut project, rows.get(&t.slug)?);
                    Some(Change {
                        revision,
                        slug: t.slug.clone(),
                        at: t.at,
                        kind: ChangeKind::Transition(t.clone()),
                        project: Some(project),
                    })
                })
                .collect()
        };
        match changes {
            Some(changes) => {
                self.absorb_in_turn(changes);
                true
            }
            None => false,
        }
    }

    /// [`Self::follow`] after a write of this replica's, so it reads its own write: a
    /// failure only delays that (the follower task catches up), so it is logged.
    pub(super) async fn catch_up(&self) {
        self.catch_up_to(None).await;
    }

    /// [`Self::catch_up`], as [`Self::follow_to`] this revision.
    async fn catch_up_to(&self, revision: Option<u64>) {
        if let Err(e) = self.follow_to(revision).await {
            tracing::warn!(error = %e, "could not read the change log after a write; the follower will catch up");
        }
    }

    pub(super) fn announce(&self, changes: &[Change]) {
        let revision = self.revision();
        let listeners = self.on_change.lock().unwrap_or_else(|p| p.into_inner());
        for listener in listeners.iter() {
            listener(changes, revision);
        }
    }

    /// Projects registered or deleted through any replica enter or leave the presence
    /// table as their change is applied, so their heartbeats are taken at once.
    pub(super) fn track_membership(&self, changes: &[Change]) {
        {
            let mut unconfirmed = self.unconfirmed();
            if unconfirmed.len() > 0 {
                for change in changes {
                    match &change.kind {
                        ChangeKind::Transition(t) => unconfirmed.confirm(t),
                        ChangeKind::Deleted { .. } => unconfirmed.forget(&change.slug),
                        _ => {}
                    }
                }
            }
        }
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

    pub(super) fn restore(&self, snapshot: Snapshot) {
        let _turn = self.absorbing();
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
        self.know_flapping(&snapshot.projects);
        self.registry_mut().load(snapshot);
        self.announce(&[]);
    }

    pub(super) async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.log.changes_since(revision, limit).await
    }

    pub(super) fn step_down(&self, why: &str) {
        let mut leadership = self.leadership();
        if let Role::Leader(term) = leadership.role {
            tracing::warn!(%term, why, "this replica no longer leads the sweep");
        }
        leadership.role = Role::Follower;
        leadership.reconcile = false;
    }

    /// Steps down for a write the store fenced in `term`, unless this replica leads in
    /// another term by now (the lease, on its own timer, lost and took the lead again
    /// while the write was in flight): that term's leadership is not the fenced one's.
    /// Returns whether this replica still leads (in a newer term).
    pub(super) fn fenced_in(&self, term: Term, why: &str) -> bool {
        let mut leadership = self.leadership();
        match leadership.role {
            Role::Leader(now) if now != term => {
                tracing::info!(fenced = %term, leads = %now, why, "a write of an earlier term was fenced; this replica leads in a newer one");
                true
            }
            Role::Leader(_) => {
                tracing::warn!(%term, why, "this replica no longer leads the sweep");
                leadership.role = Role::Follower;
                leadership.reconcile = false;
                false
            }
            Role::Follower => false,
        }
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

/// A project's row as a presence write leaves it: the liveness row's status, reason
/// and version, and its heartbeat time unless the project's is later.
fn written_liveness(project: &mut Project, row: &PresenceRecord) {
    use chrono::SubsecRound;
    project.status = row.status;
    project.status_reason.clone_from(&row.status_reason);
    project.version.clone_from(&row.version);
    let heard = row.last_heartbeat_at.map(|t| t.trunc_subsecs(6));
    if heard > project.last_heartbeat_at {
        project.last_heartbeat_at = heard;
    }
}

/// Puts a stored project into the presence table: adopted when new (see
/// [`stored_liveness`]), its registered heartbeat interval taken either way.
pub(super) fn admit(presence: &mut Presence, p: &Project) {
    presence.adopt(stored_liveness(p));
    presence.set_interval(&p.slug, p.heartbeat_interval);
    presence.set_maintenance(&p.slug, p.maintenance.as_ref().map(|m| m.until));
    presence.set_registered_at(&p.slug, p.created_at);
}
