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
    pub(super) project: Project,
    rendered: OnceLock<Bytes>,
}

impl Entry {
    pub(super) fn new(project: Project) -> Self {
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
            self.rendered.get_or_init(|| render(&self.project)).clone()
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
        self.projects.get(slug).map(|e| e.rendered(render, cache))
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
}
