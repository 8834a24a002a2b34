//! Several replicas, one truth: the change log's values, the registry every replica
//! holds in memory, and the rules of the sweeper lease.
//!
//! The store numbers every registry change and every status transition with a
//! cluster-wide revision, in the transaction of the change itself ([`Change`]). Every
//! replica loads a [`Snapshot`] at start and then applies the log in revision order to
//! its [`Registry`], which answers reads. One replica at a time holds the sweeper
//! lease ([`Term`]): only it writes transitions and publishes events, and the store
//! refuses a write whose term is no longer current (see docs/replication.md).

use std::collections::BTreeMap;
use std::ops::Bound;

use chrono::{DateTime, SubsecRound, Utc};

use crate::error::ValidationError;
use crate::model::{
    ListFilter, PresenceRecord, Project, ProjectPage, Slug, Status, Tag, Transition, Upserted,
};
use crate::presence::StatusCounts;

mod assign;
mod rendered;
mod table;
use rendered::Entry;
pub use rendered::{RenderedPage, Renderer, PART_SCAN};
use table::Table;

/// The term of a sweeper lease: it grows by one whenever the lease changes hands, so a
/// write carrying an older term comes from a replica that lost the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(pub u64);

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// A new project (REST, the catalog file).
    Registered,
    /// A project's descriptive fields changed (REST upsert or patch, the catalog file).
    Updated,
    /// A project was removed: `deleted` (on request) or `expired` (offline for longer
    /// than `FEDERATION_DEREGISTER_AFTER`).
    Deleted {
        /// Why.
        reason: Option<String>,
    },
    /// A project's status changed.
    Transition(Transition),
    /// A project started flapping (at the change's time; see [`crate::flapping`]).
    Flapping,
    /// A flapping project has been stable for the flapping window.
    Stable,
}

impl ChangeKind {
    /// What a registration did: `registered` when it created the project, `updated`
    /// otherwise.
    pub fn registration(created: bool) -> Self {
        if created {
            ChangeKind::Registered
        } else {
            ChangeKind::Updated
        }
    }

    /// The name stored in the log and sent on the change stream.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeKind::Registered => "registered",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted { .. } => "deleted",
            ChangeKind::Transition(_) => "transition",
            ChangeKind::Flapping => "flapping",
            ChangeKind::Stable => "stable",
        }
    }
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Its place in the cluster-wide order (not dense: numbers can be skipped).
    pub revision: u64,
    /// The project changed.
    pub slug: Slug,
    /// When the change happened (a transition: its own time).
    pub at: DateTime<Utc>,
    /// What changed.
    pub kind: ChangeKind,
    /// The project as the store holds it when the log is read (`None` once deleted).
    /// It is at least as new as the change, and applying changes in order converges on
    /// the store's state.
    pub project: Option<Project>,
}

impl Change {
    /// The change a registration logged (`registered` or `updated`, at the project's
    /// `updated_at`), when the store numbered it.
    pub fn registration(upserted: &Upserted) -> Option<Change> {
        Some(Change {
            revision: upserted.revision?,
            slug: upserted.project.slug.clone(),
            at: upserted.project.updated_at,
            kind: ChangeKind::registration(upserted.created),
            project: Some(upserted.project.clone()),
        })
    }

    /// Gives each registration of one transaction every change the transaction logged
    /// (see [`Upserted::written`]), when the store numbered them all.
    pub fn share_written(upserted: &mut [Upserted]) {
        let Some(all) = upserted
            .iter()
            .map(Change::registration)
            .collect::<Option<std::sync::Arc<[Change]>>>()
        else {
            return;
        };
        for u in upserted {
            u.written = Some(all.clone());
        }
    }
}

/// The answer to "what changed after revision N".
#[derive(Debug, Clone, PartialEq)]
pub enum ChangesSince {
    /// Every change after N, oldest first (at most the limit asked for).
    Changes(Vec<Change>),
    /// Changes after N were trimmed from the log: reload a [`Snapshot`].
    Trimmed,
}

