//! A channel's rules applied to the change log and the clock: which messages are due,
//! and when. Pure: the dispatcher feeds it changes in revision order and ticks.
//!
//! Per project it keeps the current outage: when it began, the bad status now and
//! since when, whether the hold has passed (the outage is *announced*), what was told.
//! - a bad status is told once it has held for the rules' hold (at once with no hold);
//!   a project back within the hold causes no message at all;
//! - degraded then offline tells offline too (each once);
//! - a recovery is told when the outage was announced, with its length;
//! - reminders repeat a told status while it lasts;
//! - nothing is told while the project's maintenance window is open (a status still
//!   bad when the window ends is told then);
//! - a project the leader recorded as flapping (a `flapping` change of the log, judged
//!   once for the whole service by [`crate::flapping`]) gets one `flapping` message, then
//!   nothing about it until its `stable` change; then its status is told as usual (a
//!   recovery owed from before is told with the outage's length).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::channel::ChannelName;
use super::message::{Event, IncidentNote, Message, Subject};
use super::rules::{Rules, Trigger};
use crate::incident::IncidentEvent;
use crate::model::{Maintenance, Project, Status};
use crate::replication::{Change, ChangeKind};

/// One project's outage, as a channel sees it.
#[derive(Debug, Clone, PartialEq)]
struct Outage {
    /// When it first went bad.
    since: DateTime<Utc>,
    /// Its bad status now.
    status: Status,
    /// Since when it has been in that status.
    status_since: DateTime<Utc>,
    /// The revision of the change into that status.
    revision: u64,
    /// The hold passed (for some bad status of this outage).
    announced: bool,
    /// The last bad status told, and when it (or a reminder) was told last.
    told: Option<(Status, DateTime<Utc>)>,
    /// The project as last seen.
    subject: Subject,
    /// Seeded by a new leader (from the registry), not seen in the log: a transition
    /// into a bad status from online in the log starts a new outage.
    seeded: bool,
    maintenance: Option<Maintenance>,
    /// The incident it is a member of (told with it, not on its own).
    incident: Option<u64>,
}

/// A flapping project, as a channel sees it.
#[derive(Debug, Clone)]
struct Flap {
    /// A told outage that ended while flapping: its start, owed a recovery message.
    owes_recovery: Option<DateTime<Utc>>,
    /// The project as last seen, and when it last changed status.
    last: (Subject, DateTime<Utc>),
}

/// A channel's view of the fleet.
#[derive(Debug, Clone)]
pub struct Watch {
    channel: ChannelName,
    rules: Rules,
    outages: BTreeMap<String, Outage>,
    flaps: BTreeMap<String, Flap>,
    /// How long an offline status waits before it is told on its own, so that a project
    /// that becomes a member of an incident is told in the incident's message.
    incident_grace: TimeDelta,
    /// Incidents this channel was told of, until they resolve.
    incidents: BTreeMap<u64, IncidentNote>,
    /// Incidents opened whose message goes out at the first tick `gather` after they
    /// opened (with the members that joined meanwhile), and when each opened.
    announce: Vec<(u64, DateTime<Utc>)>,
    /// How long an incident's opening message waits for more members.
    gather: TimeDelta,
    /// Members that joined an incident after its opening message went: per incident,
    /// when the first of them was learnt, its revision, and the members. One update
    /// message lists them once the gather has passed.
    joined: BTreeMap<u64, (DateTime<Utc>, u64, Vec<Subject>)>,
    /// Open incidents this channel watches no member of yet: the first member it
    /// watches that joins opens the incident for this channel.
    unwatched: BTreeMap<u64, IncidentNote>,
}

/// The least an incident's opening message waits for more members. Projects that went
/// offline together are detected over more than one sweep (their silences end within
/// the spread of their last heartbeats) and written in several batches, and the
/// message should list them all, not the first sweep's: the dispatcher waits one sweep
/// interval and one look of its own on top (see [`Watch::with_incident_gather`]).
/// Short beside the incident window, so the message is still prompt.
pub const INCIDENT_GATHER: TimeDelta = TimeDelta::milliseconds(500);

fn bad(s: Status) -> bool {
    s != Status::Online
}

fn in_maintenance(m: Option<&Maintenance>, now: DateTime<Utc>) -> bool {
    m.is_some_and(|m| m.is_active(now))
}

