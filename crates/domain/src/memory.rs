//! A store in memory that keeps every rule of the ports: the catalog, the history, the
//! change log with its revisions, the fenced sweeper lease and the outbox cursor.
//!
//! For tests (this crate's, and other crates' with the `mock` feature): several
//! [`crate::Federation`]s over one `MemoryStore` are several replicas over one database,
//! driven by a manual clock. [`MemoryStore::set_unavailable`] makes every call fail as
//! an unreachable store would.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::RepositoryError;
use crate::flapping::FlapMark;
use crate::model::{
    maintenance_started, reason, CatalogApplied, ListFilter, LoggedSteps, MaintenanceChange,
    Origin, PresenceRecord, Project, ProjectPage, ProjectPatch, Registration, Slug, Status,
    Transition, Upserted,
};
use crate::ports::{ChangeLog, Clock, Lease, ProjectRepository};
use crate::replication::{Change, ChangeKind, ChangesSince, Registry, Snapshot, Term};

#[derive(Debug, Default)]
struct State {
    projects: BTreeMap<Slug, Project>,
    next_id: i64,
    history: HashMap<Slug, Vec<Transition>>,
    log: Vec<(u64, Slug, DateTime<Utc>, ChangeKind)>,
    next_revision: u64,
    trimmed_through: u64,
    published_through: u64,
    lease: Option<(String, Term, DateTime<Utc>)>,
    writes: u64,
}

impl State {
    /// A history row that records an event without a status change (maintenance, a
    /// removal): from the project's status to the same.
    fn note(&mut self, project: &Project, why: String, at: DateTime<Utc>) {
        self.record(Transition {
            slug: project.slug.clone(),
            from: project.status,
            to: project.status,
            reason: Some(why),
            at,
            last_heartbeat_at: project.last_heartbeat_at,
        });
    }

    /// Stores a history row in time order, as the databases read theirs (by time, then
    /// by id): one at the same instant as others comes after them.
    fn record(&mut self, t: Transition) {
        let t = Transition {
            at: micros(t.at),
            last_heartbeat_at: t.last_heartbeat_at.map(micros),
            ..t
        };
        let rows = self.history.entry(t.slug.clone()).or_default();
        let at = rows.partition_point(|r| r.at <= t.at);
        rows.insert(at, t);
    }

    /// Appends a change; its revision.
    fn append(&mut self, slug: &Slug, at: DateTime<Utc>, kind: ChangeKind) -> u64 {
        self.next_revision += 1;
        self.log.push((self.next_revision, slug.clone(), at, kind));
        self.next_revision
    }

    fn fence(&self, term: Term) -> Result<(), RepositoryError> {
        match &self.lease {
            Some((_, t, _)) if *t == term => Ok(()),
            Some((holder, t, _)) => Err(RepositoryError::Fenced(format!(
                "the lease is in term {t} (held by {holder}); the write carried term {term}"
            ))),
            None => Err(RepositoryError::Fenced("no lease is held".into())),
        }
    }

    fn head(&self) -> u64 {
        self.log
            .last()
            .map_or(self.trimmed_through, |(r, ..)| *r)
            .max(self.trimmed_through)
    }
}

/// `at` to the microsecond, as PostgreSQL and SQLite store times.
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    chrono::SubsecRound::trunc_subsecs(at, 6)
}

