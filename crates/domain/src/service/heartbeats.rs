//! Heartbeats in: decoding, the heartbeat-key rule, clock skew, the counters, and what
//! the bus adapter reports about the link.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

use crate::bus_permissions::{BusDenial, BusDenials, BusOperation, DeniedUse};
use crate::heartbeat::{self, HeartbeatError};
use crate::model::{HeartbeatCredential, Project, Slug};
use crate::policy::StatusPolicy;
use crate::ports::HeartbeatRelay;
use crate::presence::{GuardState, HeartbeatOutcome, Presence, ProjectBeats};
use crate::replication::Registry;
use crate::stats::{ClockSkew, HeartbeatCounters};

use super::state::State;

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

/// A sender's clock further off than this (seconds) is logged, once per project.
const SKEW_LOGGED_OVER: f64 = 5.0;
/// At most one skew warning this often; the projects found off meanwhile are counted in
/// the next one (a replica that lags behind its queue would otherwise log every project).
const SKEW_LOG_EVERY: TimeDelta = TimeDelta::seconds(60);
/// A project's `clock_skew_seconds` is updated when the skew moves by this much.
const SKEW_FIELD_STEP: f64 = 1.0;

/// The projects whose sender's clock was found off (each counted once), and when a
/// warning last said so.
#[derive(Debug, Default)]
pub(super) struct SkewLog {
    pub(super) projects: std::collections::HashSet<Slug>,
    pub(super) last: Option<DateTime<Utc>>,
    pub(super) unlogged: usize,
}

