//! The leader's incident desk: runs the domain's [`IncidentTracker`] over the change log
//! ahead of the channels, records what it decides (fenced by the lease term) before any
//! channel tells it, and keeps the events by revision for the channels' watches.
//!
//! A new leader takes up the incidents its predecessor recorded: open ones continue,
//! and the events of those a channel's replay may meet are rebuilt from the store, so
//! members are not told one by one after a failover either. Offline transitions that
//! were waiting within the window when the old leader stopped are not carried over.

use std::sync::Arc;

use federation_domain::incident::{
    Incident, IncidentEvent, IncidentLog, IncidentSettings, IncidentTracker,
};
use federation_domain::notify::{Message, Watch};
use federation_domain::{Change, Federation, RepositoryError, Status, Term};

/// The tracker of one term, and its events in log order.
pub(crate) struct Desk {
    tracker: IncidentTracker,
    /// The tracker has seen every change up to here; channels read no further.
    pub(crate) read_through: u64,
    /// `(sequence, revision, event)`, revisions never decreasing.
    events: Vec<(u64, u64, IncidentEvent)>,
    next_seq: u64,
    /// When this process began listening: earlier time counts as unheard (a restart
    /// after downtime is the service's gap, not the fleet's).
    started: chrono::DateTime<chrono::Utc>,
}

impl Desk {
    /// The desk of a new term: the fleet from the registry, the incidents from the
    /// store; members of an open incident that are back already are recorded so.
    pub(crate) async fn open(
        federation: &Federation,
        log: &Arc<dyn IncidentLog>,
        settings: IncidentSettings,
        term: Term,
        after: u64,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Result<Self, RepositoryError> {
        let head = federation.revision();
        let mut tracker = IncidentTracker::new(settings);
        federation.for_each_project(|p| tracker.know(p));
        let mut desk = Self {
            tracker,
            read_through: head,
            events: Vec::new(),
            next_seq: 0,
            started,
        };
        let mut rebuilt = Vec::new();
        for incident in log.incidents_after(after).await? {
            rebuilt.extend(rebuild(&incident));
            desk.tracker.restore(incident);
        }
        // Several incidents' events interleave: in revision order (stable).
        rebuilt.sort_by_key(|(r, _)| *r);
        for (r, e) in rebuilt {
            desk.push(r, e);
        }
        let now = federation.now();
        let offline = |slug: &str| {
            federation
                .get(slug)
                .is_ok_and(|(p, _)| p.status == Status::Offline)
        };
        let reconciled = desk.tracker.reconcile(offline, head, now);
        if !reconciled.is_empty() {
            log.record_incident_events(&reconciled, term).await?;
            for e in reconciled {
                desk.push(head, e);
            }
        }
        Ok(desk)
    }

    fn push(&mut self, revision: u64, event: IncidentEvent) {
        self.events.push((self.next_seq, revision, event));
        self.next_seq += 1;
    }

    /// Runs the tracker over `changes` (in order, after `read_through`) and records
    /// what it decides; channels may then read up to the last of them.
    pub(crate) async fn track(
        &mut self,
        federation: &Federation,
        log: &Arc<dyn IncidentLog>,
        term: Term,
        changes: &[Change],
    ) -> Result<(), RepositoryError> {
        let mut decided = Vec::new();
        for change in changes.iter().filter(|c| c.revision > self.read_through) {
            for e in self.tracker.apply(change, |from, to| {
                let before_start = (to.min(self.started) - from).max(chrono::TimeDelta::zero());
                federation.unheard(from, to) + before_start
            }) {
                decided.push((change.revision, e));
            }
        }
        if !decided.is_empty() {
            let events: Vec<IncidentEvent> = decided.iter().map(|(_, e)| e.clone()).collect();
            log.record_incident_events(&events, term).await?;
            for (r, e) in decided {
                self.push(r, e);
            }
        }
        if let Some(last) = changes.last() {
            self.read_through = self.read_through.max(last.revision);
        }
        Ok(())
    }

    /// Applies to `watch` the events after sequence `*seen` up to `revision`; the
    /// messages they make.
    pub(crate) fn feed(
        &self,
        watch: &mut Watch,
        seen: &mut u64,
        revision: u64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<Message> {
        let mut out = Vec::new();
        for (seq, r, e) in &self.events {
            if *seq < *seen {
                continue;
            }
            if *r > revision {
                break;
            }
            out.extend(watch.incident(e, now));
            *seen = seq + 1;
        }
        out
    }

    /// Forgets the events of incidents resolved at or before `floor` (every channel
    /// passed them); open incidents' events stay for channels opened later.
    pub(crate) fn prune(&mut self, floor: u64) {
        let done: Vec<u64> = self
            .events
            .iter()
            .filter_map(|(_, r, e)| match e {
                IncidentEvent::Resolved { id, .. } if *r <= floor => Some(*id),
                _ => None,
            })
            .collect();
        if !done.is_empty() {
            self.events.retain(|(_, _, e)| !done.contains(&e.id()));
        }
    }
}

/// The events a channel's replay meets, at the revisions they happened.
fn rebuild(incident: &Incident) -> Vec<(u64, IncidentEvent)> {
    let mut first = incident.clone();
    first.members.retain(|m| m.revision <= incident.id);
    first.ended_at = None;
    first.resolved_revision = None;
    let mut events = vec![(incident.id, IncidentEvent::Opened(first))];
    for m in incident.members.iter().filter(|m| m.revision > incident.id) {
        let mut member = m.clone();
        member.back_at = None;
        events.push((
            m.revision,
            IncidentEvent::Joined {
                id: incident.id,
                member,
            },
        ));
    }
    if let (Some(at), Some(revision)) = (incident.ended_at, incident.resolved_revision) {
        events.push((
            revision,
            IncidentEvent::Resolved {
                id: incident.id,
                at,
                revision,
            },
        ));
    }
    events
}
