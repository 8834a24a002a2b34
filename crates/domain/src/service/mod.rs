//! The use cases: what the API, the NATS adapter and the server's tasks call.
//!
//! One [`Federation`] per replica: a front to its concerns, each an object of its own
//! with the ports it needs: `catalog` (registrations, reads, maintenance windows),
//! `heartbeats` (heartbeats in, the bus link's signals), `sweep` (the tick: the leader
//! writes, publishes, expires) and `replica` (the sweeper lease, retention). What they
//! all share is `state`: the registry, the presence table and leadership, and following
//! the change log that fills them.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::bus_permissions::{BusDenial, BusOperation, DeniedUse};
use crate::error::{RepositoryError, ServiceError};
use crate::model::{
    CatalogApplied, CatalogPlan, HeartbeatCredential, HeartbeatKeyDigest, ListFilter,
    MaintenanceInput, Project, ProjectPage, ProjectPatch, Registration, RegistrationInput,
    Transition, Upserted,
};
use crate::ports::{ChangeLog, Clock, HeartbeatRelay, Lease, ProjectRepository, StatusEvents};
use crate::presence::{GuardState, MassExpiry, Presence, StatusCounts};
use crate::replication::{ChangesSince, RenderedPage, Renderer, Role, Snapshot, Summary};
use crate::stats::{HeartbeatCounters, TransitionCounters};
use bytes::Bytes;

mod catalog;
mod heartbeats;
mod replica;
mod state;
mod sweep;
#[cfg(test)]
mod tests;
mod unconfirmed;

pub use heartbeats::HeartbeatRejected;
pub use replica::ReplicaOptions;
pub use state::ChangeListener;
pub use sweep::{FlushFailed, TickReport};

use catalog::Catalog;
use heartbeats::Intake;
use replica::Replica;
use state::State;
use sweep::Sweep;

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

/// The federation's use cases over the ports: a front to the concerns, which share
/// one `State` (the registry, the presence table, leadership).
pub struct Federation {
    state: Arc<State>,
    catalog: Catalog,
    intake: Intake,
    sweep: Sweep,
    replica: Replica,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation").finish_non_exhaustive()
    }
}

impl Federation {
    /// The use cases over the ports, with the presence table and this replica's place
    /// among the others.
    pub fn new(ports: Ports, presence: Presence, replica: ReplicaOptions) -> Self {
        let policy = *presence.policy();
        let state = Arc::new(State::new(
            ports.clock,
            ports.log,
            presence,
            replica.flapping,
        ));
        Self {
            catalog: Catalog::new(state.clone(), ports.repo.clone()),
            intake: Intake::new(state.clone(), policy, ports.relay),
            sweep: Sweep::new(state.clone(), ports.repo.clone(), ports.events),
            replica: Replica::new(state.clone(), ports.repo, ports.lease, replica),
            state,
        }
    }

    /// Calls `listener` with every batch of changes this replica applies, after the
    /// registry holds them (the change stream, blocking queries).
    pub fn on_change(&self, listener: ChangeListener) {
        self.state.on_change(listener)
    }