impl SkewLog {
    /// Notes that `slug`'s clock is off; when a warning is due (the project is new here
    /// and none was logged within [`SKEW_LOG_EVERY`]), how many projects it speaks for.
    pub(super) fn note(&mut self, slug: &Slug, now: DateTime<Utc>) -> Option<usize> {
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

/// The heartbeat path: decoding, the key rule, clock skew, the counters, and the bus
/// link's signals to the presence table.
pub(super) struct Intake {
    state: Arc<State>,
    /// The presence table's policy, copied so decoding needs no lock.
    policy: StatusPolicy,
    /// How heartbeats taken over HTTP reach the other replicas.
    relay: Arc<dyn HeartbeatRelay>,
    counters: HeartbeatCounters,
    clock_skew: ClockSkew,
    /// Projects whose sender's clock was found off, and when that was last logged.
    skew_logged: Mutex<SkewLog>,
    /// What the bus refused us.
    denials: Mutex<BusDenials>,
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

impl Intake {
    pub(super) fn new(
        state: Arc<State>,
        policy: StatusPolicy,
        relay: Arc<dyn HeartbeatRelay>,
    ) -> Self {
        Self {
            state,
            policy,
            relay,
            counters: HeartbeatCounters::default(),
            clock_skew: ClockSkew::default(),
            skew_logged: Mutex::new(SkewLog::default()),
            denials: Mutex::new(BusDenials::default()),
        }
    }

    pub(super) fn check_heartbeat_key(
        &self,
        subject_slug: &str,
        credential: &HeartbeatCredential,
    ) -> Result<bool, HeartbeatRejected> {
        let Ok(slug) = Slug::parse(subject_slug) else {
            return Ok(false);
        };
        let Some(digest) = self
            .state
            .registry()
            .get(&slug)
            .and_then(|p| p.heartbeat_key.as_deref().copied())
        else {
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
                self.counters.add(e.outcome());
                Err(e)
            }
        }
    }

    pub(super) fn record_heartbeat(
        &self,
        subject_slug: &str,
        bytes: &[u8],
    ) -> Result<bool, HeartbeatRejected> {
        let now = self.state.clock.now();
        let window = heartbeat::Window::new(now, &self.policy);
        let checked = {
            let registry = self.state.registry();
            self.check(
                &registry,
                registry.get(subject_slug),
                subject_slug,
                bytes,
                (now, &window),
            )
        };
        let result = checked.and_then(|(hb, skew)| {
            self.store_skews([(&hb.slug, skew)]);
            apply_heartbeat(&mut self.state.presence(), &hb, now)
        });
        if let Err(HeartbeatRejected::Invalid(_)) = &result {
            self.count_refused(&mut self.state.presence(), subject_slug);
        }
        self.count_heartbeat(&result);
        result
    }

    /// Decodes a heartbeat and holds it against its project in `registry` (the caller
    /// holds the lock, once for a batch; `by_subject` is the project its subject names,
    /// as the caller looked it up): the registered hub URL, the claimed namespace (an
    /// unknown project is judged later, by the presence table), and the sender's clock
    /// (read once per batch, with its window). Returns it with the skew to store on its
    /// project, when that moved.
    fn check(
        &self,
        registry: &Registry,
        by_subject: Option<&Project>,
        subject_slug: &str,
        bytes: &[u8],
        (now, window): (DateTime<Utc>, &heartbeat::Window),
    ) -> Result<(heartbeat::Heartbeat, Option<f64>), HeartbeatRejected> {
        let hb = heartbeat::decode(
            subject_slug,
            bytes,
            window,
            by_subject.map(|p| heartbeat::Registered {
                slug: &p.slug,
                hub_url: &p.hub_url,
            }),
        )?;
        let project = by_subject.or_else(|| registry.get(&hb.slug));
        if let Some(project) = project {
            hb.namespace
                .check(&hb.slug, project.mesh_namespace.as_str())?;
        }
        let skew = self.note_skew(&hb, project, now);
        Ok((hb, skew))
    }

    /// Counts a refused heartbeat on the project its subject (or path) names, when that
    /// is a registered project.
    fn count_refused(&self, presence: &mut Presence, subject_slug: &str) {
        if let Ok(slug) = Slug::parse(subject_slug) {
            presence.count_refused(&slug);
        }
    }

    pub(super) async fn accept_heartbeat(
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

    pub(super) fn record_heartbeats<'a, I>(&self, batch: I) -> Vec<(&'a str, HeartbeatRejected)>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let now = self.state.clock.now();
        let window = heartbeat::Window::new(now, &self.policy);
        let mut rejected = Vec::new();
        let mut checked = Vec::new();
        {
            // One registry lock for the batch, as the presence lock below.
            let registry = self.state.registry();
            for (subject, bytes) in batch {
                let by_subject = registry.get(subject);
                // A stranger is refused before it is decoded (the bus adapter lets
                // strangers into its queue while the queue has room, see `is_member`).
                let beat = if by_subject.is_none() && !member_in_lowercase(&registry, subject) {
                    Err(HeartbeatRejected::UnknownProject(subject.to_owned()))
                } else {
                    self.check(&registry, by_subject, subject, bytes, (now, &window))
                };
                match beat {
                    Ok(beat) => checked.push((subject, beat)),
                    Err(e) => {
                        self.counters.add(e.outcome());
                        rejected.push((subject, e));
                    }
                }
            }
        }
        self.store_skews(checked.iter().map(|(_, (hb, skew))| (&hb.slug, *skew)));
        let mut presence = self.state.presence();
        for (subject, _) in &rejected {
            self.count_refused(&mut presence, subject);
        }
        for (subject, (hb, _)) in &checked {
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
    /// Returns the skew to store on `project` when it moved by [`SKEW_FIELD_STEP`] or
    /// more, so the registry's write lock is not taken for every heartbeat.
    fn note_skew(
        &self,
        hb: &heartbeat::Heartbeat,
        project: Option<&Project>,
        now: DateTime<Utc>,
    ) -> Option<f64> {
        let sent_at = hb.sent_at?;
        #[expect(clippy::cast_precision_loss, reason = "a metric")]
        let skew = (now - sent_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
        self.clock_skew.observe(skew);
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
        project
            .is_some_and(|p| {
                p.clock_skew_seconds
                    .is_none_or(|old| (old - skew).abs() >= SKEW_FIELD_STEP)
            })
            .then(|| (skew * 1000.0).round() / 1000.0)
    }

    /// Stores the skews [`Self::note_skew`] found moved, under one write lock (none
    /// when nothing moved).
    fn store_skews<'s>(&self, skews: impl IntoIterator<Item = (&'s Slug, Option<f64>)>) {
        let mut moved = skews
            .into_iter()
            .filter_map(|(slug, skew)| Some((slug, skew?)))
            .peekable();
        if moved.peek().is_some() {
            let mut registry = self.state.registry_mut();
            for (slug, skew) in moved {
                registry.note_skew(slug, skew);
            }
        }
    }

    pub(super) fn clock_skew(&self) -> &crate::stats::ClockSkew {
        &self.clock_skew
    }

    pub(super) fn count_heartbeat(&self, result: &Result<bool, HeartbeatRejected>) {
        self.counters.add(match result {
            Ok(_) => "ok",
            Err(rejected) => rejected.outcome(),
        });
    }

    pub(super) fn is_member(&self, token: &str) -> bool {
        is_member(&self.state.registry(), token)
    }

    pub(super) fn count_unknown_heartbeat(&self) {
        self.counters.add("unknown_project");
    }

    pub(super) fn count_dropped_heartbeat(&self) {
        self.counters.add("dropped");
    }

    pub(super) fn heartbeat_counters(&self) -> &HeartbeatCounters {
        &self.counters
    }

    pub(super) fn beats_by_project(&self, at_most: usize) -> Option<Vec<ProjectBeats>> {
        let presence = self.state.presence();
        (presence.len() <= at_most).then(|| presence.beats().collect())
    }

    pub(super) fn bus_connected(&self) {
        let now = self.state.clock.now();
        self.state.presence().bus_connected(now);
    }

    pub(super) fn bus_disconnected(&self) {
        let now = self.state.clock.now();
        self.state.presence().bus_disconnected(now);
    }

    pub(super) fn canary_sent(&self) {
        let now = self.state.clock.now();
        self.state.presence().canary_sent(now);
    }

    pub(super) fn canary_received(&self) {
        let now = self.state.clock.now();
        self.state.presence().canary_received(now);
        self.denials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear(DeniedUse::Canary);
    }

    pub(super) fn bus_denied(&self, use_: DeniedUse, operation: BusOperation, subject: &str) {
        let now = self.state.clock.now();
        self.denials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(use_, operation, subject, now);
        if use_ == DeniedUse::Canary {
            self.state.presence().canary_denied(now);
        }
    }

    pub(super) fn bus_permission_works(&self, use_: DeniedUse) {
        self.denials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear(use_);
    }

    pub(super) fn bus_denials(&self) -> (Vec<BusDenial>, [(DeniedUse, u64); 5]) {
        let now = self.state.clock.now();
        let denials = self.denials.lock().unwrap_or_else(|p| p.into_inner());
        (denials.current(now), denials.totals())
    }

    pub(super) fn guard(&self) -> GuardState {
        let now = self.state.clock.now();
        self.state.presence().guard(now)
    }

    pub(super) fn unheard(
        &self,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> chrono::TimeDelta {
        self.state.presence().unheard(from, to)
    }
}

/// Whether a heartbeat's subject token names a registered project (as given, or
/// lowercased, as a slug is parsed).
fn is_member(registry: &Registry, token: &str) -> bool {
    registry.contains(token) || member_in_lowercase(registry, token)
}

/// Whether a token with capitals names a registered project once lowercased (the
/// second half of [`is_member`], for a caller that already searched the token as given).
fn member_in_lowercase(registry: &Registry, token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_uppercase()) && registry.contains(&token.to_ascii_lowercase())
}