/// The whole catalog at one revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The last revision the catalog reflects.
    pub revision: u64,
    /// Every project, each on its own allocation: the registry keeps these boxes as
    /// they are, so loading a catalog never holds a second copy of it (a million
    /// projects read as values were one vector beside the map built from it).
    pub projects: Vec<Box<Project>>,
}

impl Snapshot {
    /// A snapshot of `projects` at `revision`.
    pub fn of(revision: u64, projects: impl IntoIterator<Item = Project>) -> Self {
        Self {
            revision,
            projects: projects.into_iter().map(Box::new).collect(),
        }
    }
}

/// A replica's part in the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows the log; writes no transition.
    Follower,
    /// Holds the lease in this term: sweeps, writes transitions, publishes events.
    Leader(Term),
}

impl Role {
    /// `leader` or `follower` (`/ready`, logs).
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Leader(_) => "leader",
        }
    }

    /// The term held, when leading.
    pub fn term(&self) -> Option<Term> {
        match self {
            Role::Leader(t) => Some(*t),
            Role::Follower => None,
        }
    }
}

/// The catalog as of one revision of the log, in memory: what reads are answered from.
#[derive(Debug, Default)]
pub struct Registry {
    projects: Table,
    revision: u64,
    /// Grows with every change to what the registry holds, liveness included (which
    /// the revision does not count): a reader keeping something derived from a read
    /// keeps it while the generation stays.
    generation: u64,
    /// The adapter's renderer that fills the entries' slots (the first one used).
    renderer: std::sync::OnceLock<Renderer>,
}

impl Registry {
    /// An empty registry at revision 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces everything with a snapshot (at start, or after falling behind a trim).
    pub fn load(&mut self, snapshot: Snapshot) {
        // Sorted in place first: the map is built from the rows as they are (a sorted
        // input needs no second copy for the map's own stable sort), and the old map goes
        // before the new one is built.
        let mut rows: Vec<(Slug, Entry)> = snapshot
            .projects
            .into_iter()
            .map(|p| (p.slug.clone(), Entry::new(p)))
            .collect();
        rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.projects = Table::default();
        self.projects = Table::from_sorted(rows);
        self.revision = snapshot.revision;
        self.generation += 1;
    }

    /// The last revision applied.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// How many projects it holds.
    pub fn len(&self) -> usize {
        self.projects.len()
    }

    /// Whether it holds no project.
    pub fn is_empty(&self) -> bool {
        self.projects.is_empty()
    }

    /// Applies changes in order, skipping those at or below the revision already
    /// applied (two readers of the log may race; the later one's changes include the
    /// earlier one's). Returns the changes applied.
    pub fn apply(&mut self, changes: Vec<Change>) -> Vec<Change> {
        let mut applied = Vec::new();
        for change in changes {
            if change.revision <= self.revision {
                continue;
            }
            self.revision = change.revision;
            match (&change.kind, &change.project) {
                (ChangeKind::Deleted { .. }, _) => {
                    self.projects.remove(change.slug.as_str());
                }
                (_, Some(project)) => match self.projects.get_mut(project.slug.as_str()) {
                    Some(held) => assign::assign(held.change(), project),
                    None => self.projects.insert(Entry::new(Box::new(project.clone()))),
                },
                // Deleted since: the delete is a later change of this same read.
                (_, None) => {}
            }
            applied.push(change);
        }
        if !applied.is_empty() {
            self.generation += 1;
        }
        applied
    }

    /// Heartbeat times and versions this replica heard (statuses come from the log).
    pub fn apply_liveness(&mut self, updates: &[PresenceRecord]) {
        let mut moved = false;
        for u in updates {
            let Some(entry) = self.projects.get_mut(u.slug.as_str()) else {
                continue;
            };
            // Microseconds, as the store keeps them: a reply does not change its
            // precision when the store's copy arrives.
            let heard = u.last_heartbeat_at.map(|t| t.trunc_subsecs(6));
            let newer = heard > entry.project.last_heartbeat_at;
            let version = u.version.is_some() && u.version != entry.project.version;
            if newer || version {
                let p = entry.change();
                if newer {
                    p.last_heartbeat_at = heard;
                }
                if version {
                    p.version = u.version.clone();
                }
                moved = true;
            }
        }
        if moved {
            self.generation += 1;
        }
    }