impl Watch {
    /// A watch with no outage known.
    pub fn new(channel: ChannelName, rules: Rules) -> Self {
        Self {
            channel,
            rules,
            outages: BTreeMap::new(),
            flaps: BTreeMap::new(),
            incident_grace: TimeDelta::zero(),
            incidents: BTreeMap::new(),
            announce: Vec::new(),
            gather: INCIDENT_GATHER,
            joined: BTreeMap::new(),
            unwatched: BTreeMap::new(),
        }
    }

    /// An incident's opening message waits `gather` (at least [`INCIDENT_GATHER`]) for
    /// members detected by later sweeps.
    pub fn with_incident_gather(mut self, gather: TimeDelta) -> Self {
        self.gather = gather.max(INCIDENT_GATHER);
        self
    }

    /// Offline statuses wait at least `grace` (the incident window) before they are
    /// told on their own.
    pub fn with_incident_grace(mut self, grace: TimeDelta) -> Self {
        self.incident_grace = grace.max(TimeDelta::zero());
        self
    }

    /// Whether the project is flapping now (as the log recorded it).
    pub fn is_flapping(&self, slug: &str) -> bool {
        self.flaps.contains_key(slug)
    }

    /// Takes a project the registry holds as flapping (a new leader, a new channel):
    /// its messages are held until its `stable` change.
    pub fn seed_flapping(&mut self, project: &Project, now: DateTime<Utc>) {
        if project.flapping_since.is_some() && self.rules.selects(project) {
            self.flaps
                .entry(project.slug.as_str().to_owned())
                .or_insert_with(|| Flap {
                    owes_recovery: None,
                    last: (Subject::from(project), now),
                });
        }
    }

    /// The project started flapping: one `flapping` message.
    fn start_flapping(&mut self, change: &Change) -> Vec<Message> {
        let Some(project) = &change.project else {
            return Vec::new();
        };
        if !self.rules.selects(project) || self.is_flapping(change.slug.as_str()) {
            return Vec::new();
        }
        let subject = Subject::from(project);
        self.flaps.insert(
            change.slug.as_str().to_owned(),
            Flap {
                owes_recovery: None,
                last: (subject.clone(), change.at),
            },
        );
        vec![Message {
            channel: self.channel.clone(),
            revision: change.revision,
            event: Event::Flapping,
            subject: Some(subject),
            at: change.at,
            outage_seconds: None,
            incident: None,
        }]
    }

    /// The project is stable again: the recovery owed, then its status as usual.
    fn end_flapping(&mut self, change: &Change, now: DateTime<Utc>) -> Vec<Message> {
        let slug = change.slug.as_str();
        let mut out = Vec::new();
        if let Some(flap) = self.flaps.remove(slug) {
            let (subject, end) = flap.last;
            if let (Some(since), false, true) = (
                flap.owes_recovery,
                self.outages.contains_key(slug),
                self.rules.tells(Trigger::Recovered),
            ) {
                out.push(Message {
                    channel: self.channel.clone(),
                    revision: change.revision,
                    event: Event::Recovered,
                    subject: Some(subject),
                    at: end,
                    outage_seconds: Some((end - since).num_seconds()),
                    incident: None,
                });
            }
        }
        out.extend(self.due(now));
        out
    }

    /// The channel's name.
    pub fn channel(&self) -> &ChannelName {
        &self.channel
    }

    /// Replaces the rules (a channel replaced over the API); outages are kept.
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    fn hold(&self) -> TimeDelta {
        TimeDelta::seconds(i64::from(self.rules.hold_seconds))
    }

    /// Whether [`Watch::seed`] takes `project` (as the registry holds it): offline or
    /// degraded, heard at least once (one never heard is offline since it was
    /// registered: not an outage), selected by the rules, and not known yet.
    pub fn takes_seed(&self, project: &Project) -> bool {
        bad(project.status)
            && project.last_heartbeat_at.is_some()
            && self.rules.selects(project)
            && !self.outages.contains_key(project.slug.as_str())
    }

