//! What a tick hands to the store: transitions and liveness rows, and how a backlog
//! is cut into parts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::entry::{record, record_of};
use super::Presence;
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

    /// Keeps the first `max` transitions, each with its project's later ones (see
    /// [`take_steps`]) and update, and at most `max` updates of projects without a
    /// transition, and returns the rest, moved, not copied: what a tick leaves to the
    /// next when a backlog is larger than one tick writes. `None` when everything fits.
    pub fn cut(&mut self, max: usize) -> Option<Flush> {
        if self.transitions.len() <= max && self.updates.len() <= max {
            return None;
        }
        let mut later = std::mem::take(&mut self.transitions);
        self.transitions = take_steps(&mut later, max);
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

    /// Cuts a batch into parts of about `max` transitions (each project's steps in one
    /// part, with its update: see [`take_steps`]) followed by parts of at most `max`
    /// updates of projects without one, so each part is one short store transaction.
    /// Written in order, the parts keep every project's history in order, and a
    /// project's row gets its status with its last transition. A batch within `max` is
    /// one part; the mass expiry, if any, goes with the first.
    pub fn split(self, max: usize) -> Vec<Flush> {
        let max = max.max(1);
        if self.transitions.len() <= max && self.updates.len() <= max {
            return vec![self];
        }
        let mut transitions = self.transitions;
        let mut parts = Vec::new();
        while !transitions.is_empty() {
            parts.push(Flush {
                transitions: take_steps(&mut transitions, max),
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

/// Takes the first `max` transitions off `transitions` with every later one of the same
/// projects, in order, and leaves the rest in order: a project's steps are never written
/// apart. The store chains each step onto the status the project's row holds, and only
/// a part with the project's update moves that status; a step written in a part before
/// its project's update would leave the row behind, and the next part's step would be
/// recorded from the stale status (online → degraded, then online → offline). A part
/// can so hold a few more than `max` (a project changes a few times per tick at most).
fn take_steps(transitions: &mut Vec<Transition>, max: usize) -> Vec<Transition> {
    if transitions.len() <= max {
        return std::mem::take(transitions);
    }
    let projects: std::collections::HashSet<Slug> = transitions
        .iter()
        .take(max)
        .map(|t| t.slug.clone())
        .collect();
    // The rest closes up in place: a backlog of a million steps is not copied into a
    // second vector every tick (that was a few hundred MB at once, and the copying).
    let mut seen = 0;
    let mut taken = Vec::with_capacity(max);
    taken.extend(transitions.extract_if(.., |t| {
        seen += 1;
        seen <= max || projects.contains(&t.slug)
    }));
    if let Some(to) = room_to_give_back(transitions.len(), transitions.capacity()) {
        transitions.shrink_to(to);
    }
    taken
}

/// Below this much room, a backlog keeps what it has.
const ROOM_FLOOR: usize = 4096;

/// The room to shrink a backlog to once it holds a quarter of its room, if so: a wave
/// of a million first beats grows the backlog to a million steps (and the list of
/// changed entries to a million slugs), and a collection keeps the room it grew to (72 MB
/// of steps, resident, after the wave is written).
fn room_to_give_back(held: usize, room: usize) -> Option<usize> {
    (room > 4 * held.max(ROOM_FLOOR)).then_some(2 * held)
}

/// What the table hands to the store, and takes back when the store refuses it.
impl Presence {
    /// Applies the clock (crediting unheard time) and takes everything to persist.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Flush {
        self.tick_at_most(now, usize::MAX)
    }

    /// As [`Presence::tick`], taking at most about `max` transitions (with every later
    /// step of the same projects, as [`Flush::cut`] keeps them) and their projects'
    /// rows, and, once no transition waits, at most `max` rows of other changed
    /// projects, oldest first. The rest stays where it is for the next ticks: a backlog
    /// (the first beat of a large fleet, more heartbeats than a tick writes) costs a
    /// tick what it takes, not what waits.
    pub fn tick_at_most(&mut self, now: DateTime<Utc>, max: usize) -> Flush {
        let mass_expiry = self.advance(now);
        let transitions = take_steps(&mut self.pending, max);
        let mut updates = Vec::new();
        for t in &transitions {
            if let Some(entry) = self.entries.get_mut(&t.slug) {
                // One record per entry per batch: the flag says it is not written yet.
                if std::mem::replace(&mut entry.dirty, false) {
                    updates.push(record(&t.slug, entry));
                }
            }
        }
        // A row written ahead of its project's waiting step would move its status before
        // the step is recorded: other rows go only when no step waits.
        if self.pending.is_empty() {
            let mut quiet = 0;
            while quiet < max {
                let Some(slug) = self.dirty.pop_front() else {
                    break;
                };
                if let Some(entry) = self.entries.get_mut(&slug) {
                    if std::mem::replace(&mut entry.dirty, false) {
                        updates.push(record_of(slug, entry));
                        quiet += 1;
                    }
                }
            }
            if let Some(to) = room_to_give_back(self.dirty.len(), self.dirty.capacity()) {
                self.dirty.shrink_to(to);
            }
        }
        Flush {
            transitions,
            updates,
            mass_expiry,
        }
    }

    /// The liveness (heartbeat time, version) of every project heard since the last
    /// call, for the registry: what heartbeats changed, whether or not it is written yet.
    pub fn take_heard(&mut self) -> Vec<PresenceRecord> {
        let mut heard = Vec::with_capacity(self.heard.len());
        for slug in self.heard.drain(..) {
            if let Some(entry) = self.entries.get_mut(&slug) {
                if std::mem::replace(&mut entry.heard, false) {
                    heard.push(record_of(slug, entry));
                }
            }
        }
        heard
    }

    /// The statuses heartbeats changed since the last tick, with those projects'
    /// records, for an early write: the clock is not applied (the ticks do that), the
    /// other dirty entries wait for the tick's batch. At most about `max` transitions, as
    /// [`Presence::tick_at_most`] takes them: a storm (a million first beats) costs a
    /// round what it writes, not what waits.
    pub fn take_changed(&mut self, max: usize) -> Flush {
        self.end_tick();
        self.pending.retain(|t| t.from != t.to);
        let transitions = take_steps(&mut self.pending, max);
        let updates = transitions
            .iter()
            .filter_map(|t| {
                let entry = self.entries.get_mut(&t.slug)?;
                // Written now: not again in the tick's batch (unless heard again).
                std::mem::replace(&mut entry.dirty, false).then(|| record(&t.slug, entry))
            })
            .collect();
        Flush {
            transitions,
            updates,
            mass_expiry: None,
        }
    }

    /// Puts back a flush the store could not take, so the next tick writes it again.
    /// Transitions keep their order ahead of newer ones; updates are re-read from the
    /// table then, so they carry the newest values.
    pub fn requeue(&mut self, flush: Flush) {
        let mut transitions: Vec<Transition> = flush
            .transitions
            .into_iter()
            .filter(|t| self.entries.contains_key(&t.slug))
            .collect();
        transitions.append(&mut self.pending);
        self.pending = transitions;
        self.end_tick();
        for update in flush.updates {
            if let Some(entry) = self.entries.get_mut(&update.slug) {
                if !entry.dirty {
                    entry.dirty = true;
                    self.dirty.push_back(update.slug);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use crate::testing::{slug, t0};

    #[test]
    fn a_backlog_taken_a_part_at_a_time_gives_its_room_back() {
        let mut backlog: Vec<Transition> = (0..100_000)
            .map(|i| Transition {
                slug: slug(&format!("p-{i}")),
                from: Status::Offline,
                to: Status::Online,
                reason: None,
                at: t0(),
                last_heartbeat_at: None,
            })
            .collect();
        let mut taken = 0;
        while !backlog.is_empty() {
            let part = take_steps(&mut backlog, 6_000);
            assert_eq!(part[0].slug, slug(&format!("p-{taken}")), "in order");
            taken += part.len();
            assert!(
                backlog.capacity() <= 4 * backlog.len().max(ROOM_FLOOR),
                "{} steps in room for {}",
                backlog.len(),
                backlog.capacity()
            );
        }
        assert_eq!(taken, 100_000);
    }
}
