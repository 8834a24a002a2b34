//! Group rollups: a tag's or the fleet's figures per closed UTC day, kept by the leader
//! beside each project's, so that a group's report reads about one row per day instead
//! of one per project and day.
//!
//! A group's day holds its members' figures added up ([`Figures::plus`]) and, for the
//! members offline at either midnight, that offline stretch ([`Edge`]): combining days
//! in order ([`GroupFold`]) joins an outage that crosses midnight into one, exactly as
//! [`Figures::then`] does for one project. So a group's report equals the sum of its
//! members' reports, each over the days it was a member.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::figures::Figures;
use crate::model::{Project, Slug, Tag, Tags};

/// What a rollup needs of a project: its slug and its tags, not a copy of the whole
/// project (the leader rolls up every project of the catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The project's slug.
    pub slug: Slug,
    /// Its tags now: the groups it counts in.
    pub tags: Tags,
}

impl From<&Project> for Member {
    fn from(project: &Project) -> Self {
        Member {
            slug: project.slug.clone(),
            tags: project.tags.clone(),
        }
    }
}

/// Whose figures a group rollup holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every project registered.
    Fleet,
    /// The projects carrying a tag (ignoring case): the tag in lower case.
    Tag(String),
}

impl Scope {
    /// The scope of the projects tagged `tag` (any case).
    pub fn of_tag(tag: &Tag) -> Self {
        Scope::Tag(tag.as_str().to_lowercase())
    }

    /// The stored key: `fleet`, or `tag:` and the tag in lower case.
    pub fn key(&self) -> String {
        match self {
            Scope::Fleet => "fleet".to_owned(),
            Scope::Tag(t) => format!("tag:{t}"),
        }
    }

    /// The scopes `member` belongs to: the fleet and each of its tags.
    pub fn of_member(member: &Member) -> Vec<Scope> {
        let mut out = vec![Scope::Fleet];
        for tag in member.tags.iter() {
            let scope = Scope::of_tag(tag);
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        out
    }
}

/// A member's offline stretches at a day's edges (at least one of them not empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The member.
    pub slug: Slug,
    /// The offline time the day starts with.
    pub leading_offline: i64,
    /// The offline time the day ends with.
    pub trailing_offline: i64,
}

/// A group's figures for one day (or part of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDay {
    /// The group's key ([`Scope::key`]).
    pub scope: String,
    /// The day.
    pub day: NaiveDate,
    /// How many members it had that day.
    pub projects: u64,
    /// Their figures added up (no edges: see `edges`).
    pub figures: Figures,
    /// The members offline at either edge of the day.
    pub edges: Vec<Edge>,
}

impl GroupDay {
    /// The group day of `members`' figures over the same stretch.
    pub fn of<'a>(
        scope: &Scope,
        day: NaiveDate,
        members: impl IntoIterator<Item = (&'a Slug, &'a Figures)>,
    ) -> Self {
        let mut out = GroupDay {
            scope: scope.key(),
            day,
            projects: 0,
            figures: Figures::default(),
            edges: Vec::new(),
        };
        for (slug, f) in members {
            out.add(slug, f);
        }
        out
    }

    /// Counts one more member, `slug` with its figures `f`.
    fn add(&mut self, slug: &Slug, f: &Figures) {
        self.projects += 1;
        self.figures = self.figures.plus(f);
        if f.leading_offline > 0 || f.trailing_offline > 0 {
            self.edges.push(Edge {
                slug: slug.clone(),
                leading_offline: f.leading_offline,
                trailing_offline: f.trailing_offline,
            });
        }
    }
}

/// A day's group days built one member at a time, so that rolling up a large fleet
/// never holds every member's figures at once.
#[derive(Debug)]
pub struct GroupDays {
    day: NaiveDate,
    by_scope: HashMap<Scope, GroupDay>,
}

impl GroupDays {
    /// No member yet: only the fleet's (empty) group day.
    pub fn new(day: NaiveDate) -> Self {
        let mut by_scope = HashMap::new();
        by_scope.insert(Scope::Fleet, GroupDay::of(&Scope::Fleet, day, []));
        Self { day, by_scope }
    }

    /// Counts `member`, with its figures over the whole day, in each of its scopes.
    pub fn add(&mut self, member: &Member, figures: &Figures) {
        for scope in Scope::of_member(member) {
            let day = self.day;
            self.by_scope
                .entry(scope)
                .or_insert_with_key(|scope| GroupDay::of(scope, day, []))
                .add(&member.slug, figures);
        }
    }

    /// The group days, in the order of their keys.
    pub fn finish(self) -> Vec<GroupDay> {
        let mut out: Vec<GroupDay> = self.by_scope.into_values().collect();
        out.sort_by(|a, b| a.scope.cmp(&b.scope));
        out
    }
}

/// Group days combined in order, each following the one before at once: the sums add
/// up, and a member offline across a midnight (its trailing stretch on one day and its
/// leading one the next) has one outage there, as long as the whole run.
#[derive(Debug, Clone, Default)]
pub struct GroupFold {
    figures: Figures,
    /// Each member's offline run reaching the end of the last day pushed.
    open: HashMap<Slug, i64>,
}

impl GroupFold {
    /// Nothing combined yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next day: `figures` its sums, `len` its length, `edges` its members
    /// offline at its edges.
    pub fn push(&mut self, figures: &Figures, len: i64, edges: &[Edge]) {
        let mut f = self.figures.plus(figures);
        let mut open = HashMap::with_capacity(edges.len());
        for e in edges {
            let before = self.open.get(&e.slug).copied().unwrap_or(0);
            if before > 0 && e.leading_offline > 0 {
                f.outages = f.outages.saturating_sub(1);
                f.longest_outage = f.longest_outage.max(before + e.leading_offline);
            }
            if e.trailing_offline > 0 {
                let run = if e.leading_offline == len {
                    before + len
                } else {
                    e.trailing_offline
                };
                open.insert(e.slug.clone(), run);
            }
        }
        self.figures = f;
        self.open = open;
    }

    /// The figures so far.
    pub fn figures(&self) -> Figures {
        self.figures
    }
}