    /// Seeds an outage under way when this watch began (a new leader, a new channel):
    /// the project has been `project.status` since `since`. An outage that began before
    /// `dealt_before` was dealt with (told if the rules tell it); a later one is told
    /// once its hold passes.
    pub fn seed(
        &mut self,
        project: &Project,
        since: DateTime<Utc>,
        dealt_before: DateTime<Utc>,
        revision: u64,
        now: DateTime<Utc>,
    ) {
        if !self.takes_seed(project) {
            return;
        }
        let announced = since < dealt_before && now - since >= self.hold();
        let told = (announced
            && Trigger::of_bad(project.status).is_some_and(|t| self.rules.tells(t)))
        .then_some((project.status, now));
        self.outages.insert(
            project.slug.as_str().to_owned(),
            Outage {
                since,
                status: project.status,
                status_since: since,
                revision,
                announced,
                told,
                subject: Subject::from(project),
                maintenance: project.maintenance.as_deref().cloned(),
                seeded: true,
                incident: None,
            },
        );
    }

    /// Applies one change of the log (in revision order); returns the messages due at
    /// `now` because of it.
    pub fn apply(&mut self, change: &Change, now: DateTime<Utc>) -> Vec<Message> {
        let slug = change.slug.as_str();
        match &change.kind {
            ChangeKind::Deleted { .. } => {
                self.outages.remove(slug);
                self.flaps.remove(slug);
                Vec::new()
            }
            ChangeKind::Flapping => self.start_flapping(change),
            ChangeKind::Stable => self.end_flapping(change, now),
            ChangeKind::Registered | ChangeKind::Updated => {
                if let (Some(o), Some(p)) = (self.outages.get_mut(slug), &change.project) {
                    o.subject = Subject {
                        status: o.status,
                        ..Subject::from(p)
                    };
                    o.maintenance = p.maintenance.as_deref().cloned();
                }
                self.due(now)
            }
            ChangeKind::Transition(t) => {
                let selected = change
                    .project
                    .as_ref()
                    .is_none_or(|p| self.rules.selects(p));
                if !selected {
                    self.outages.remove(slug);
                    return Vec::new();
                }
                let mut subject = change
                    .project
                    .as_ref()
                    .map(Subject::from)
                    .unwrap_or_else(|| Subject {
                        slug: slug.to_owned(),
                        name: slug.to_owned(),
                        hub_url: String::new(),
                        status: t.to,
                        reason: None,
                    });
                subject.status = t.to;
                subject.reason.clone_from(&t.reason);
                let maintenance = change
                    .project
                    .as_ref()
                    .and_then(|p| p.maintenance.as_deref().cloned());
                let mut out: Vec<Message> = Vec::new();
                let flapping = match self.flaps.get_mut(slug) {
                    Some(flap) => {
                        flap.last = (subject.clone(), t.at);
                        true
                    }
                    None => false,
                };
                if bad(t.to) {
                    if self
                        .outages
                        .get(slug)
                        .is_some_and(|o| o.seeded && !bad(t.from))
                    {
                        self.outages.remove(slug);
                    }
                    // A seed takes the status at the cursor's reading as told; a change
                    // after the cursor (a new leader replaying degraded → offline) was
                    // not told: the seed held the change's `from`, and `to` is due.
                    if let Some(o) = self
                        .outages
                        .get_mut(slug)
                        .filter(|o| o.seeded && change.revision > o.revision)
                    {
                        o.status = t.from;
                        o.told = o.told.map(|(_, at)| (t.from, at));
                        o.seeded = false;
                    }
                    match self.outages.get_mut(slug) {
                        Some(o) if o.status != t.to => {
                            o.status = t.to;
                            o.status_since = t.at;
                            o.revision = change.revision;
                            o.subject = subject;
                            o.maintenance = maintenance;
                        }
                        Some(_) => {}
                        None => {
                            self.outages.insert(
                                slug.to_owned(),
                                Outage {
                                    since: t.at,
                                    status: t.to,
                                    status_since: t.at,
                                    revision: change.revision,
                                    announced: false,
                                    told: None,
                                    subject,
                                    maintenance,
                                    seeded: false,
                                    incident: None,
                                },
                            );
                        }
                    }
                    out.extend(self.due(now));
                    out
                } else {
                    out.extend(self.due(now));
                    if let Some(o) = self.outages.remove(slug) {
                        if o.incident.is_some() {
                            // Told with the incident: its resolution is the message.
                        } else if flapping {
                            if o.told.is_some() {
                                if let Some(f) = self.flaps.get_mut(slug) {
                                    f.owes_recovery.get_or_insert(o.since);
                                }
                            }
                        } else if o.announced
                            && self.rules.tells(Trigger::Recovered)
                            && !in_maintenance(maintenance.as_ref(), now)
                        {
                            out.push(Message {
                                channel: self.channel.clone(),
                                revision: change.revision,
                                event: Event::Recovered,
                                subject: Some(subject),
                                at: t.at,
                                outage_seconds: Some((t.at - o.since).num_seconds()),
                                incident: None,
                            });
                        }
                    }
                    out
                }
            }
        }
    }