/// The ports in memory. See the module docs.
pub struct MemoryStore {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    unavailable: AtomicBool,
    /// Presence writes fail (as unavailable) once this many were stored.
    presence_write_limit: Mutex<Option<u64>>,
    /// Run as the next presence write begins (before its fence): what happens while a
    /// write is in flight.
    before_presence_write: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store whose times (creation, lease expiry) come from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            clock,
            unavailable: AtomicBool::new(false),
            presence_write_limit: Mutex::new(None),
            before_presence_write: Mutex::new(None),
        }
    }

    /// Runs `f` as the next presence write begins, before its fence is checked: for
    /// what happens while a write is in flight (another replica's campaign, a clock
    /// moving on).
    pub fn during_next_presence_write(&self, f: impl FnOnce() + Send + 'static) {
        *self
            .before_presence_write
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// While `true`, every call fails with [`RepositoryError::Unavailable`].
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    /// From the `limit`th stored presence write on (counted as
    /// [`MemoryStore::presence_writes`]), the next ones fail as unavailable; `None` ends it.
    pub fn fail_presence_writes_from(&self, limit: Option<u64>) {
        *self
            .presence_write_limit
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = limit;
    }

    /// The clock's time as the databases keep times: to the microsecond.
    fn now(&self) -> DateTime<Utc> {
        micros(self.clock.now())
    }

    /// The log after `revision`, at most `limit`, each change with its project as it is
    /// now when `with_projects`.
    fn changes(
        &self,
        revision: u64,
        limit: u32,
        with_projects: bool,
    ) -> Result<ChangesSince, RepositoryError> {
        let state = self.state()?;
        if revision < state.trimmed_through {
            return Ok(ChangesSince::Trimmed);
        }
        Ok(ChangesSince::Changes(
            state
                .log
                .iter()
                .filter(|(r, ..)| *r > revision)
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .map(|(r, slug, at, kind)| Change {
                    revision: *r,
                    slug: slug.clone(),
                    at: *at,
                    kind: kind.clone(),
                    project: with_projects
                        .then(|| state.projects.get(slug).cloned())
                        .flatten(),
                })
                .collect(),
        ))
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, RepositoryError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(RepositoryError::Unavailable("the store is down".into()));
        }
        Ok(self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Every transition stored for `slug`, oldest first.
    pub fn transitions_of(&self, slug: &str) -> Vec<Transition> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Slug::parse(slug)
            .ok()
            .and_then(|s| state.history.get(&s).cloned())
            .unwrap_or_default()
    }

    /// How many transitions (history rows) are stored, removed projects' included.
    pub fn transitions_stored(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.history.values().map(Vec::len).sum()
    }

    /// The project as stored.
    pub fn stored(&self, slug: &str) -> Option<Project> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        Slug::parse(slug)
            .ok()
            .and_then(|s| state.projects.get(&s).cloned())
    }

    /// How many fenced writes (presence batches) were stored.
    pub fn presence_writes(&self) -> u64 {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).writes
    }

    /// The lease's holder and term.
    pub fn lease(&self) -> Option<(String, Term)> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.lease.as_ref().map(|(h, t, _)| (h.clone(), *t))
    }

    /// Removes a project, keeping its history with a last `removed: <why>` row.
    fn remove(state: &mut State, slug: &Slug, why: &str, now: DateTime<Utc>) -> bool {
        let Some(gone) = state.projects.remove(slug) else {
            return false;
        };
        state.note(&gone, reason::removed_for(why), now);
        state.append(
            slug,
            now,
            ChangeKind::Deleted {
                reason: Some(why.to_owned()),
            },
        );
        true
    }

    fn upsert_one(state: &mut State, r: &Registration, now: DateTime<Utc>) -> Upserted {
        let created = !state.projects.contains_key(&r.slug);
        let project = match state.projects.get(&r.slug) {
            Some(p) => Project {
                name: r.name.clone(),
                hub_url: r.hub_url.clone(),
                mesh_namespace: r.mesh_namespace.clone(),
                tags: r.tags.clone(),
                metadata: r.metadata.clone(),
                heartbeat_interval: r.heartbeat_interval.or(p.heartbeat_interval),
                origin: r.origin,
                updated_at: now,
                ..p.clone()
            },
            None => {
                state.next_id += 1;
                Project {
                    id: state.next_id,
                    slug: r.slug.clone(),
                    name: r.name.clone(),
                    hub_url: r.hub_url.clone(),
                    mesh_namespace: r.mesh_namespace.clone(),
                    status: Status::Offline,
                    status_reason: None,
                    tags: r.tags.clone(),
                    metadata: r.metadata.clone(),
                    version: None,
                    last_heartbeat_at: None,
                    clock_skew_seconds: None,
                    heartbeat_interval: r.heartbeat_interval,
                    maintenance: None,
                    flapping_since: None,
                    origin: r.origin,
                    heartbeat_key: None,
                    created_at: now,
                    updated_at: now,
                }
            }
        };
        state.projects.insert(r.slug.clone(), project.clone());
        let revision = state.append(&r.slug, now, ChangeKind::registration(created));
        Upserted {
            project,
            created,
            revision: Some(revision),
            written: None,
        }
    }
}

#[async_trait]
impl ProjectRepository for MemoryStore {
    async fn upsert(&self, registration: &Registration) -> Result<Upserted, RepositoryError> {
        let now = self.now();
        Ok(Self::upsert_one(&mut *self.state()?, registration, now))
    }

    async fn upsert_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, RepositoryError> {
        let now = self.now();
        let mut state = self.state()?;
        Ok(registrations
            .iter()
            .map(|r| Self::upsert_one(&mut state, r, now))
            .collect())
    }

