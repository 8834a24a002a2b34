//! What the registry keeps beside each project for the read path: the bytes an
//! adapter renders the project to (the HTTP API: its JSON). A project's bytes are made
//! on its first read after it changed and dropped when it changes again (a change of
//! the log, a heartbeat's liveness, a clock skew), so a project is rendered once per
//! change however often it is read, and reads never clone projects.
//!
//! The domain never looks inside the bytes: what they are is the renderer's business.
//! One renderer fills the slots (the first one used; see [`Registry::rendered`]).

use std::sync::OnceLock;

use bytes::Bytes;

use super::Registry;
use crate::model::{ListFilter, Project, Slug};

/// Renders a project to the bytes an adapter serves.
pub type Renderer = fn(&Project) -> Bytes;

/// A project in the registry, with its rendering once one was asked for.
#[derive(Debug)]
pub(super) struct Entry {
    /// Boxed: the map's nodes hold a pointer, and a snapshot's boxes are taken as they
    /// are (see [`super::Snapshot::projects`]).
    pub(super) project: Box<Project>,
    /// Boxed: most entries of a large catalog hold no bytes (a list in parts keeps
    /// none), and an empty slot so takes 16 bytes, not 40.
    rendered: OnceLock<Box<Bytes>>,
}

impl Entry {
    pub(super) fn new(project: Box<Project>) -> Self {
        Self {
            project,
            rendered: OnceLock::new(),
        }
    }

    /// The project, to change: its rendering is dropped.
    pub(super) fn change(&mut self) -> &mut Project {
        self.rendered = OnceLock::new();
        &mut self.project
    }

    fn rendered(&self, render: Renderer, cache: bool) -> Bytes {
        if cache {
            Bytes::clone(
                self.rendered
                    .get_or_init(|| Box::new(render(&self.project))),
            )
        } else {
            render(&self.project)
        }
    }
}

/// One page of a list, each project as rendered bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedPage {
    /// The projects of this page, rendered, in slug order.
    pub items: Vec<Bytes>,
    /// The slug of the page's last project (the cursor of the next page).
    pub last: Option<Slug>,
    /// How many projects match the filter in all.
    pub total: u64,
    /// The change-log revision the page reflects (`X-Federation-Index`).
    pub revision: u64,
    /// The registry's generation the page was read at ([`Registry::generation`]).
    pub generation: u64,
}

impl Registry {
    /// Whether `render` fills the slots: the first renderer asked for does, and any
    /// other renders afresh every time (one adapter renders; a second one must not
    /// read the first one's bytes).
    fn caches(&self, render: Renderer) -> bool {
        std::ptr::fn_addr_eq(*self.renderer.get_or_init(|| render), render)
    }

    /// The project with this slug as `render` renders it, made once per change.
    pub fn rendered(&self, slug: &Slug, render: Renderer) -> Option<Bytes> {
        let cache = self.caches(render);
        self.projects
            .get(slug.as_str())
            .map(|e| e.rendered(render, cache))
    }

    /// [`Registry::list`], each project as `render` renders it (made once per change).
    pub fn list_rendered(&self, filter: &ListFilter, render: Renderer) -> RenderedPage {
        let cache = self.caches(render);
        let (total, entries) = self.select(filter);
        let mut last = None;
        let items = entries
            .map(|e| {
                last = Some(&e.project.slug);
                e.rendered(render, cache)
            })
            .collect();
        RenderedPage {
            items,
            last: last.cloned(),
            total: u64::try_from(total).unwrap_or(u64::MAX),
            revision: self.revision,
            generation: self.generation,
        }
    }

    /// How many projects `filter` matches (its paging aside), and the revision, when
    /// that is more than `more_than`; `None` otherwise. A catalog of no more than
    /// `more_than` projects answers without looking at them.
    pub fn matching_more_than(&self, filter: &ListFilter, more_than: u64) -> Option<(u64, u64)> {
        let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        if count(self.projects.len()) <= more_than {
            return None;
        }
        let total = if filter.is_unfiltered() {
            self.projects.len()
        } else {
            self.projects
                .unordered()
                .filter(|e| filter.matches(&e.project))
                .count()
        };
        (count(total) > more_than).then_some((count(total), self.revision))
    }

    /// One part of a long list read in parts, each under the lock for a moment: up to
    /// `limit` projects after `after` that `filter` matches (its paging aside), looking
    /// at no more than [`PART_SCAN`] projects. Bytes already kept are used; the others
    /// are rendered and not kept, or a list of the whole catalog would keep a copy of
    /// it. `None` as the cursor: the list is at its end.
    pub fn part_rendered(
        &self,
        filter: &ListFilter,
        after: Option<&Slug>,
        limit: usize,
        render: Renderer,
    ) -> (Vec<Bytes>, Option<Slug>) {
        use std::ops::Bound;
        let cache = self.caches(render);
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut items = Vec::with_capacity(limit.min(1024));
        let mut scanned = self.projects.from(lower);
        let mut last = None;
        for (slug, e) in scanned.by_ref().take(PART_SCAN) {
            if filter.matches(&e.project) {
                items.push(match e.rendered.get() {
                    Some(kept) if cache => Bytes::clone(kept),
                    _ => render(&e.project),
                });
            }
            last = Some(slug);
            if items.len() >= limit {
                break;
            }
        }
        let more = scanned.next().is_some();
        (items, last.filter(|_| more).cloned())
    }
}

/// The most projects one part of a list in parts looks at (a filter that matches few
/// must not hold the lock for a scan of the whole catalog).
pub const PART_SCAN: usize = 20_000;
