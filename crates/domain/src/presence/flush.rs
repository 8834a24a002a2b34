//! What a tick hands to the store: transitions and liveness rows, and how a backlog
//! is cut into parts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::{PresenceRecord, Slug, Transition};

/// A sweep that expired a large share of the live projects at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MassExpiry {
    /// When the sweep ran.
    pub at: DateTime<Utc>,
    /// Projects that went offline in this sweep.
    pub expired: usize,
    /// Projects that were online or degraded before it.
    pub live: usize,
}

/// Everything one tick hands to the store (and, after it is stored, to the bus).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flush {
    /// Status changes, oldest first.
    pub transitions: Vec<Transition>,
    /// The current liveness fields of every entry changed since the last flush.
    pub updates: Vec<PresenceRecord>,
    /// Set when this tick's sweep was a mass expiry.
    pub mass_expiry: Option<MassExpiry>,
}

impl Flush {
    /// Nothing to store.
    pub fn is_empty(&self) -> bool {
        self.transitions.is_empty() && self.updates.is_empty()
    }

    /// Keeps the first `max` transitions with the updates of their projects, and at most
    /// `max` updates of projects without a transition, and returns the rest, moved, not
    /// copied: what a tick leaves to the next when a backlog is larger than one tick
    /// writes. A project whose transitions go on in the rest keeps its update for the
    /// rest too, so its row gets its status with its last transition (followers take a
    /// project's state from the change its transition wrote). `None` when everything
    /// fits.
    pub fn cut(&mut self, max: usize) -> Option<Flush> {
        if self.transitions.len() <= max && self.updates.len() <= max {
            return None;
        }
        let later = self.transitions.split_off(max.min(self.transitions.len()));
        let waiting: std::collections::HashSet<&Slug> = later.iter().map(|t| &t.slug).collect();
        let changing: std::collections::HashSet<&Slug> =
            self.transitions.iter().map(|t| &t.slug).collect();
        let (mut now, mut then) = (Vec::new(), Vec::new());
        let mut quiet = 0;
        for update in self.updates.drain(..) {
            if waiting.contains(&update.slug) {
                then.push(update);
            } else if changing.contains(&update.slug) {
                now.push(update);
            } else if quiet < max {
                quiet += 1;
                now.push(update);
            } else {
                then.push(update);
            }
        }
        self.updates = now;
        Some(Flush {
            transitions: later,
            updates: then,
            mass_expiry: None,
        })
    }

    /// Cuts a batch into parts of at most `max` transitions (each part with the updates
    /// of the projects whose last transition it holds) followed by parts of at most
    /// `max` updates of projects without one, so each part is one short store
    /// transaction. Written in order, the parts keep every project's history in order,
    /// and a project's row gets its status with its last transition. A batch within
    /// `max` is one part; the mass expiry, if any, goes with the first.
    pub fn split(self, max: usize) -> Vec<Flush> {
        let max = max.max(1);
        if self.transitions.len() <= max && self.updates.len() <= max {
            return vec![self];
        }
        let mut transitions = self.transitions.into_iter().peekable();
        let mut parts = Vec::new();
        while transitions.peek().is_some() {
            parts.push(Flush {
                transitions: transitions.by_ref().take(max).collect(),
                updates: Vec::new(),
                mass_expiry: None,
            });
        }
        let last_part: HashMap<Slug, usize> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, part)| part.transitions.iter().map(move |t| (t.slug.clone(), i)))
            .collect();
        let mut rest = Vec::new();
        for update in self.updates {
            match last_part.get(&update.slug).and_then(|&i| parts.get_mut(i)) {
                Some(part) => part.updates.push(update),
                None => rest.push(update),
            }
        }
        let mut rest = rest.into_iter().peekable();
        while rest.peek().is_some() {
            parts.push(Flush {
                transitions: Vec::new(),
                updates: rest.by_ref().take(max).collect(),
                mass_expiry: None,
            });
        }
        if let Some(first) = parts.first_mut() {
            first.mass_expiry = self.mass_expiry;
        }
        parts
    }

    /// The parts of [`Flush::split`] back as one batch (what is left to write after a
    /// part failed).
    pub fn join(parts: impl IntoIterator<Item = Flush>) -> Flush {
        let mut all = Flush::default();
        for mut part in parts {
            all.transitions.append(&mut part.transitions);
            all.updates.append(&mut part.updates);
            all.mass_expiry = all.mass_expiry.or(part.mass_expiry);
        }
        all
    }
}
