//! The incident tracker: the module's rules applied to the change log, in revision
//! order. Pure: the leader feeds it changes and asks the guard what it could not hear.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};

use super::model::{Incident, IncidentEvent, IncidentTrigger, Member};
use super::settings::IncidentSettings;
use super::tag_table::TagTable;
use crate::model::{Project, Slug, Status};
use crate::replication::{Change, ChangeKind};

/// A counted offline transition not (yet) in an incident.
#[derive(Debug, Clone)]
struct Candidate {
    slug: String,
    revision: u64,
    at: DateTime<Utc>,
}

/// The fleet as far as incidents care: each project's tags (lowercase, as written).
#[derive(Debug, Clone)]
pub struct IncidentTracker {
    settings: IncidentSettings,
    /// Each tagged project's tags, by their number in `table`.
    tags: BTreeMap<Slug, Box<[usize]>>,
    table: TagTable,
    /// How many projects carry each tag (lower case).
    tag_sizes: BTreeMap<String, usize>,
    recent: VecDeque<Candidate>,
    open: Option<Incident>,
    /// The open incident's members by slug (their place in its list), and how many of
    /// them are not back: an incident of a whole fleet costs a lookup per change, not a
    /// walk of its members.
    open_index: HashMap<String, usize>,
    open_left: usize,
}

impl IncidentTracker {
    /// A tracker that knows no project and no incident.
    pub fn new(settings: IncidentSettings) -> Self {
        Self {
            settings,
            tags: BTreeMap::new(),
            table: TagTable::default(),
            tag_sizes: BTreeMap::new(),
            recent: VecDeque::new(),
            open: None,
            open_index: HashMap::new(),
            open_left: 0,
        }
    }

    /// Learns a project (and its tags) from the registry.
    pub fn know(&mut self, project: &Project) {
        self.forget(project.slug.as_str());
        // An untagged project is kept nowhere: no tag counts it, and a missing entry
        // reads as no tags (a fleet of 100,000 untagged projects cost 12 MB here).
        if project.tags.is_empty() {
            return;
        }
        let ids: Box<[usize]> = project
            .tags
            .iter()
            .map(|t| self.table.hold(t.as_str()))
            .collect();
        for &id in &ids {
            let (lower, _) = self.table.get(id);
            match self.tag_sizes.get_mut(lower) {
                Some(n) => *n += 1,
                None => {
                    self.tag_sizes.insert(lower.to_owned(), 1);
                }
            }
        }
        self.tags.insert(project.slug.clone(), ids);
    }

    fn forget(&mut self, slug: &str) {
        let Some(old) = self.tags.remove(slug) else {
            return;
        };
        for &id in &old {
            let (lower, _) = self.table.get(id);
            if let Some(n) = self.tag_sizes.get_mut(lower) {
                *n -= 1;
                if *n == 0 {
                    self.tag_sizes.remove(lower);
                }
            }
            self.table.release(id);
        }
    }

    /// Takes up an incident a previous leader recorded as open.
    pub fn restore(&mut self, incident: Incident) {
        if incident.ended_at.is_none() {
            self.set_open(Some(incident));
            let index = &self.open_index;
            self.recent.retain(|c| !index.contains_key(&c.slug));
        }
    }

    /// Makes `incident` the open one (or none), indexing its members.
    fn set_open(&mut self, incident: Option<Incident>) {
        self.open_index.clear();
        self.open_left = 0;
        for (i, m) in incident.iter().flat_map(|o| o.members.iter()).enumerate() {
            self.open_index.entry(m.slug.clone()).or_insert(i);
            self.open_left += usize::from(m.back_at.is_none());
        }
        self.open = incident;
    }

    /// The open incident.
    pub fn open(&self) -> Option<&Incident> {
        self.open.as_ref()
    }

    /// Counted offline transitions waiting within the window.
    pub fn waiting(&self) -> usize {
        self.recent.len()
    }

    /// Marks members the registry shows as no longer offline (a leader taking over
    /// what its predecessor left open) as back at `now`; resolves when none is left.
    pub fn reconcile(
        &mut self,
        offline: impl Fn(&str) -> bool,
        revision: u64,
        now: DateTime<Utc>,
    ) -> Vec<IncidentEvent> {
        let back: Vec<String> = self
            .open
            .iter()
            .flat_map(|i| i.members.iter())
            .filter(|m| m.back_at.is_none() && !offline(&m.slug))
            .map(|m| m.slug.clone())
            .collect();
        let mut out = Vec::new();
        for slug in back {
            out.extend(self.back(&slug, revision, now));
        }
        out
    }