    /// The current time, by the clock the use cases run on.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.now()
    }

    /// Loads the registry and the presence table from the store (at start).
    pub async fn load(&self) -> Result<usize, RepositoryError> {
        self.state.load().await
    }

    /// The change-log revision the registry has applied.
    pub fn revision(&self) -> u64 {
        self.state.revision()
    }

    /// This replica's part in the sweep.
    pub fn role(&self) -> Role {
        self.state.role()
    }

    /// Whether this replica leads with a lease the store confirmed within its TTL. A
    /// leader cut off from the store keeps its role (the store fences its writes if
    /// another took over) but does not count as leading here: `/ready` and the
    /// `federation_replica_leader` gauge then say `leader_unconfirmed`.
    pub fn leads(&self) -> bool {
        self.replica.leads()
    }

    /// `leader`, `leader_unconfirmed` (see [`Self::leads`]) or `follower`.
    pub fn role_name(&self) -> &'static str {
        self.replica.role_name()
    }

    /// How long ago this replica last read the change log to its end (`None`: never).
    pub fn follower_lag(&self) -> Option<TimeDelta> {
        self.state.follower_lag()
    }

    /// Transitions this replica's table saw while following that the log has not
    /// recorded yet (kept, bounded, for a promotion to write with their times).
    pub fn unconfirmed_transitions(&self) -> usize {
        self.state.unconfirmed().len()
    }

    /// Applies every change after the registry's revision, in order (woken by the
    /// store's notifications, and after this replica's own writes). When the log was
    /// trimmed past that revision, reloads the whole catalog. Returns how many changes
    /// were applied.
    pub async fn follow(&self) -> Result<usize, RepositoryError> {
        self.state.follow().await
    }

    /// [`Federation::follow`] when the log is known to have reached `revision` (a
    /// change notification says so): nothing to read if the registry has applied it
    /// already, as after this replica's own writes.
    pub async fn follow_to(&self, revision: u64) -> Result<usize, RepositoryError> {
        self.state.follow_to(Some(revision)).await
    }

    /// Replaces the registry (and the presence table's membership) with a snapshot, as
    /// after falling behind a trim. Also for tests that start from a given catalog.
    pub fn restore(&self, snapshot: Snapshot) {
        self.state.restore(snapshot)
    }

    /// Changes after `revision` from the log, oldest first, at most `limit` (a change
    /// stream resuming where its client left off), or [`ChangesSince::Trimmed`].
    pub async fn changes_since(
        &self,
        revision: u64,
        limit: u32,
    ) -> Result<ChangesSince, RepositoryError> {
        self.state.changes_since(revision, limit).await
    }

    /// Takes or renews the sweeper lease (every tick). On promotion, first applies
    /// everything the previous leader wrote, then leads. A replica that cannot reach
    /// the store keeps its role: the store fences its writes if another took over.
    pub async fn campaign(&self) -> Result<Role, RepositoryError> {
        self.replica.campaign().await
    }

    /// Gives the lease up (a clean stop), after the last flush.
    pub async fn resign(&self) {
        self.replica.resign().await
    }

    /// Trims the change log (the leader, now and then).
    pub async fn trim_log(&self) -> Result<u64, RepositoryError> {
        self.replica.trim_log().await
    }

    /// Applies the history's retention (the leader, now and then): transitions older
    /// than `history_retention`, and each project's beyond its newest
    /// `history_max_per_project`, are deleted.
    pub async fn trim_history(&self) -> Result<u64, RepositoryError> {
        self.replica.trim_history().await
    }

    /// Registers or updates a project. `created` tells which.
    pub async fn register(&self, input: &RegistrationInput) -> Result<Upserted, ServiceError> {
        self.catalog.register(input).await
    }

    /// Registers every entry in one transaction (bulk registration): all or none.
    pub async fn register_all(
        &self,
        registrations: &[Registration],
    ) -> Result<Vec<Upserted>, ServiceError> {
        self.catalog.register_all(registrations).await
    }

    /// What applying `registrations` (with `prune`) would change, from the registry.
    pub fn plan_catalog(&self, registrations: &[Registration], prune: bool) -> CatalogPlan {
        self.catalog.plan_catalog(registrations, prune)
    }

    /// Applies a catalog in one transaction, all or none: registers every entry and,
    /// with `prune`, removes the projects the file registered and no longer lists.
    pub async fn apply_catalog(
        &self,
        registrations: &[Registration],
        prune: bool,
    ) -> Result<CatalogApplied, ServiceError> {
        self.catalog.apply_catalog(registrations, prune).await
    }

    /// A project as the registry holds it (memory: no store round trip), with the
    /// revision it reflects.
    pub fn get(&self, slug: &str) -> Result<(Project, u64), ServiceError> {
        self.catalog.get(slug)
    }

    /// A page of the registry (memory).
    pub fn list(&self, filter: &ListFilter) -> ProjectPage {
        self.catalog.list(filter)
    }

    /// The slugs of the projects [`Federation::list`] lists, without copying them.
    pub fn slugs(&self, filter: &ListFilter) -> Vec<crate::model::Slug> {
        self.catalog.slugs(filter)
    }

    /// Calls `each` with every project, in slug order, without copying the catalog
    /// (a million projects are about 400 MB). The registry's read lock is held
    /// throughout: `each` is to be quick, and must not call the federation.
    pub fn for_each_project(&self, each: impl FnMut(&Project)) {
        self.state.registry().projects().for_each(each);
    }

    /// [`Federation::get`] as `render` renders the project: its bytes are made once per
    /// change of the project and shared by every read until the next (see
    /// [`crate::Registry::rendered`]).
    pub fn get_rendered(&self, slug: &str, render: Renderer) -> Result<(Bytes, u64), ServiceError> {
        self.catalog.get_rendered(slug, render)
    }

    /// [`Federation::list`] with each project as `render` renders it (made once per
    /// change), and the registry's generation the page was read at.
    pub fn list_rendered(&self, filter: &ListFilter, render: Renderer) -> RenderedPage {
        self.catalog.list_rendered(filter, render)
    }

    /// How many projects `filter` matches (its paging aside), and the revision, when
    /// more than `more_than` do (see [`crate::Registry::matching_more_than`]): the head
    /// of a list read in parts.
    pub fn matching_more_than(&self, filter: &ListFilter, more_than: u64) -> Option<(u64, u64)> {
        self.catalog.matching_more_than(filter, more_than)
    }

    /// One part of a list read in parts (see [`crate::Registry::part_rendered`]): the
    /// projects, and the cursor of the next part (`None`: none follows).
    pub fn part_rendered(
        &self,
        filter: &ListFilter,
        after: Option<&crate::Slug>,
        limit: usize,
        render: Renderer,
    ) -> (Vec<Bytes>, Option<crate::Slug>) {
        self.catalog.part_rendered(filter, after, limit, render)
    }

    /// The registry's generation: it grows whenever anything it holds changes (liveness
    /// included), so something derived from a read stays good while it stays.
    pub fn generation(&self) -> u64 {
        self.state.registry().generation()
    }

    /// Projects by recorded status (the registry: the same on every replica).
    pub fn counts(&self) -> StatusCounts {
        self.catalog.counts()
    }

    /// Counts by status and tag, the offline project silent the longest, the revision.
    pub fn summary(&self) -> Summary {
        self.catalog.summary()
    }

    /// Applies a partial update to the project's descriptive fields.
    pub async fn update(&self, slug: &str, patch: &ProjectPatch) -> Result<Project, ServiceError> {
        self.catalog.update(slug, patch).await
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
        self.catalog.start_maintenance(slug, input, by).await
    }

    /// Ends a project's maintenance window now (the normal rules apply at once). A
    /// project not in maintenance is returned as it is.
    pub async fn end_maintenance(&self, slug: &str, by: &str) -> Result<Project, ServiceError> {
        self.catalog.end_maintenance(slug, by).await
    }

    /// Removes the project and its history.
    pub async fn deregister(&self, slug: &str) -> Result<(), ServiceError> {
        self.catalog.deregister(slug).await
    }

    /// The project's latest status changes, newest first, at most `limit`.
    pub async fn history(&self, slug: &str, limit: u32) -> Result<Vec<Transition>, ServiceError> {
        self.catalog.history(slug, limit).await
    }

    /// Makes `key` the project's heartbeat key (replacing any other), or with `None`
    /// removes it. A catalog change (`updated` in the log, so every replica follows);
    /// status and liveness stay as they are.
    pub async fn set_heartbeat_key(
        &self,
        slug: &str,
        key: Option<HeartbeatKeyDigest>,
    ) -> Result<Project, ServiceError> {
        self.catalog.set_heartbeat_key(slug, key).await
    }

    /// Whether the store answers.
    pub async fn ping_store(&self) -> Result<(), RepositoryError> {
        self.catalog.ping_store().await
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
        self.intake.check_heartbeat_key(subject_slug, credential)
    }

    /// Decodes and records a heartbeat that arrived for `subject_slug`. Memory only: the
    /// next tick persists it. Returns whether the project's status changed.
    pub fn record_heartbeat(
        &self,
        subject_slug: &str,
        bytes: &[u8],
    ) -> Result<bool, HeartbeatRejected> {
        self.intake.record_heartbeat(subject_slug, bytes)
    }

    /// A heartbeat taken over HTTP: recorded here, then relayed to the other replicas
    /// (a relay failure is logged: this replica has it, and while the bus is down no
    /// replica expires anyone for silence).
    pub async fn accept_heartbeat(
        &self,
        subject_slug: &str,
        bytes: &[u8],
    ) -> Result<bool, HeartbeatRejected> {
        self.intake.accept_heartbeat(subject_slug, bytes).await
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
        self.intake.record_heartbeats(batch)
    }

    /// How far senders' clocks are from ours.
    pub fn clock_skew(&self) -> &crate::stats::ClockSkew {
        self.intake.clock_skew()
    }

    /// Whether a heartbeat on this subject token can be for a registered project: a
    /// cheap lookup (a read lock on the registry, no allocation for a lowercase token)
    /// an adapter makes before a message takes a place in its ingest queue, so a flood
    /// for unknown slugs cannot crowd out the members' heartbeats.
    pub fn is_member(&self, token: &str) -> bool {
        self.intake.is_member(token)
    }

    /// Counts a heartbeat an adapter refused for an unknown slug before it reached the
    /// use cases (see [`Self::is_member`]).
    pub fn count_unknown_heartbeat(&self) {
        self.intake.count_unknown_heartbeat()
    }

    /// Counts a heartbeat an adapter had to drop before it reached the use cases
    /// (its queue was full).
    pub fn count_dropped_heartbeat(&self) {
        self.intake.count_dropped_heartbeat()
    }

    /// Heartbeats by outcome since start.
    pub fn heartbeat_counters(&self) -> &HeartbeatCounters {
        self.intake.heartbeat_counters()
    }

    /// Each registered project's heartbeats since start (recorded, refused), in no
    /// order; `None` when more than `at_most` projects are registered.
    pub fn beats_by_project(&self, at_most: usize) -> Option<Vec<crate::presence::ProjectBeats>> {
        self.intake.beats_by_project(at_most)
    }

    /// The link to the bus is up (ends a `LinkDown` guard).
    pub fn bus_connected(&self) {
        self.intake.bus_connected()
    }

    /// The link to the bus is down: silence stops counting.
    pub fn bus_disconnected(&self) {
        self.intake.bus_disconnected()
    }

    /// A canary heartbeat was published.
    pub fn canary_sent(&self) {
        self.intake.canary_sent()
    }

    /// A canary heartbeat came back through the subscription.
    pub fn canary_received(&self) {
        self.intake.canary_received()
    }

    /// The bus server refused a publish or a subscription of ours (a refused canary
    /// stops counting: the guard follows the link alone until one comes back).
    pub fn bus_denied(&self, use_: DeniedUse, operation: BusOperation, subject: &str) {
        self.intake.bus_denied(use_, operation, subject)
    }

    /// A permission the bus refused was seen working again.
    pub fn bus_permission_works(&self, use_: DeniedUse) {
        self.intake.bus_permission_works(use_)
    }

    /// The refusals current now, and how many of each use there were since start.
    pub fn bus_denials(&self) -> (Vec<BusDenial>, [(DeniedUse, u64); 5]) {
        self.intake.bus_denials()
    }

    /// The partition guard's state.
    pub fn guard(&self) -> GuardState {
        self.intake.guard()
    }

    /// The time within `[from, to]` this replica could not hear the bus (the partition
    /// guard): silence that spans it may be the service's own fault.
    pub fn unheard(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> chrono::TimeDelta {
        self.intake.unheard(from, to)
    }

    /// Applies the clock to the presence table. The leader then writes the batch in one
    /// fenced store call and publishes the transitions from the log; a follower writes
    /// nothing (the leader records, and the log brings it here) and only keeps the heard
    /// heartbeat times in its registry. A batch the store refuses is kept for the next
    /// tick, so no status change is lost while the store is down; a batch refused by
    /// the fence is dropped, as this replica no longer leads.
    pub async fn tick(&self) -> Result<TickReport, FlushFailed> {
        self.sweep.tick(false).await
    }

    /// An early round: writes (as the leader) only the statuses heartbeats changed since
    /// the last tick or round, without applying the clock to every project, so the
    /// change shows at once instead of at the next tick. A follower keeps them as a tick
    /// would (the log confirms them).
    pub async fn flush_changes(&self) -> Result<TickReport, FlushFailed> {
        self.sweep.tick(true).await
    }

    /// Whether some project's status may change by the clock now: a tick now would
    /// find it (see [`crate::presence::Presence::due`]).
    pub fn clock_due(&self) -> bool {
        let now = self.state.clock.now();
        self.state.presence().due(now)
    }

    /// How many statuses heartbeats changed since the last tick (see
    /// [`crate::presence::Presence::pending`]).
    pub fn transitions_waiting(&self) -> usize {
        self.state.presence().pending()
    }

    /// Applies the clock without writing anything: for ticks while the store refuses
    /// batches, so transitions keep their real times until a flush gets through.
    pub fn advance(&self) -> Option<MassExpiry> {
        self.sweep.advance()
    }

    /// Projects removed by expiry since start (this replica as leader).
    pub fn expired_total(&self) -> u64 {
        self.sweep.expired_total()
    }

    /// How many projects are in a maintenance window now.
    pub fn in_maintenance(&self) -> usize {
        self.sweep.in_maintenance()
    }

    /// Transitions stored, by (from, to), since start.
    pub fn transition_counters(&self) -> &TransitionCounters {
        self.sweep.transition_counters()
    }

    /// How long the project offline the longest has been offline (counted from its
    /// last heartbeat plus `offline_after`); `None` when no project that ever sent a
    /// heartbeat is offline.
    pub fn longest_offline(&self) -> Option<chrono::TimeDelta> {
        self.sweep.longest_offline()
    }

    /// Whether the change log this replica applied has `slug` flapping.
    pub fn is_flapping(&self, slug: &crate::model::Slug) -> bool {
        self.state.flaps().is_flapping(slug)
    }

    /// The last sweep that expired a large share of the live projects at once.
    pub fn last_mass_expiry(&self) -> Option<MassExpiry> {
        self.sweep.last_mass_expiry()
    }
}

/// The uptime rollups count the projects registered now, a page at a time (each page
/// read under the registry's lock, released between pages).
impl crate::uptime::Roster for Federation {
    fn members_after(
        &self,
        after: Option<&crate::model::Slug>,
        limit: usize,
    ) -> Vec<crate::uptime::Member> {
        self.state.registry().members_after(after, limit)
    }
}