    /// Sets the clock skew last observed in a project's heartbeats (memory only).
    pub fn note_skew(&mut self, slug: &Slug, skew_seconds: f64) {
        if let Some(entry) = self.projects.get_mut(slug.as_str()) {
            entry.change().clock_skew_seconds = Some(skew_seconds);
            self.generation += 1;
        }
    }

    /// Whether a project has exactly this (lowercase) slug.
    pub fn contains(&self, slug: &str) -> bool {
        self.projects.get(slug).is_some()
    }

    /// The project with this slug (a [`Slug`], or exactly the `str` of one).
    pub fn get<Q: std::borrow::Borrow<str> + ?Sized>(&self, slug: &Q) -> Option<&Project> {
        self.projects.get(slug.borrow()).map(|e| &*e.project)
    }

    /// Every project, in slug order.
    pub fn projects(&self) -> impl Iterator<Item = &Project> {
        self.projects.values().map(|e| &*e.project)
    }

    /// What a rollup needs (slug and tags) of up to `limit` projects whose slugs
    /// follow `after` (from the first when `None`), in slug order.
    pub fn members_after(&self, after: Option<&Slug>, limit: usize) -> Vec<crate::uptime::Member> {
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.projects
            .from(from)
            .take(limit)
            .map(|(slug, e)| crate::uptime::Member {
                slug: slug.clone(),
                tags: e.project.tags.clone(),
            })
            .collect()
    }

    /// The recorded status of every project.
    pub fn statuses(&self) -> impl Iterator<Item = (&Slug, Status)> {
        self.projects.iter().map(|(s, e)| (s, e.project.status))
    }

    /// Projects by status, as recorded.
    pub fn counts(&self) -> StatusCounts {
        self.projects
            .unordered()
            .map(|e| e.project.status)
            .collect()
    }

    /// The generation: it grows whenever anything the registry holds changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// One page of the projects the filter matches, in slug order, with the total (of
    /// every match, whatever the page).
    pub fn list(&self, filter: &ListFilter) -> ProjectPage {
        let (total, items) = self.select(filter);
        ProjectPage {
            items: items.map(|e| (*e.project).clone()).collect(),
            total: u64::try_from(total).unwrap_or(u64::MAX),
            revision: self.revision,
        }
    }

    /// The slugs of the page `filter` selects, in slug order (what [`Registry::list`]
    /// lists, without copying the projects).
    pub fn slugs(&self, filter: &ListFilter) -> Vec<Slug> {
        self.select(filter)
            .1
            .map(|e| e.project.slug.clone())
            .collect()
    }

    /// How many projects the filter matches, and the entries of its page in slug order.
    /// A filtered list walks the registry once, counting every match and keeping those
    /// of its page.
    fn select<'a>(
        &'a self,
        filter: &'a ListFilter,
    ) -> (usize, Box<dyn Iterator<Item = &'a Entry> + 'a>) {
        use std::ops::Bound;
        let limit = filter
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let offset = usize::try_from(filter.offset).unwrap_or(usize::MAX);
        if filter.is_unfiltered() {
            let lower = filter
                .after
                .as_ref()
                .map_or(Bound::Unbounded, Bound::Excluded);
            let items = self
                .projects
                .from(lower)
                .map(|(_, e)| e)
                .skip(offset)
                .take(limit);
            return (self.projects.len(), Box::new(items));
        }
        let (mut total, mut skipped) = (0usize, 0usize);
        let mut page = Vec::new();
        for e in self.projects.values() {
            if !filter.matches(&e.project) {
                continue;
            }
            total += 1;
            if filter.after.as_ref().is_some_and(|a| e.project.slug <= *a) {
                continue;
            }
            if skipped < offset {
                skipped += 1;
            } else if page.len() < limit {
                page.push(e);
            }
        }
        (total, Box::new(page.into_iter()))
    }
}

