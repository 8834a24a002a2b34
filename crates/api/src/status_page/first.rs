//! The first projects of the status page by name, kept as they are offered: a heap of
//! at most [`STATUS_PAGE_MAX_PROJECTS`], so that a catalog of a million is neither
//! copied nor sorted whole.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use federation_domain::{Project, Slug};

use super::STATUS_PAGE_MAX_PROJECTS;

/// The projects offered so far that come first by name (ignoring case), then slug;
/// `T` is what is kept of each.
pub(crate) struct FirstByName<T> {
    heap: BinaryHeap<ByName<T>>,
    offered: usize,
}

impl<T> FirstByName<T> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            offered: 0,
        }
    }

    /// Offers `p`: kept (as `keep` makes it, called only then) while it is among the
    /// first.
    pub(crate) fn offer(&mut self, p: &Project, keep: impl FnOnce() -> T) {
        self.offered += 1;
        let key = (p.name.as_str().to_lowercase(), p.slug.clone());
        if self.heap.len() == STATUS_PAGE_MAX_PROJECTS {
            match self.heap.peek() {
                Some(last) if key < last.key => {
                    self.heap.pop();
                }
                _ => return,
            }
        }
        self.heap.push(ByName { key, item: keep() });
    }

    /// The first, in order, and how many offered are not among them.
    pub(crate) fn finish(self) -> (Vec<T>, usize) {
        let first: Vec<T> = self
            .heap
            .into_sorted_vec()
            .into_iter()
            .map(|b| b.item)
            .collect();
        let left_out = self.offered - first.len();
        (first, left_out)
    }
}

/// An item ordered by its key alone.
struct ByName<T> {
    key: (String, Slug),
    item: T,
}

impl<T> PartialEq for ByName<T> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<T> Eq for ByName<T> {}

impl<T> PartialOrd for ByName<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for ByName<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.cmp(&other.key)
    }
}