    async fn apply_catalog(
        &self,
        registrations: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, RepositoryError> {
        let now = self.now();
        let mut state = self.state()?;
        let upserted = registrations
            .iter()
            .map(|r| Self::upsert_one(&mut state, r, now))
            .collect();
        let mut removed = Vec::new();
        if prune {
            let listed: std::collections::HashSet<&Slug> =
                registrations.iter().map(|r| &r.slug).collect();
            removed = state
                .projects
                .values()
                .filter(|p| p.origin == Origin::File && !listed.contains(&p.slug))
                .map(|p| p.slug.clone())
                .collect();
            for slug in &removed {
                Self::remove(&mut state, slug, reason::PRUNED, now);
            }
        }
        Ok(CatalogApplied { upserted, removed })
    }

    async fn update(
        &self,
        slug: &Slug,
        patch: &ProjectPatch,
    ) -> Result<Option<Project>, RepositoryError> {
        let now = self.now();
        let mut state = self.state()?;
        let Some(p) = state.projects.get_mut(slug) else {
            return Ok(None);
        };
        if let Some(meta) = &patch.metadata {
            p.metadata = meta.apply(&p.metadata).map_err(RepositoryError::Rejected)?;
        }
        if let Some(name) = &patch.name {
            p.name = name.clone();
        }
        if let Some(url) = &patch.hub_url {
            p.hub_url = url.clone();
        }
        if let Some(tags) = &patch.tags {
            p.tags = tags.clone();
        }
        if let Some(interval) = patch.heartbeat_interval {
            p.heartbeat_interval = interval;
        }
        if let Some(key) = patch.heartbeat_key {
            p.heartbeat_key = key.map(Box::new);
        }
        p.updated_at = now;
        let project = p.clone();
        state.append(slug, now, ChangeKind::Updated);
        Ok(Some(project))
    }

    async fn set_maintenance(
        &self,
        slug: &Slug,
        change: &MaintenanceChange,
    ) -> Result<Option<Project>, RepositoryError> {
        let now = self.now();
        let mut state = self.state()?;
        let Some(p) = state.projects.get_mut(slug) else {
            return Ok(None);
        };
        let (maintenance, at, why) = match change {
            MaintenanceChange::Start(m) => (Some(m.clone()), m.since, maintenance_started(m)),
            MaintenanceChange::End { at, reason, due } => {
                match &p.maintenance {
                    Some(m) if !*due || m.until <= *at => {}
                    _ => return Ok(Some(p.clone())),
                }
                (None, *at, reason.clone())
            }
        };
        p.maintenance = maintenance.map(Box::new);
        p.updated_at = now;
        let project = p.clone();
        state.note(&project, why, at);
        state.append(slug, at, ChangeKind::Updated);
        Ok(Some(project))
    }

    async fn get(&self, slug: &Slug) -> Result<Option<Project>, RepositoryError> {
        Ok(self.state()?.projects.get(slug).cloned())
    }

    async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, RepositoryError> {
        let state = self.state()?;
        let mut registry = Registry::new();
        registry.load(Snapshot::of(state.head(), state.projects.values().cloned()));
        Ok(registry.list(filter))
    }

    async fn delete(&self, slug: &Slug, why: &str) -> Result<bool, RepositoryError> {
        let now = self.now();
        let mut state = self.state()?;
        Ok(Self::remove(&mut state, slug, why, now))
    }

    async fn presence_snapshot(&self) -> Result<Vec<PresenceRecord>, RepositoryError> {
        Ok(self
            .state()?
            .projects
            .values()
            .map(|p| PresenceRecord {
                slug: p.slug.clone(),
                status: p.status,
                status_reason: p.status_reason.clone(),
                version: p.version.clone(),
                last_heartbeat_at: p.last_heartbeat_at,
            })
            .collect())
    }

    async fn write_presence(
        &self,
        updates: &[PresenceRecord],
        transitions: &[Transition],
        term: Term,
    ) -> Result<LoggedSteps, RepositoryError> {
        let during = self
            .before_presence_write
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(during) = during {
            during();
        }
        let mut state = self.state()?;
        state.fence(term)?;
        let limit = *self
            .presence_write_limit
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if limit.is_some_and(|limit| state.writes >= limit) {
            return Err(RepositoryError::Unavailable(
                "the store failed this write".into(),
            ));
        }
        state.writes += 1;
        // The steps chain onto the stored statuses, as in the SQL stores.
        let mut stored = transitions
            .iter()
            .filter_map(|t| {
                let p = state.projects.get(&t.slug)?;
                Some((t.slug.as_str().to_owned(), p.status))
            })
            .collect();
        let transitions = crate::model::chain_onto(transitions, &mut stored);
        for u in updates {
            if let Some(p) = state.projects.get_mut(&u.slug) {
                p.status = u.status;
                p.status_reason = u.status_reason.clone();
                p.version = u.version.clone();
                let heartbeat = u.last_heartbeat_at.map(micros);
                if heartbeat > p.last_heartbeat_at {
                    p.last_heartbeat_at = heartbeat;
                }
            }
        }
        let mut first_revision = None;
        for t in &transitions {
            state.record(t.clone());
            let revision = state.append(&t.slug, t.at, ChangeKind::Transition(t.clone()));
            first_revision.get_or_insert(revision);
        }
        Ok(LoggedSteps {
            transitions,
            first_revision,
        })
    }

    async fn write_flapping(&self, marks: &[FlapMark], term: Term) -> Result<(), RepositoryError> {
        let mut state = self.state()?;
        state.fence(term)?;
        for mark in marks {
            let Some(p) = state.projects.get_mut(&mark.slug) else {
                continue;
            };
            if p.flapping_since.is_some() == mark.flapping {
                continue;
            }
            p.flapping_since = mark.flapping.then(|| micros(mark.at));
            state.append(&mark.slug, micros(mark.at), mark.kind());
        }
        Ok(())
    }

    async fn history(
        &self,
        slug: &Slug,
        limit: u32,
    ) -> Result<Option<Vec<Transition>>, RepositoryError> {
        let state = self.state()?;
        // Kept after a removal, reachable by slug.
        if !state.projects.contains_key(slug) && !state.history.contains_key(slug) {
            return Ok(None);
        }
        let mut all = state.history.get(slug).cloned().unwrap_or_default();
        all.reverse();
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(Some(all))
    }

    async fn trim_history(
        &self,
        before: DateTime<Utc>,
        per_project: u32,
    ) -> Result<u64, RepositoryError> {
        let mut state = self.state()?;
        let keep = usize::try_from(per_project).unwrap_or(usize::MAX);
        let mut gone = 0u64;
        for history in state.history.values_mut() {
            let len = history.len();
            // Oldest first: the newest `keep` not older than `before` stay.
            history.retain(|t| t.at >= before);
            let excess = history.len().saturating_sub(keep);
            history.drain(..excess);
            gone += (len - history.len()) as u64;
        }
        Ok(gone)
    }

    async fn ping(&self) -> Result<(), RepositoryError> {
        self.state().map(|_| ())
    }
}

#[async_trait]
impl ChangeLog for MemoryStore {
    async fn snapshot(&self) -> Result<Snapshot, RepositoryError> {
        let state = self.state()?;
        Ok(Snapshot::of(state.head(), state.projects.values().cloned()))
    }

