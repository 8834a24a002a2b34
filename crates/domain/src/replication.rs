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

use chrono::{DateTime, SubsecRound, Utc};

use crate::error::ValidationError;
use crate::model::{
    ListFilter, PresenceRecord, Project, ProjectPage, Slug, Status, Tag, Transition,
};
use crate::presence::StatusCounts;

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
}

impl ChangeKind {
    /// The name stored in the log and sent on the change stream.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChangeKind::Registered => "registered",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted { .. } => "deleted",
            ChangeKind::Transition(_) => "transition",
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
    /// Every project.
    pub projects: Vec<Project>,
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
    projects: BTreeMap<Slug, Project>,
    revision: u64,
}

/// Heartbeat fields only ever move forward: the store's copy can be a tick older than
/// what this replica heard itself.
fn keep_newer_liveness(stored: &mut Project, held: &Project) {
    if stored.clock_skew_seconds.is_none() {
        stored.clock_skew_seconds = held.clock_skew_seconds;
    }
    if held.last_heartbeat_at > stored.last_heartbeat_at {
        stored.last_heartbeat_at = held.last_heartbeat_at;
        if held.version.is_some() {
            stored.version = held.version.clone();
        }
    }
}

impl Registry {
    /// An empty registry at revision 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces everything with a snapshot (at start, or after falling behind a trim).
    pub fn load(&mut self, snapshot: Snapshot) {
        self.projects = snapshot
            .projects
            .into_iter()
            .map(|p| (p.slug.clone(), p))
            .collect();
        self.revision = snapshot.revision;
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
                    self.projects.remove(&change.slug);
                }
                (_, Some(project)) => {
                    let mut project = project.clone();
                    if let Some(held) = self.projects.get(&project.slug) {
                        keep_newer_liveness(&mut project, held);
                    }
                    self.projects.insert(project.slug.clone(), project);
                }
                // Deleted since: the delete is a later change of this same read.
                (_, None) => {}
            }
            applied.push(change);
        }
        applied
    }

    /// Heartbeat times and versions this replica heard (statuses come from the log).
    pub fn apply_liveness(&mut self, updates: &[PresenceRecord]) {
        for u in updates {
            if let Some(p) = self.projects.get_mut(&u.slug) {
                // Microseconds, as the store keeps them: a reply does not change its
                // precision when the store's copy arrives.
                let heard = u.last_heartbeat_at.map(|t| t.trunc_subsecs(6));
                if heard > p.last_heartbeat_at {
                    p.last_heartbeat_at = heard;
                }
                if u.version.is_some() {
                    p.version = u.version.clone();
                }
            }
        }
    }

    /// Sets the clock skew last observed in a project's heartbeats (memory only).
    pub fn note_skew(&mut self, slug: &Slug, skew_seconds: f64) {
        if let Some(p) = self.projects.get_mut(slug) {
            p.clock_skew_seconds = Some(skew_seconds);
        }
    }

    /// Whether a project has exactly this (lowercase) slug.
    pub fn contains(&self, slug: &str) -> bool {
        self.projects.contains_key(slug)
    }

    /// The project with this slug.
    pub fn get(&self, slug: &Slug) -> Option<&Project> {
        self.projects.get(slug)
    }

    /// The recorded status of every project.
    pub fn statuses(&self) -> impl Iterator<Item = (&Slug, Status)> {
        self.projects.iter().map(|(s, p)| (s, p.status))
    }

    /// Projects by status, as recorded.
    pub fn counts(&self) -> StatusCounts {
        self.projects.values().map(|p| p.status).collect()
    }

    /// One page of the projects the filter matches, in slug order, with the total (of
    /// every match, whatever the page).
    pub fn list(&self, filter: &ListFilter) -> ProjectPage {
        use std::ops::Bound;
        let limit = filter
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let offset = usize::try_from(filter.offset).unwrap_or(usize::MAX);
        let lower = filter
            .after
            .as_ref()
            .map_or(Bound::Unbounded, Bound::Excluded);
        let unfiltered = filter.is_unfiltered();
        let (total, items) = if unfiltered && filter.after.is_none() {
            let items = self
                .projects
                .values()
                .skip(offset)
                .take(limit)
                .cloned()
                .collect();
            (self.projects.len(), items)
        } else {
            let total = if unfiltered {
                self.projects.len()
            } else {
                self.projects.values().filter(|p| filter.matches(p)).count()
            };
            let items = self
                .projects
                .range::<Slug, _>((lower, Bound::Unbounded))
                .map(|(_, p)| p)
                .filter(|p| filter.matches(p))
                .skip(offset)
                .take(limit)
                .cloned()
                .collect();
            (total, items)
        };
        ProjectPage {
            items,
            total: u64::try_from(total).unwrap_or(u64::MAX),
            revision: self.revision,
        }
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
        for p in self.projects.values() {
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
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::model::{HubUrl, MeshNamespace, ProjectName, Tag, Tags};

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 0).unwrap() + chrono::TimeDelta::seconds(s)
    }

    fn project(slug: &str, status: Status, tags: &[&str]) -> Project {
        let slug = Slug::parse(slug).unwrap();
        Project {
            id: 1,
            mesh_namespace: MeshNamespace::for_slug(&slug),
            slug,
            name: ProjectName::parse("A project").unwrap(),
            hub_url: HubUrl::parse("http://hub.example:8000").unwrap(),
            status,
            status_reason: None,
            tags: Tags::parse(tags).unwrap(),
            metadata: crate::model::Metadata::default(),
            version: None,
            last_heartbeat_at: None,
            clock_skew_seconds: None,
            heartbeat_interval: None,
            maintenance: None,
            origin: crate::model::Origin::Api,
            heartbeat_key: None,
            created_at: t(0),
            updated_at: t(0),
        }
    }

    fn change(revision: u64, kind: ChangeKind, project: Option<Project>, slug: &str) -> Change {
        Change {
            revision,
            slug: Slug::parse(slug).unwrap(),
            at: t(revision as i64),
            kind,
            project,
        }
    }

    #[test]
    fn applies_in_order_and_skips_what_it_already_has() {
        let mut r = Registry::new();
        let applied = r.apply(vec![
            change(
                1,
                ChangeKind::Registered,
                Some(project("a", Status::Offline, &[])),
                "a",
            ),
            change(
                3,
                ChangeKind::Registered,
                Some(project("b", Status::Offline, &[])),
                "b",
            ),
        ]);
        assert_eq!(applied.len(), 2);
        assert_eq!(r.revision(), 3);
        // A slower reader's copy of the same range changes nothing.
        let again = r.apply(vec![change(
            3,
            ChangeKind::Deleted { reason: None },
            None,
            "b",
        )]);
        assert!(again.is_empty());
        assert!(r.get(&Slug::parse("b").unwrap()).is_some());
        r.apply(vec![change(
            4,
            ChangeKind::Deleted { reason: None },
            None,
            "b",
        )]);
        assert!(r.get(&Slug::parse("b").unwrap()).is_none());
        assert_eq!(r.revision(), 4);
    }

    #[test]
    fn a_change_whose_project_is_gone_advances_the_revision_only() {
        let mut r = Registry::new();
        r.apply(vec![change(7, ChangeKind::Updated, None, "gone")]);
        assert_eq!(r.revision(), 7);
        assert!(r.is_empty());
    }

    #[test]
    fn heard_heartbeats_never_move_back_when_the_log_brings_an_older_copy() {
        let mut r = Registry::new();
        r.apply(vec![change(
            1,
            ChangeKind::Registered,
            Some(project("a", Status::Offline, &[])),
            "a",
        )]);
        let slug = Slug::parse("a").unwrap();
        r.apply_liveness(&[PresenceRecord {
            slug: slug.clone(),
            status: Status::Online,
            status_reason: None,
            version: None,
            last_heartbeat_at: Some(t(30)),
        }]);
        // Liveness alone never changes the recorded status.
        assert_eq!(r.get(&slug).unwrap().status, Status::Offline);
        let mut stored = project("a", Status::Online, &[]);
        stored.last_heartbeat_at = Some(t(29));
        r.apply(vec![change(
            2,
            ChangeKind::Transition(Transition {
                slug: slug.clone(),
                from: Status::Offline,
                to: Status::Online,
                reason: None,
                at: t(29),
                last_heartbeat_at: Some(t(29)),
            }),
            Some(stored),
            "a",
        )]);
        let p = r.get(&slug).unwrap();
        assert_eq!(p.status, Status::Online);
        assert_eq!(p.last_heartbeat_at, Some(t(30)));
    }

    #[test]
    fn lists_pages_in_slug_order_with_filters_and_totals() {
        let mut r = Registry::new();
        r.load(Snapshot {
            revision: 9,
            projects: vec![
                project("c", Status::Online, &["x"]),
                project("a", Status::Online, &["x", "y"]),
                project("b", Status::Offline, &["y"]),
                project("d", Status::Online, &[]),
            ],
        });
        let slugs = |page: &ProjectPage| -> Vec<String> {
            page.items.iter().map(|p| p.slug.to_string()).collect()
        };
        let all = r.list(&ListFilter::default());
        assert_eq!(
            (slugs(&all), all.total, all.revision),
            (vec!["a".into(), "b".into(), "c".into(), "d".into()], 4, 9)
        );
        let online = r.list(&ListFilter {
            status: Some(Status::Online),
            limit: Some(1),
            offset: 1,
            ..ListFilter::default()
        });
        assert_eq!((slugs(&online), online.total), (vec!["c".to_string()], 3));
        let tagged = r.list(&ListFilter {
            tag: Some(Tag::parse("y").unwrap()),
            ..ListFilter::default()
        });
        assert_eq!(
            (slugs(&tagged), tagged.total),
            (vec!["a".to_string(), "b".into()], 2)
        );
        // Tag filters ignore case; the cursor resumes after a slug, counted in full.
        let upper = r.list(&ListFilter {
            tag: Some(Tag::parse("Y").unwrap()),
            ..ListFilter::default()
        });
        assert_eq!(slugs(&upper), ["a", "b"]);
        let after = r.list(&ListFilter {
            after: Some(Slug::parse("a").unwrap()),
            limit: Some(2),
            ..ListFilter::default()
        });
        assert_eq!(
            (slugs(&after), after.total),
            (vec!["b".into(), "c".into()], 4)
        );
        let after_online = r.list(&ListFilter {
            status: Some(Status::Online),
            after: Some(Slug::parse("a").unwrap()),
            ..ListFilter::default()
        });
        assert_eq!(slugs(&after_online), ["c", "d"]);
        let past_the_end = r.list(&ListFilter {
            offset: 10,
            ..ListFilter::default()
        });
        assert_eq!((past_the_end.items.len(), past_the_end.total), (0, 4));
        assert_eq!(
            r.counts(),
            StatusCounts {
                online: 3,
                degraded: 0,
                offline: 1
            }
        );
    }

    #[test]
    fn lists_by_metadata_every_condition_holding() {
        let with = |slug: &str, meta: serde_json::Value| {
            let mut p = project(slug, Status::Online, &[]);
            p.metadata = crate::model::Metadata::from_json(meta).unwrap();
            p
        };
        let mut r = Registry::new();
        r.load(Snapshot {
            revision: 1,
            projects: vec![
                with("a", serde_json::json!({"team": "ops", "allow_fanout": []})),
                with("b", serde_json::json!({"team": "ops", "replicas": 3})),
                with("c", serde_json::json!({"team": "web"})),
                project("d", Status::Offline, &[]),
            ],
        });
        let slugs = |conditions: &[(&str, &str)]| -> (Vec<String>, u64) {
            let filter = ListFilter::default().with_meta(conditions).unwrap();
            let page = r.list(&filter);
            (
                page.items.iter().map(|p| p.slug.to_string()).collect(),
                page.total,
            )
        };
        assert_eq!(slugs(&[("team", "ops")]), (vec!["a".into(), "b".into()], 2));
        assert_eq!(
            slugs(&[("team", "ops"), ("replicas", "3")]),
            (vec!["b".into()], 1)
        );
        assert_eq!(slugs(&[("allow_fanout", "[]")]), (vec!["a".into()], 1));
        assert_eq!(slugs(&[("nobody", "x")]), (vec![], 0));
        let err = ListFilter::default()
            .with_meta(&[("a b", "x")])
            .unwrap_err();
        assert_eq!(err.field, "meta.a b");
    }

    #[test]
    fn a_noted_skew_survives_the_stores_copy() {
        let mut r = Registry::new();
        r.load(Snapshot {
            revision: 1,
            projects: vec![project("a", Status::Online, &[])],
        });
        let slug = Slug::parse("a").unwrap();
        r.note_skew(&slug, 42.5);
        r.apply(vec![change(
            2,
            ChangeKind::Updated,
            Some(project("a", Status::Online, &[])),
            "a",
        )]);
        assert_eq!(r.get(&slug).unwrap().clock_skew_seconds, Some(42.5));
    }

    fn transition(slug: &str, from: Status, to: Status, tags: &[&str]) -> Change {
        change(
            9,
            ChangeKind::Transition(Transition {
                slug: Slug::parse(slug).unwrap(),
                from,
                to,
                reason: None,
                at: t(9),
                last_heartbeat_at: None,
            }),
            Some(project(slug, to, tags)),
            slug,
        )
    }

    #[test]
    fn a_change_filter_matches_slug_tag_and_status_and_lets_deletions_through() {
        let any = ChangeFilter::parse(None, None, None).unwrap();
        let reg = change(
            1,
            ChangeKind::Registered,
            Some(project("a", Status::Offline, &["Rust"])),
            "a",
        );
        let del = change(2, ChangeKind::Deleted { reason: None }, None, "b");
        let up = transition("a", Status::Offline, Status::Online, &["Rust"]);
        assert!(any.matches(&reg) && any.matches(&del) && any.matches(&up));

        let by_slug = ChangeFilter::parse(Some("A"), None, None).unwrap();
        assert!(by_slug.matches(&reg) && by_slug.matches(&up));
        assert!(!by_slug.matches(&del), "another project's deletion");

        let by_tag = ChangeFilter::parse(None, Some("rust"), None).unwrap();
        assert!(by_tag.matches(&reg) && by_tag.matches(&up) && by_tag.matches(&del));
        assert!(!by_tag.matches(&transition("c", Status::Offline, Status::Online, &["go"])));

        let offline = ChangeFilter::parse(None, None, Some("offline")).unwrap();
        assert!(offline.matches(&reg), "registered offline");
        assert!(offline.matches(&up), "leaves offline");
        assert!(!offline.matches(&transition("a", Status::Online, Status::Degraded, &[])));

        assert_eq!(
            ChangeFilter::parse(Some("-x"), None, None)
                .unwrap_err()
                .field,
            "slug"
        );
        assert_eq!(
            ChangeFilter::parse(None, None, Some("up"))
                .unwrap_err()
                .field,
            "status"
        );
    }

    #[test]
    fn the_summary_counts_by_status_and_tag_and_names_the_longest_offline() {
        let mut r = Registry::new();
        let mut old = project("old", Status::Offline, &["Rust", "db"]);
        old.last_heartbeat_at = Some(t(5));
        let mut newer = project("newer", Status::Offline, &["rust"]);
        newer.last_heartbeat_at = Some(t(50));
        let mut up = project("up", Status::Online, &["db"]);
        up.last_heartbeat_at = Some(t(1));
        r.load(Snapshot {
            revision: 7,
            projects: vec![old, newer, up],
        });
        let s = r.summary();
        assert_eq!(s.total, 3);
        assert_eq!((s.counts.online, s.counts.offline), (1, 2));
        assert_eq!(s.revision, 7);
        let tags: Vec<(&str, usize, usize)> = s
            .tags
            .iter()
            .map(|(t, c)| (t.as_str(), c.online, c.offline))
            .collect();
        assert_eq!(tags, vec![("db", 1, 1), ("rust", 0, 2)]);
        let l = s.longest_offline.unwrap();
        assert_eq!((l.slug.as_str(), l.silent_since), ("old", t(5)));

        // Never heard: silent since its registration.
        let mut never = project("never", Status::Offline, &[]);
        never.created_at = t(-10);
        r.apply(vec![change(
            8,
            ChangeKind::Registered,
            Some(never),
            "never",
        )]);
        let l = r.summary().longest_offline.unwrap();
        assert_eq!((l.slug.as_str(), l.last_heartbeat_at), ("never", None));
    }
}