/// Which changes a client of the change stream wants: every condition given must hold.
/// A deletion passes the tag and status conditions (the project, and so its tags and
/// status, is gone; a client holding it must hear that it went).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Only this project.
    pub slug: Option<Slug>,
    /// Only projects with this tag (ignoring case).
    pub tag: Option<Tag>,
    /// Only projects in this status; a transition matches when it leaves or enters it.
    pub status: Option<Status>,
}

impl ChangeFilter {
    /// Validates raw query values (`None` or blank: no condition); errors name the field.
    pub fn parse(
        slug: Option<&str>,
        tag: Option<&str>,
        status: Option<&str>,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            slug: slug
                .map(|s| Slug::parse(s).map_err(|e| e.at("slug")))
                .transpose()?,
            tag: tag.map(Tag::parse).transpose()?,
            status: status.map(Status::parse).transpose()?,
        })
    }

    /// Whether `change` passes every condition.
    pub fn matches(&self, change: &Change) -> bool {
        if self.slug.as_ref().is_some_and(|s| *s != change.slug) {
            return false;
        }
        if matches!(change.kind, ChangeKind::Deleted { .. }) {
            return true;
        }
        let project = change.project.as_ref();
        let tag_ok = self
            .tag
            .as_ref()
            .is_none_or(|t| project.is_some_and(|p| p.tags.iter().any(|have| have.matches(t))));
        let status_ok = self.status.is_none_or(|s| match &change.kind {
            ChangeKind::Transition(t) => t.from == s || t.to == s,
            _ => project.is_some_and(|p| p.status == s),
        });
        tag_ok && status_ok
    }
}

/// The project offline the longest (see [`Summary`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LongestOffline {
    /// The project.
    pub slug: Slug,
    /// Its last heartbeat (`None`: never heard).
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// Silent since: its last heartbeat, or its registration when never heard.
    pub silent_since: DateTime<Utc>,
}

/// What a status badge or a pager needs, in one read of the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Projects in all.
    pub total: u64,
    /// Projects by recorded status.
    pub counts: StatusCounts,
    /// Projects by tag, tags compared ignoring case (the first spelling met, in slug
    /// order, names the group), ordered by the tag's lowercase form.
    pub tags: Vec<(String, StatusCounts)>,
    /// The offline project silent the longest.
    pub longest_offline: Option<LongestOffline>,
    /// The revision the summary reflects.
    pub revision: u64,
}

impl Registry {
    /// Counts by status and tag, and the offline project silent the longest.
    pub fn summary(&self) -> Summary {
        let mut tags: BTreeMap<String, (String, StatusCounts)> = BTreeMap::new();
        let mut longest: Option<LongestOffline> = None;
        for p in self.projects.values().map(|e| &e.project) {
            for tag in p.tags.iter() {
                let entry = tags
                    .entry(tag.as_str().to_lowercase())
                    .or_insert_with(|| (tag.as_str().to_owned(), StatusCounts::default()));
                entry.1.add(p.status);
            }
            if p.status == Status::Offline {
                let since = p.last_heartbeat_at.unwrap_or(p.created_at);
                if longest.as_ref().is_none_or(|l| since < l.silent_since) {
                    longest = Some(LongestOffline {
                        slug: p.slug.clone(),
                        last_heartbeat_at: p.last_heartbeat_at,
                        silent_since: since,
                    });
                }
            }
        }
        Summary {
            total: u64::try_from(self.projects.len()).unwrap_or(u64::MAX),
            counts: self.counts(),
            tags: tags.into_values().collect(),
            longest_offline: longest,
            revision: self.revision,
        }
    }
}

#[cfg(test)]
mod tests;