    async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.changes(revision, limit, true)
    }

    async fn events_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.changes(revision, limit, false)
    }

    async fn published_through(&self) -> Result<u64, RepositoryError> {
        Ok(self.state()?.published_through)
    }

    async fn mark_published(&self, revision: u64, term: Term) -> Result<(), RepositoryError> {
        let mut state = self.state()?;
        state.fence(term)?;
        state.published_through = state.published_through.max(revision);
        Ok(())
    }

    async fn trim(&self, before: DateTime<Utc>, keep: u64) -> Result<u64, RepositoryError> {
        let mut state = self.state()?;
        let Some(max) = state.log.last().map(|(r, ..)| *r) else {
            return Ok(0);
        };
        let old = state
            .log
            .iter()
            .filter(|(_, _, at, _)| *at < before)
            .map(|(r, ..)| *r)
            .max()
            .unwrap_or(0);
        let cutoff = old
            .max(max.saturating_sub(keep))
            .min(max - 1)
            .min(state.published_through);
        let before_len = state.log.len();
        state.log.retain(|(r, ..)| *r > cutoff);
        state.trimmed_through = state.trimmed_through.max(cutoff);
        Ok((before_len - state.log.len()) as u64)
    }
}

#[async_trait]
impl Lease for MemoryStore {
    async fn acquire(
        &self,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<Option<Term>, RepositoryError> {
        let now = self.now();
        let until = now + chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::MAX);
        let mut state = self.state()?;
        let term = match &state.lease {
            None => Term(1),
            Some((h, t, _)) if h == holder => *t,
            Some((_, t, expires)) if *expires <= now => Term(t.0 + 1),
            Some(_) => return Ok(None),
        };
        state.lease = Some((holder.to_owned(), term, until));
        Ok(Some(term))
    }

    async fn release(&self, holder: &str) -> Result<(), RepositoryError> {
        let now = self.now();
        let mut state = self.state()?;
        if let Some((h, _, expires)) = &mut state.lease {
            if h == holder {
                *expires = now;
            }
        }
        Ok(())
    }
}
