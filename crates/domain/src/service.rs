//! The use cases: what the API, the NATS adapter and the server's tasks call.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::error::{RepositoryError, ServiceError, ValidationError};
use crate::heartbeat::{self, HeartbeatError};
use crate::model::{
    ListFilter, PresenceRecord, Project, ProjectPage, ProjectPatch, Registration,
    RegistrationInput, Slug, Transition, Upserted,
};
use crate::policy::StatusPolicy;
use crate::ports::{Clock, ProjectRepository, StatusEvents};
use crate::presence::{Flush, GuardState, HeartbeatOutcome, MassExpiry, Presence, StatusCounts};
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
    /// Set when this tick's sweep was a mass expiry.
    pub mass_expiry: Option<MassExpiry>,
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

/// The federation's use cases over the ports.
pub struct Federation {
    repo: Arc<dyn ProjectRepository>,
    events: Arc<dyn StatusEvents>,
    clock: Arc<dyn Clock>,
    /// The presence table's policy, copied so decoding needs no lock.
    policy: StatusPolicy,
    presence: Mutex<Presence>,
    heartbeats: HeartbeatCounters,
    transitions: TransitionCounters,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").finish_non_exhaustive()
    }
}

/// The liveness the store holds for a project it just upserted. A project this table
/// does not know yet (registered through another replica, or before the table was
/// loaded) is adopted with it, so registering again never resets status or last
/// heartbeat; a known one keeps the table's (newer) liveness. A new project comes back
/// `offline` with no heartbeat, as registering gives.
fn stored_liveness(p: &Project) -> PresenceRecord {
    PresenceRecord {
        slug: p.slug.clone(),
        status: p.status,
        status_reason: p.status_reason.clone(),
        version: p.version.clone(),
        last_heartbeat_at: p.last_heartbeat_at,
    }
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

impl Federation {
    /// The use cases over a repository, a status-event publisher, a clock and the presence table.
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
            policy: *presence.policy(),
            presence: Mutex::new(presence),
            heartbeats: HeartbeatCounters::default(),
            transitions: TransitionCounters::default(),
        }
    }

    fn presence(&self) -> MutexGuard<'_, Presence> {
        // The table holds no invariant a panicking holder could half-break beyond one
        // entry, so keep serving rather than poisoning every later heartbeat.
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current time, by the clock the use cases run on.
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
    ///
    /// When this replica registers or deletes a project while the snapshot is read, the
    /// snapshot may be older than the table: the round is skipped (`(0, 0)`) rather than
    /// undoing that change, and the next one catches up.
    pub async fn sync_catalog(&self) -> Result<(usize, usize), RepositoryError> {
        let before = self.presence().membership_changes();
        let snapshot = self.repo.presence_snapshot().await?;
        let mut presence = self.presence();
        if presence.membership_changes() != before {
            return Ok((0, 0));
        }
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
        let mut presence = self.presence();
        presence.adopt(stored_liveness(&upserted.project));
        presence.register(&registration.slug);
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
        for u in &upserted {
            presence.adopt(stored_liveness(&u.project));
        }
        for r in registrations {
            presence.register(&r.slug);
        }
        Ok(upserted)
    }

    /// The project with this slug.
    pub async fn get(&self, slug: &str) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        self.repo
            .get(&slug)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    /// A page of projects matching the filter.
    pub async fn list(&self, filter: &ListFilter) -> Result<ProjectPage, ServiceError> {
        Ok(self.repo.list(filter).await?)
    }

    /// Applies a partial update to the project's descriptive fields.
    pub async fn update(&self, slug: &str, patch: &ProjectPatch) -> Result<Project, ServiceError> {
        let slug = path_slug(slug)?;
        self.repo
            .update(&slug, patch)
            .await?
            .ok_or_else(|| ServiceError::NotFound(slug.to_string()))
    }

    /// Removes the project and its history.
    pub async fn deregister(&self, slug: &str) -> Result<(), ServiceError> {
        let slug = path_slug(slug)?;
        if !self.repo.delete(&slug).await? {
            return Err(ServiceError::NotFound(slug.to_string()));
        }
        self.presence().remove(&slug);
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
            .and_then(|hb| apply_heartbeat(&mut self.presence(), &hb, now));
        self.count_heartbeat(&result);
        result
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
                Ok(hb) => decoded.push((subject, hb)),
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

    fn count_heartbeat(&self, result: &Result<bool, HeartbeatRejected>) {
        self.heartbeats.add(match result {
            Ok(_) => "ok",
            Err(rejected) => rejected.outcome(),
        });
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
            self.transitions.add(t.from, t.to);
        }
        for t in &flush.transitions {
            if let Err(e) = self.events.publish(t).await {
                report.unpublished += 1;
                tracing::warn!(slug = %t.slug, error = %e, "status event not published");
            }
        }
        Ok(report)
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

    /// Number of projects in each status.
    pub fn counts(&self) -> StatusCounts {
        self.presence().counts()
    }

    /// Whether the store answers.
    pub async fn ping_store(&self) -> Result<(), RepositoryError> {
        self.repo.ping().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mockall::Sequence;

    use super::*;
    use crate::error::EventError;
    use crate::model::{PresenceRecord, ProjectName, Status};
    use crate::policy::StatusPolicy;
    use crate::ports::{ManualClock, MockProjectRepository, MockStatusEvents};
    use crate::testing::{secs, slug, t0};

    fn input(s: &str) -> RegistrationInput {
        RegistrationInput {
            slug: Some(s.into()),
            name: Some(format!("Project {s}")),
            hub_url: Some(format!("http://{}.example:8000", s.to_lowercase())),
            mesh_namespace: None,
            tags: Some(vec!["Rust".into()]),
        }
    }

    fn registration(s: &str) -> Registration {
        input(s).validate().unwrap()
    }

    fn project(r: &Registration, status: Status, last: Option<DateTime<Utc>>) -> Project {
        Project {
            id: 1,
            slug: r.slug.clone(),
            name: r.name.clone(),
            hub_url: r.hub_url.clone(),
            mesh_namespace: r.mesh_namespace.clone(),
            status,
            status_reason: None,
            tags: r.tags.clone(),
            version: None,
            last_heartbeat_at: last,
            created_at: t0(),
            updated_at: t0(),
        }
    }

    fn some_project(s: &str) -> Project {
        project(&registration(s), Status::Offline, None)
    }

    /// An upsert that answers like a store holding nothing yet.
    fn upsert_new(repo: &mut MockProjectRepository) {
        repo.expect_upsert().returning(|r| {
            Ok(Upserted {
                project: project(r, Status::Offline, None),
                created: true,
            })
        });
    }

    struct Rig {
        repo: MockProjectRepository,
        events: MockStatusEvents,
        clock: Arc<ManualClock>,
        presence: Presence,
    }

    impl Rig {
        fn new() -> Self {
            Self {
                repo: MockProjectRepository::new(),
                events: MockStatusEvents::new(),
                clock: Arc::new(ManualClock::new(t0())),
                presence: Presence::new(StatusPolicy::default()),
            }
        }

        /// With `slugs` already in the presence table.
        fn with(slugs: &[&str]) -> Self {
            let mut rig = Self::new();
            for s in slugs {
                rig.presence.register(&slug(s));
            }
            rig
        }

        fn build(self) -> (Federation, Arc<ManualClock>) {
            let clock = self.clock.clone();
            let fed = Federation::new(
                Arc::new(self.repo),
                Arc::new(self.events),
                self.clock,
                self.presence,
            );
            (fed, clock)
        }
    }

    fn beat(s: &str) -> Vec<u8> {
        format!(r#"{{"project_slug":"{s}"}}"#).into_bytes()
    }

    fn not_found<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
        match r {
            Err(ServiceError::NotFound(s)) => s,
            other => panic!("expected NotFound, got {other:?}"),
        }
    }

    // ---- register --------------------------------------------------------------------

    #[tokio::test]
    async fn register_validates_before_touching_the_repository() {
        let mut rig = Rig::new();
        rig.repo.expect_upsert().never();
        let (fed, _) = rig.build();
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
        // Nothing reached the presence table either.
        assert_eq!(fed.counts().offline, 0);
    }

    #[tokio::test]
    async fn register_upserts_the_validated_registration_and_accepts_heartbeats_after() {
        let mut rig = Rig::new();
        rig.repo
            .expect_upsert()
            .withf(|r| {
                r.slug.as_str() == "alpha"
                    && r.mesh_namespace.as_str() == "hub.alpha"
                    && r.tags.as_slice()[0].as_str() == "rust"
            })
            .times(1)
            .returning(|r| {
                Ok(Upserted {
                    project: project(r, Status::Offline, None),
                    created: true,
                })
            });
        let (fed, _) = rig.build();
        // Before registering, the heartbeat is for an unknown project.
        let err = fed.record_heartbeat("alpha", &beat("alpha")).unwrap_err();
        assert_eq!(err.outcome(), "unknown_project");

        let up = fed.register(&input("Alpha")).await.unwrap();
        assert!(up.created);
        assert_eq!(up.project.slug.as_str(), "alpha");
        assert_eq!(fed.counts().offline, 1, "offline until the first heartbeat");
        assert!(fed.record_heartbeat("alpha", &beat("alpha")).unwrap());
        assert_eq!(fed.counts().online, 1);
    }

    #[tokio::test]
    async fn register_again_does_not_reset_presence() {
        let mut rig = Rig::new();
        upsert_new(&mut rig.repo);
        rig.repo.expect_write_presence().returning(|_, _| Ok(()));
        rig.events.expect_publish().returning(|_| Ok(()));
        let (fed, clock) = rig.build();
        fed.register(&input("alpha")).await.unwrap();
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.tick().await.unwrap();
        clock.advance(secs(10));
        fed.register(&input("alpha")).await.unwrap();
        assert_eq!(fed.counts().online, 1);
        // And the silence still counts from the heartbeat, not the re-registration.
        clock.set(t0() + secs(60));
        assert_eq!(fed.tick().await.unwrap().transitions, 1);
        assert_eq!(fed.counts().degraded, 1);
    }

    #[tokio::test]
    async fn register_of_a_project_stored_but_unknown_here_keeps_its_stored_liveness() {
        // Registered before (another replica, or before this table was loaded): the
        // store answers with its status, and a re-register must not make it offline.
        let mut rig = Rig::new();
        rig.repo.expect_upsert().returning(|r| {
            Ok(Upserted {
                project: project(r, Status::Online, Some(t0() - secs(5))),
                created: false,
            })
        });
        let (fed, _) = rig.build();
        fed.register(&input("alpha")).await.unwrap();
        assert_eq!(fed.counts().online, 1);
        // No offline → online transition is invented by the next heartbeat.
        assert!(!fed.record_heartbeat("alpha", &beat("alpha")).unwrap());
    }

    #[tokio::test]
    async fn register_reports_repository_failures() {
        let mut rig = Rig::new();
        rig.repo
            .expect_upsert()
            .returning(|_| Err(RepositoryError::Unavailable("down".into())));
        let (fed, _) = rig.build();
        assert!(matches!(
            fed.register(&input("alpha")).await,
            Err(ServiceError::Repository(RepositoryError::Unavailable(_)))
        ));
        // A registration the store did not take is not in the table.
        assert_eq!(fed.counts(), StatusCounts::default());
    }

    // ---- register_all ----------------------------------------------------------------

    #[tokio::test]
    async fn register_all_rejects_duplicate_slugs_naming_the_entry() {
        let mut rig = Rig::new();
        rig.repo.expect_upsert_all().never();
        let (fed, _) = rig.build();
        let regs = [registration("a"), registration("b"), registration("A")];
        match fed.register_all(&regs).await {
            Err(ServiceError::Validation(e)) => {
                assert_eq!(e.field, "projects[2].slug");
                assert_eq!(e.message, "duplicate slug a", "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(fed.counts(), StatusCounts::default());
    }

    #[tokio::test]
    async fn register_all_upserts_in_one_call_and_registers_every_entry() {
        let mut rig = Rig::new();
        rig.repo
            .expect_upsert_all()
            .withf(|regs| regs.len() == 3)
            .times(1)
            .returning(|regs| {
                Ok(regs
                    .iter()
                    .map(|r| Upserted {
                        project: project(r, Status::Offline, None),
                        created: true,
                    })
                    .collect())
            });
        let (fed, _) = rig.build();
        let regs = [registration("a"), registration("b"), registration("c")];
        assert_eq!(fed.register_all(&regs).await.unwrap().len(), 3);
        assert_eq!(fed.counts().offline, 3);
        for s in ["a", "b", "c"] {
            assert!(fed.record_heartbeat(s, &beat(s)).unwrap());
        }
    }

    #[tokio::test]
    async fn register_all_keeps_the_stored_liveness_of_existing_projects() {
        let mut rig = Rig::new();
        rig.repo.expect_upsert_all().returning(|regs| {
            Ok(regs
                .iter()
                .map(|r| Upserted {
                    project: project(r, Status::Online, Some(t0())),
                    created: false,
                })
                .collect())
        });
        let (fed, _) = rig.build();
        fed.register_all(&[registration("a"), registration("b")])
            .await
            .unwrap();
        assert_eq!(fed.counts().online, 2);
    }

    // ---- get, list, update, deregister, history ---------------------------------------

    #[tokio::test]
    async fn get_finds_by_lowercased_slug_and_maps_missing_to_not_found() {
        let mut rig = Rig::new();
        rig.repo
            .expect_get()
            .withf(|s| s.as_str() == "alpha")
            .returning(|s| Ok(Some(some_project(s.as_str()))));
        rig.repo
            .expect_get()
            .withf(|s| s.as_str() == "ghost")
            .returning(|_| Ok(None));
        let (fed, _) = rig.build();
        assert_eq!(fed.get("Alpha").await.unwrap().slug.as_str(), "alpha");
        assert_eq!(not_found(fed.get("ghost").await), "ghost");
    }

    #[tokio::test]
    async fn an_invalid_path_slug_is_not_found_without_asking_the_store() {
        let mut rig = Rig::new();
        rig.repo.expect_get().never();
        rig.repo.expect_update().never();
        rig.repo.expect_delete().never();
        rig.repo.expect_history().never();
        let (fed, _) = rig.build();
        for bad in ["bad_slug", "", "-x", "a b", &"x".repeat(51)] {
            not_found(fed.get(bad).await);
            not_found(fed.update(bad, &ProjectPatch::default()).await);
            not_found(fed.deregister(bad).await);
            not_found(fed.history(bad, 10).await);
        }
        // The echoed name is bounded.
        let long = "é".repeat(500);
        assert_eq!(not_found(fed.get(&long).await).chars().count(), 64);
    }

    #[tokio::test]
    async fn update_passes_the_patch_and_maps_missing_to_not_found() {
        let mut rig = Rig::new();
        rig.repo
            .expect_update()
            .withf(|s, p| s.as_str() == "alpha" && p.name.is_some())
            .returning(|s, p| {
                let mut proj = some_project(s.as_str());
                proj.name = p.name.clone().unwrap();
                Ok(Some(proj))
            });
        rig.repo
            .expect_update()
            .withf(|s, _| s.as_str() == "ghost")
            .returning(|_, _| Ok(None));
        let (fed, _) = rig.build();
        let patch = ProjectPatch {
            name: Some(ProjectName::parse("New").unwrap()),
            ..ProjectPatch::default()
        };
        assert_eq!(
            fed.update("alpha", &patch).await.unwrap().name.as_str(),
            "New"
        );
        assert_eq!(not_found(fed.update("ghost", &patch).await), "ghost");
    }

    #[tokio::test]
    async fn deregister_deletes_and_forgets_presence() {
        let mut rig = Rig::with(&["alpha"]);
        rig.repo
            .expect_delete()
            .withf(|s| s.as_str() == "alpha")
            .times(1)
            .returning(|_| Ok(true));
        rig.repo
            .expect_delete()
            .withf(|s| s.as_str() == "ghost")
            .returning(|_| Ok(false));
        let (fed, _) = rig.build();
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.deregister("ALPHA").await.unwrap();
        assert_eq!(fed.counts(), StatusCounts::default());
        let err = fed.record_heartbeat("alpha", &beat("alpha")).unwrap_err();
        assert_eq!(err.outcome(), "unknown_project");
        assert_eq!(not_found(fed.deregister("ghost").await), "ghost");
    }

    #[tokio::test]
    async fn a_failed_delete_keeps_presence() {
        let mut rig = Rig::with(&["alpha"]);
        rig.repo
            .expect_delete()
            .returning(|_| Err(RepositoryError::Internal("boom".into())));
        let (fed, _) = rig.build();
        assert!(matches!(
            fed.deregister("alpha").await,
            Err(ServiceError::Repository(_))
        ));
        assert!(fed.record_heartbeat("alpha", &beat("alpha")).is_ok());
    }

    #[tokio::test]
    async fn history_passes_the_limit_and_maps_missing_to_not_found() {
        let mut rig = Rig::new();
        rig.repo
            .expect_history()
            .withf(|s, limit| s.as_str() == "alpha" && *limit == 7)
            .returning(|s, _| {
                Ok(Some(vec![Transition {
                    slug: s.clone(),
                    from: Status::Offline,
                    to: Status::Online,
                    reason: Some("heartbeat".into()),
                    at: t0(),
                    last_heartbeat_at: Some(t0()),
                }]))
            });
        rig.repo
            .expect_history()
            .withf(|s, _| s.as_str() == "ghost")
            .returning(|_, _| Ok(None));
        let (fed, _) = rig.build();
        assert_eq!(fed.history("alpha", 7).await.unwrap().len(), 1);
        assert_eq!(not_found(fed.history("ghost", 7).await), "ghost");
    }

    #[tokio::test]
    async fn list_passes_the_filter_through() {
        let mut rig = Rig::new();
        rig.repo
            .expect_list()
            .withf(|f| f.status == Some(Status::Online) && f.limit == 5)
            .returning(|_| {
                Ok(ProjectPage {
                    items: vec![some_project("alpha")],
                    total: 12,
                })
            });
        let (fed, _) = rig.build();
        let filter = ListFilter::parse(Some("online"), None, Some("5"), None).unwrap();
        let page = fed.list(&filter).await.unwrap();
        assert_eq!(page.total, 12);
        assert_eq!(page.items.len(), 1);
    }

    // ---- record_heartbeat ------------------------------------------------------------

    #[test]
    fn record_heartbeat_rejections_have_their_outcome() {
        let (fed, _) = Rig::with(&["alpha"]).build();
        let cases: [(&str, Vec<u8>, &str); 8] = [
            ("ghost", beat("ghost"), "unknown_project"),
            ("alpha", b"not json".to_vec(), "malformed"),
            ("alpha", br#"{"project_slug": 1}"#.to_vec(), "malformed"),
            ("alpha", br#"{"hub_url":"http://x"}"#.to_vec(), "malformed"),
            ("alpha", beat("beta"), "slug_mismatch"),
            (
                "alpha",
                br#"{"project_slug":"alpha","mesh_namespace":"hub.beta"}"#.to_vec(),
                "bad_namespace",
            ),
            (
                "alpha",
                br#"{"project_slug":"alpha","timestamp":"2025-11-18T11:58:29Z"}"#.to_vec(),
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
        assert_eq!(fed.counts().offline, 1);
    }

    #[test]
    fn record_heartbeats_takes_a_batch_as_record_heartbeat_takes_each() {
        let (fed, _) = Rig::with(&["alpha", "beta"]).build();
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
        assert_eq!(c.get("ok"), 3);
        assert_eq!(c.get("unknown_project"), 1);
        assert_eq!(c.get("malformed"), 1);
        assert_eq!(c.get("slug_mismatch"), 1);
        assert_eq!(fed.counts().online, 2);
        assert!(fed.record_heartbeats(Vec::new()).is_empty());
    }

    #[test]
    fn record_heartbeat_judges_timestamps_by_the_clock_and_reports_change() {
        let (fed, clock) = Rig::with(&["alpha"]).build();
        let body = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:00:00Z"}"#;
        assert!(fed.record_heartbeat("alpha", body).unwrap());
        assert!(!fed.record_heartbeat("alpha", body).unwrap(), "no change");
        // The same message 91 s later is a replay.
        clock.advance(secs(91));
        assert_eq!(
            fed.record_heartbeat("alpha", body).unwrap_err().outcome(),
            "replay"
        );
        let degraded = br#"{"project_slug":"alpha","status":"degraded","reasons":["db"]}"#;
        assert!(fed.record_heartbeat("alpha", degraded).unwrap());
        assert_eq!(fed.counts().degraded, 1);
    }

    // ---- tick ------------------------------------------------------------------------

    #[tokio::test]
    async fn tick_writes_one_batch_then_publishes_each_transition_in_order() {
        let mut rig = Rig::with(&["alpha", "beta", "gamma"]);
        let mut seq = Sequence::new();
        rig.repo
            .expect_write_presence()
            .withf(|updates, transitions| {
                let ts: Vec<&str> = transitions.iter().map(|t| t.slug.as_str()).collect();
                let mut us: Vec<&str> = updates.iter().map(|u| u.slug.as_str()).collect();
                us.sort();
                ts == ["beta", "alpha"] && us == ["alpha", "beta"]
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        for s in ["beta", "alpha"] {
            rig.events
                .expect_publish()
                .withf(move |t| t.slug.as_str() == s && t.to == Status::Online)
                .times(1)
                .in_sequence(&mut seq)
                .returning(|_| Ok(()));
        }
        let (fed, _) = rig.build();
        fed.record_heartbeat("beta", &beat("beta")).unwrap();
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        let report = fed.tick().await.unwrap();
        assert_eq!(
            fed.transition_counters()
                .get(Status::Offline, Status::Online),
            2
        );
        assert_eq!(
            report,
            TickReport {
                transitions: 2,
                updates: 2,
                unpublished: 0,
                mass_expiry: None
            }
        );
    }

    #[tokio::test]
    async fn an_idle_tick_touches_neither_store_nor_bus() {
        let mut rig = Rig::with(&["alpha"]);
        rig.repo.expect_write_presence().never();
        rig.events.expect_publish().never();
        let (fed, clock) = rig.build();
        for _ in 0..5 {
            assert_eq!(fed.tick().await.unwrap(), TickReport::default());
            clock.advance(secs(100));
        }
    }

    #[tokio::test]
    async fn heartbeats_without_a_change_are_written_behind_without_events() {
        let mut rig = Rig::with(&["alpha"]);
        let writes = Arc::new(Mutex::new(Vec::new()));
        let w = writes.clone();
        rig.repo.expect_write_presence().returning(move |u, t| {
            w.lock().unwrap().push((u.to_vec(), t.to_vec()));
            Ok(())
        });
        rig.events.expect_publish().times(1).returning(|_| Ok(()));
        let (fed, clock) = rig.build();
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.tick().await.unwrap();
        clock.advance(secs(30));
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        let report = fed.tick().await.unwrap();
        assert_eq!((report.transitions, report.updates), (0, 1));
        let writes = writes.lock().unwrap();
        assert_eq!(writes.len(), 2);
        assert!(writes[1].1.is_empty());
        assert_eq!(writes[1].0[0].last_heartbeat_at, Some(t0() + secs(30)));
    }

    #[tokio::test]
    async fn a_failed_write_publishes_nothing_and_the_next_tick_writes_it_again() {
        let mut rig = Rig::with(&["alpha", "beta"]);
        let written: Arc<Mutex<Vec<Vec<Transition>>>> = Arc::default();
        let mut seq = Sequence::new();
        rig.repo
            .expect_write_presence()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Err(RepositoryError::Unavailable("down".into())));
        let w = written.clone();
        rig.repo
            .expect_write_presence()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_, t| {
                w.lock().unwrap().push(t.to_vec());
                Ok(())
            });
        let published: Arc<Mutex<Vec<String>>> = Arc::default();
        let p = published.clone();
        rig.events.expect_publish().returning(move |t| {
            p.lock().unwrap().push(format!("{}:{}", t.slug, t.to));
            Ok(())
        });
        let (fed, clock) = rig.build();
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        let err = fed.tick().await.unwrap_err();
        assert_eq!((err.transitions, err.updates), (1, 1));
        assert!(published.lock().unwrap().is_empty(), "nothing published");

        clock.advance(secs(1));
        fed.record_heartbeat("beta", &beat("beta")).unwrap();
        let report = fed.tick().await.unwrap();
        assert_eq!((report.transitions, report.updates), (2, 2));
        let written = written.lock().unwrap();
        let slugs: Vec<&str> = written[0].iter().map(|t| t.slug.as_str()).collect();
        assert_eq!(slugs, ["alpha", "beta"], "the kept transition first");
        assert_eq!(written[0][0].at, t0(), "with its original time");
        assert_eq!(*published.lock().unwrap(), ["alpha:online", "beta:online"]);
    }

    #[tokio::test]
    async fn failed_publishes_are_counted_but_do_not_fail_the_tick() {
        let mut rig = Rig::with(&["a", "b", "c"]);
        rig.repo
            .expect_write_presence()
            .times(1)
            .returning(|_, _| Ok(()));
        rig.events
            .expect_publish()
            .times(3)
            .returning(|t| match t.slug.as_str() {
                "b" => Ok(()),
                _ => Err(EventError("no bus".into())),
            });
        let (fed, _) = rig.build();
        for s in ["a", "b", "c"] {
            fed.record_heartbeat(s, &beat(s)).unwrap();
        }
        let report = fed.tick().await.unwrap();
        assert_eq!(report.transitions, 3);
        assert_eq!(report.unpublished, 2);
    }

    #[tokio::test]
    async fn tick_follows_the_clock_and_reports_a_mass_expiry() {
        let slugs = ["a", "b", "c", "d", "e"];
        let mut rig = Rig::with(&slugs);
        rig.repo.expect_write_presence().returning(|_, _| Ok(()));
        rig.events.expect_publish().returning(|_| Ok(()));
        let (fed, clock) = rig.build();
        for s in slugs {
            fed.record_heartbeat(s, &beat(s)).unwrap();
        }
        fed.tick().await.unwrap();
        clock.set(t0() + secs(90));
        let report = fed.tick().await.unwrap();
        assert_eq!(report.transitions, 5);
        let mass = report.mass_expiry.expect("mass expiry");
        assert_eq!((mass.expired, mass.live), (5, 5));
        assert_eq!(fed.last_mass_expiry(), Some(mass));
        assert_eq!(fed.counts().offline, 5);
    }

    // ---- guard through the service ----------------------------------------------------

    #[tokio::test]
    async fn bus_events_are_stamped_with_the_clock() {
        let mut rig = Rig::with(&["alpha"]);
        rig.presence = Presence::with_bus(StatusPolicy::default());
        rig.presence.register(&slug("alpha"));
        rig.repo.expect_write_presence().returning(|_, _| Ok(()));
        rig.events.expect_publish().returning(|_| Ok(()));
        let (fed, clock) = rig.build();
        assert_eq!(fed.guard(), GuardState::LinkDown);
        fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
        fed.tick().await.unwrap();
        clock.set(t0() + secs(500));
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
        clock.set(t0() + secs(589));
        assert_eq!(fed.tick().await.unwrap().transitions, 0);
        clock.set(t0() + secs(590));
        assert_eq!(fed.tick().await.unwrap().transitions, 1);
        fed.bus_disconnected();
        assert_eq!(fed.guard(), GuardState::LinkDown);
    }

    // ---- load and sync_catalog -------------------------------------------------------

    fn stored(s: &str, status: Status, last: Option<DateTime<Utc>>) -> PresenceRecord {
        PresenceRecord {
            slug: slug(s),
            status,
            status_reason: None,
            version: None,
            last_heartbeat_at: last,
        }
    }

    #[tokio::test]
    async fn load_fills_the_table_from_the_store() {
        let mut rig = Rig::new();
        rig.repo.expect_presence_snapshot().times(1).returning(|| {
            Ok(vec![
                stored("a", Status::Online, Some(t0())),
                stored("b", Status::Offline, None),
            ])
        });
        let (fed, _) = rig.build();
        assert_eq!(fed.load().await.unwrap(), 2);
        assert_eq!(
            fed.counts(),
            StatusCounts {
                online: 1,
                degraded: 0,
                offline: 1
            }
        );
    }

    #[tokio::test]
    async fn sync_catalog_adds_new_and_drops_deleted_projects() {
        let mut rig = Rig::with(&["gone", "kept"]);
        rig.repo.expect_presence_snapshot().returning(|| {
            Ok(vec![
                stored("kept", Status::Offline, None),
                stored("new", Status::Online, Some(t0())),
            ])
        });
        let (fed, _) = rig.build();
        fed.record_heartbeat("kept", &beat("kept")).unwrap();
        assert_eq!(fed.sync_catalog().await.unwrap(), (1, 1));
        // The known entry keeps its in-memory liveness, the new one its stored one.
        assert_eq!(
            fed.counts(),
            StatusCounts {
                online: 2,
                degraded: 0,
                offline: 0
            }
        );
        assert_eq!(
            fed.record_heartbeat("gone", &beat("gone"))
                .unwrap_err()
                .outcome(),
            "unknown_project"
        );
        assert!(!fed.record_heartbeat("new", &beat("new")).unwrap());
        // Nothing more to do the second time.
        assert_eq!(fed.sync_catalog().await.unwrap(), (0, 0));
    }

    #[tokio::test]
    async fn heartbeats_are_counted_by_outcome() {
        let rig = Rig::with(&["known"]);
        let (fed, _) = rig.build();
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
}