    /// Applies one change of the log. `unheard(from, to)` is the time within
    /// `[from, to]` the service could not hear (the partition guard).
    pub fn apply(
        &mut self,
        change: &Change,
        unheard: impl Fn(DateTime<Utc>, DateTime<Utc>) -> TimeDelta,
    ) -> Vec<IncidentEvent> {
        let slug = change.slug.as_str();
        match &change.kind {
            ChangeKind::Registered | ChangeKind::Updated => {
                if let Some(p) = &change.project {
                    self.know(p);
                }
                Vec::new()
            }
            // Flapping is no status: incidents count offline transitions only.
            ChangeKind::Flapping | ChangeKind::Stable => Vec::new(),
            ChangeKind::Deleted { .. } => {
                self.forget(slug);
                self.recent.retain(|c| c.slug != slug);
                self.back(slug, change.revision, change.at)
            }
            ChangeKind::Transition(t) => {
                if let Some(p) = &change.project {
                    // Only a tagged project is kept: an untagged one has nothing to
                    // learn, on every transition it makes.
                    if !p.tags.is_empty() && !self.tags.contains_key(slug) {
                        self.know(p);
                    }
                }
                if t.to == Status::Offline && t.from != Status::Offline {
                    let heard = t
                        .last_heartbeat_at
                        .is_some_and(|last| last <= t.at && unheard(last, t.at).is_zero());
                    if !heard || !self.settings.enabled() {
                        return Vec::new();
                    }
                    self.offline(slug, change.revision, t.at)
                } else if t.from == Status::Offline && t.to != Status::Offline {
                    self.recent.retain(|c| c.slug != slug);
                    self.back(slug, change.revision, t.at)
                } else {
                    Vec::new()
                }
            }
        }
    }

    fn offline(&mut self, slug: &str, revision: u64, at: DateTime<Utc>) -> Vec<IncidentEvent> {
        let member = Member {
            slug: slug.to_owned(),
            offline_at: at,
            revision,
            back_at: None,
        };
        if let Some(open) = &mut self.open {
            match self
                .open_index
                .get(slug)
                .and_then(|&i| open.members.get_mut(i))
            {
                Some(m) => {
                    self.open_left += usize::from(m.back_at.is_some());
                    *m = member.clone();
                }
                None => {
                    self.open_index.insert(slug.to_owned(), open.members.len());
                    open.members.push(member.clone());
                    self.open_left += 1;
                }
            }
            return vec![IncidentEvent::Joined {
                id: open.id,
                member,
            }];
        }
        let window = self.settings.window;
        self.recent.retain(|c| c.slug != slug && c.at > at - window);
        self.recent.push_back(Candidate {
            slug: slug.to_owned(),
            revision,
            at,
        });
        let Some(trigger) = self.trigger(slug) else {
            return Vec::new();
        };
        let members: Vec<Member> = self
            .recent
            .drain(..)
            .map(|c| Member {
                slug: c.slug,
                offline_at: c.at,
                revision: c.revision,
                back_at: None,
            })
            .collect();
        let incident = Incident {
            id: revision,
            started_at: members.iter().map(|m| m.offline_at).min().unwrap_or(at),
            opened_at: at,
            ended_at: None,
            resolved_revision: None,
            trigger,
            members,
        };
        self.set_open(Some(incident.clone()));
        vec![IncidentEvent::Opened(incident)]
    }

    /// Whether the waiting candidates (the newest being `slug`) open an incident.
    fn trigger(&self, slug: &str) -> Option<IncidentTrigger> {
        let s = &self.settings;
        let n = self.recent.len();
        if s.min_projects >= 2 && n >= s.min_projects {
            return Some(IncidentTrigger::Fleet { offline: n });
        }
        if s.tag_percent == 0 {
            return None;
        }
        // Only the newest candidate's tags can have crossed their threshold now.
        for &id in self.tags.get(slug).map_or(&[][..], |ids| &**ids) {
            let (key, written) = self.table.get(id);
            let of = self.tag_sizes.get(key).copied().unwrap_or(0);
            if of < s.tag_min_projects {
                continue;
            }
            let offline = self
                .recent
                .iter()
                .filter(|c| {
                    self.tags
                        .get(c.slug.as_str())
                        .is_some_and(|t| t.iter().any(|&i| self.table.get(i).0 == key))
                })
                .count();
            if offline >= 2 && offline * 100 >= usize::from(s.tag_percent) * of {
                return Some(IncidentTrigger::Tag {
                    tag: written.to_owned(),
                    offline,
                    of,
                });
            }
        }
        None
    }

    fn back(&mut self, slug: &str, revision: u64, at: DateTime<Utc>) -> Vec<IncidentEvent> {
        let Some(open) = &mut self.open else {
            return Vec::new();
        };
        let Some(m) = self
            .open_index
            .get(slug)
            .and_then(|&i| open.members.get_mut(i))
            .filter(|m| m.back_at.is_none())
        else {
            return Vec::new();
        };
        m.back_at = Some(at);
        self.open_left = self.open_left.saturating_sub(1);
        let id = open.id;
        let mut out = vec![IncidentEvent::Back {
            id,
            slug: slug.to_owned(),
            at,
        }];
        if self.open_left == 0 {
            self.set_open(None);
            out.push(IncidentEvent::Resolved { id, at, revision });
        }
        out
    }
}