    /// Messages due by time alone: holds that passed, reminders, incidents opened.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Message> {
        let mut out = self.announced(Some(now));
        out.extend(self.updates(now));
        out.extend(self.due(now));
        out
    }

    fn due(&mut self, now: DateTime<Utc>) -> Vec<Message> {
        let hold = self.hold();
        let remind = self
            .rules
            .remind_every_seconds
            .map(|s| TimeDelta::seconds(i64::from(s)));
        let flapping: BTreeSet<&str> = self.flaps.keys().map(String::as_str).collect();
        let mut out = Vec::new();
        for (slug, o) in &mut self.outages {
            let hold = if o.status == Status::Offline {
                hold.max(self.incident_grace)
            } else {
                hold
            };
            if o.incident.is_some()
                || in_maintenance(o.maintenance.as_ref(), now)
                || now - o.status_since < hold
                || flapping.contains(slug.as_str())
            {
                continue;
            }
            o.announced = true;
            let tells = Trigger::of_bad(o.status).is_some_and(|t| self.rules.tells(t));
            let needs_tell = tells && o.told.is_none_or(|(status, _)| status != o.status);
            if !needs_tell {
                if let (Some((status, last)), Some(every)) = (o.told, remind) {
                    if now - last >= every {
                        o.told = Some((status, now));
                        out.push(Message {
                            channel: self.channel.clone(),
                            revision: o.revision,
                            event: Event::Reminder,
                            subject: Some(o.subject.clone()),
                            at: now,
                            outage_seconds: Some((now - o.since).num_seconds()),
                            incident: None,
                        });
                    }
                }
                continue;
            }
            o.told = Some((o.status, now));
            out.push(Message {
                channel: self.channel.clone(),
                revision: o.revision,
                event: match o.status {
                    Status::Offline => Event::Offline,
                    _ => Event::Degraded,
                },
                subject: Some(o.subject.clone()),
                at: o.status_since,
                outage_seconds: None,
                incident: None,
            });
        }
        out
    }

    /// The lowest revision whose message may still be due (a hold running, a window
    /// open): the channel's cursor must stay below it, so a new leader sees it again.
    pub fn pending_floor(&self) -> Option<u64> {
        self.outages
            .values()
            .filter(|o| !o.announced)
            .map(|o| o.revision)
            .chain(self.announce.iter().map(|(id, _)| *id))
            .chain(self.joined.values().map(|(_, revision, _)| *revision))
            .min()
    }

    /// The messages of incidents opened at least the gather before `now` (every one
    /// waiting when `now` is `None`).
    fn announced(&mut self, now: Option<DateTime<Utc>>) -> Vec<Message> {
        let mut out = Vec::new();
        let gather = self.gather;
        let (due, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.announce)
            .into_iter()
            .partition(|(_, at)| now.is_none_or(|now| now - *at >= gather));
        self.announce = wait;
        for (id, at) in due {
            if let Some(note) = self.incidents.get(&id) {
                out.push(Message {
                    channel: self.channel.clone(),
                    revision: id,
                    event: Event::Incident,
                    subject: None,
                    at,
                    outage_seconds: None,
                    incident: Some(note.clone()),
                });
            }
        }
        out
    }

    /// The incidents learnt so far were dealt with (a new leader's watch fed the events
    /// up to the channel's cursor): their opening messages are not sent again.
    pub fn settle_incidents(&mut self) {
        self.announce.clear();
        self.joined.clear();
    }

    /// The update messages of incidents whose later members were learnt at least the
    /// gather before `now`.
    fn updates(&mut self, now: DateTime<Utc>) -> Vec<Message> {
        let due: Vec<u64> = self
            .joined
            .iter()
            .filter(|(_, (since, _, _))| now - *since >= self.gather)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        for id in due {
            let (Some((since, revision, members)), Some(note)) =
                (self.joined.remove(&id), self.incidents.get(&id))
            else {
                continue;
            };
            out.push(Message {
                channel: self.channel.clone(),
                revision,
                event: Event::IncidentUpdated,
                subject: None,
                at: since,
                outage_seconds: None,
                incident: Some(IncidentNote {
                    members,
                    ..note.clone()
                }),
            });
        }
        out
    }

    /// Projects in an outage now.
    pub fn outages(&self) -> usize {
        self.outages.len()
    }

    /// Whether an outage of this project is known.
    pub fn tracks(&self, slug: &str) -> bool {
        self.outages.contains_key(slug)
    }

    /// Applies an incident's event (at its change's revision, after the change): one
    /// message listing the members this channel watches when it opens (sent at the
    /// first [`Watch::tick`] the gather later, so members that joined meanwhile are
    /// listed too; when it watches none of them, the gather after the first it watches
    /// joins), one listing the members that joined after that message (the gather
    /// after the first of them), one when it resolves, with its length. Members are
    /// not told on their own, neither offline nor recovered.
    pub fn incident(&mut self, event: &IncidentEvent, now: DateTime<Utc>) -> Vec<Message> {
        match event {
            IncidentEvent::Opened(incident) => {
                let mut members = Vec::new();
                for m in &incident.members {
                    if let Some(o) = self.outages.get_mut(&m.slug) {
                        o.incident = Some(incident.id);
                        o.announced = true;
                        if o.status == Status::Offline
                            && !in_maintenance(o.maintenance.as_ref(), now)
                        {
                            o.told = Some((Status::Offline, now));
                            members.push(o.subject.clone());
                        }
                    }
                }
                if !self.rules.tells(Trigger::Offline) {
                    return Vec::new();
                }
                let note = IncidentNote {
                    id: incident.id,
                    started_at: incident.started_at,
                    trigger: incident.trigger.describe(),
                    members,
                };
                if note.members.is_empty() {
                    self.unwatched.insert(incident.id, note);
                    return Vec::new();
                }
                self.incidents.insert(incident.id, note);
                self.announce.push((incident.id, incident.opened_at));
                Vec::new()
            }
            IncidentEvent::Joined { id, member } => {
                if let Some(o) = self.outages.get_mut(&member.slug) {
                    o.incident = Some(*id);
                    o.announced = true;
                    o.told = Some((o.status, now));
                    let sent = !self.announce.iter().any(|(a, _)| a == id);
                    let quiet = in_maintenance(o.maintenance.as_ref(), now);
                    if o.status == Status::Offline && !quiet {
                        // The first member this channel watches: the incident opens
                        // for it now (its opening message lists those that join
                        // within the gather).
                        if let Some(mut note) = self.unwatched.remove(id) {
                            note.members.push(o.subject.clone());
                            self.incidents.insert(*id, note);
                            self.announce.push((*id, now));
                            return Vec::new();
                        }
                    }
                    if let Some(note) = self.incidents.get_mut(id) {
                        if !note.members.iter().any(|s| s.slug == member.slug) {
                            note.members.push(o.subject.clone());
                            // Told in the opening message if that still waits, else
                            // in an update.
                            if sent && !quiet {
                                self.joined
                                    .entry(*id)
                                    .or_insert_with(|| (now, member.revision, Vec::new()))
                                    .2
                                    .push(o.subject.clone());
                            }
                        }
                    }
                }
                Vec::new()
            }
            IncidentEvent::Back { .. } => Vec::new(),
            IncidentEvent::Resolved { id, at, revision } => {
                // Opened and resolved within one read: its opening is told first.
                let mut out = if self.announce.iter().any(|(a, _)| a == id) {
                    self.announced(None)
                } else {
                    Vec::new()
                };
                // Members not told yet are in the resolution's list.
                self.joined.remove(id);
                self.unwatched.remove(id);
                let Some(mut note) = self.incidents.remove(id) else {
                    return out;
                };
                if !self.rules.tells(Trigger::Recovered) {
                    return out;
                }
                for s in &mut note.members {
                    s.status = Status::Online;
                    s.reason = None;
                }
                out.push(Message {
                    channel: self.channel.clone(),
                    revision: *revision,
                    event: Event::IncidentResolved,
                    subject: None,
                    at: *at,
                    outage_seconds: Some((*at - note.started_at).num_seconds().max(0)),
                    incident: Some(note),
                });
                out
            }
        }
    }
}
