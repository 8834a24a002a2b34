//! What a follower's own table saw happen that the log has not recorded yet: each
//! project's chain of transitions (at their real times) since the status the log holds.
//! The leader writes its own; a follower keeps its chains so that, promoted after the
//! leader died with unwritten transitions (a database outage, then kill -9), it writes
//! the old leader's chain step by step with real times instead of one reconciled
//! transition now. Bounded: past [`MAX_UNCONFIRMED`] transitions the oldest chains are
//! dropped (their projects then reconcile as before: one transition at promotion).

use std::collections::{HashMap, VecDeque};

use crate::model::{Slug, Status, Transition};

/// Transitions kept at most, over all projects.
pub const MAX_UNCONFIRMED: usize = 10_000;

/// The chains, in the order their first transitions happened.
#[derive(Debug, Default)]
pub(super) struct Unconfirmed {
    /// Each project's chain, with the number it was started under; each transition
    /// with its place in the order they were kept.
    chains: HashMap<Slug, (u64, VecDeque<(u64, Transition)>)>,
    /// Chains in the order they began (oldest first), for the bound; an entry whose
    /// number is no longer its project's chain's is stale and skipped.
    order: VecDeque<(Slug, u64)>,
    next: u64,
    len: usize,
}

impl Unconfirmed {
    /// A tick of this follower's table produced `transitions`; `recorded` is each
    /// project's status in the log. A step that starts no chain and ends where the log
    /// already is was recorded before this table saw it: nothing to keep.
    pub(super) fn keep(
        &mut self,
        transitions: Vec<Transition>,
        recorded: impl Fn(&Slug) -> Option<Status>,
    ) {
        for t in transitions {
            if !self.chains.contains_key(&t.slug) && recorded(&t.slug) == Some(t.to) {
                continue;
            }
            let next = &mut self.next;
            let (number, chain) = self.chains.entry(t.slug.clone()).or_insert_with(|| {
                *next += 1;
                (*next, VecDeque::new())
            });
            if chain.is_empty() {
                self.order.push_back((t.slug.clone(), *number));
            }
            self.next += 1;
            chain.push_back((self.next, t));
            self.len += 1;
        }
        while self.len > MAX_UNCONFIRMED {
            let Some((oldest, number)) = self.order.pop_front() else {
                break;
            };
            if self.chains.get(&oldest).is_some_and(|(n, _)| *n == number) {
                self.forget(&oldest);
            }
        }
        if self.order.len() > 2 * MAX_UNCONFIRMED {
            let chains = &self.chains;
            self.order
                .retain(|(s, number)| chains.get(s).is_some_and(|(n, _)| n == number));
        }
    }

    /// The log recorded `t`. The log's story stands up to `t.at`: steps this table saw
    /// before it are either the same steps (recorded already) or superseded, and are
    /// dropped. Of the rest, the first is `t` itself when it is the same step (from,
    /// to), seen a little later here; otherwise the leader saw another story, and the
    /// chain is cut to what follows from the recorded status (or dropped).
    ///
    /// Matching by content alone is not enough: a step only this table saw (the leader
    /// never recorded it) would be taken for a later recorded step of the same content,
    /// and the step this table saw of *that* one would stay, to be written again, with
    /// an earlier time than the log's, at a promotion.
    pub(super) fn confirm(&mut self, t: &Transition) {
        let Some((_, chain)) = self.chains.get_mut(&t.slug) else {
            return;
        };
        let before = chain.len();
        while chain.front().is_some_and(|(_, c)| c.at < t.at) {
            chain.pop_front();
        }
        match chain.front() {
            Some((_, first)) if first.from == t.from && first.to == t.to => {
                chain.pop_front();
            }
            _ => {
                while chain.front().is_some_and(|(_, c)| c.from != t.to) {
                    chain.pop_front();
                }
            }
        }
        self.len -= before - chain.len();
        if chain.is_empty() {
            self.chains.remove(&t.slug);
        }
    }

    /// The project is gone (or its chain no longer matters).
    pub(super) fn forget(&mut self, slug: &Slug) {
        if let Some((_, chain)) = self.chains.remove(slug) {
            self.len -= chain.len();
        }
    }

    /// Every chain, in the order the transitions happened, emptied (on promotion).
    pub(super) fn take(&mut self) -> Vec<Transition> {
        let mut all: Vec<(u64, Transition)> =
            self.chains.drain().flat_map(|(_, (_, c))| c).collect();
        all.sort_by_key(|(seq, _)| *seq);
        self.order.clear();
        self.len = 0;
        all.into_iter().map(|(_, t)| t).collect()
    }

    /// Transitions kept.
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status::{Degraded, Offline, Online};
    use crate::testing::{secs, slug, t0};

    fn t(s: &str, from: Status, to: Status, at: i64) -> Transition {
        Transition {
            slug: slug(s),
            from,
            to,
            reason: None,
            at: t0() + secs(at),
            last_heartbeat_at: None,
        }
    }

    #[test]
    fn the_log_confirms_a_chain_step_by_step_and_a_story_of_its_own_cuts_it() {
        let mut u = Unconfirmed::default();
        let online = |_: &Slug| Some(Online);
        // Already in the log: nothing to keep.
        u.keep(vec![t("a", Offline, Online, 0)], online);
        assert_eq!(u.len(), 0);
        u.keep(
            vec![t("a", Online, Degraded, 60), t("b", Online, Degraded, 61)],
            online,
        );
        u.keep(vec![t("a", Degraded, Offline, 90)], online);
        assert_eq!(u.len(), 3);
        u.confirm(&t("a", Online, Degraded, 60));
        assert_eq!(u.len(), 2);
        // The leader saw b go offline at once instead: b's chain no longer applies.
        u.confirm(&t("b", Online, Offline, 62));
        assert_eq!(u.len(), 1);
        let left = u.take();
        assert_eq!(left, vec![t("a", Degraded, Offline, 90)]);
        assert_eq!(u.len(), 0);
    }

    #[test]
    fn steps_before_a_recorded_step_are_never_replayed() {
        let mut u = Unconfirmed::default();
        let online = |_: &Slug| Some(Online);
        // A hiccup only this table saw: the leader recorded nothing of it.
        u.keep(
            vec![t("a", Online, Degraded, 5), t("a", Degraded, Online, 7)],
            online,
        );
        // Later the project really is late: this table sees it a little before the
        // log brings the leader's step.
        u.keep(vec![t("a", Online, Degraded, 20)], online);
        u.confirm(&t("a", Online, Degraded, 20));
        assert_eq!(u.len(), 0, "{:?}", u.take());
        // Seen here a little after the leader recorded it: the same step.
        u.keep(vec![t("b", Online, Degraded, 30)], online);
        u.confirm(&t("b", Online, Degraded, 29));
        assert_eq!(u.len(), 0);
        // What this table saw after the log's step is kept for a promotion.
        u.keep(
            vec![t("c", Online, Degraded, 40), t("c", Degraded, Offline, 50)],
            online,
        );
        u.confirm(&t("c", Online, Degraded, 41));
        assert_eq!(u.take(), vec![t("c", Degraded, Offline, 50)]);
    }

    #[test]
    fn the_oldest_chains_go_first_past_the_bound() {
        let mut u = Unconfirmed::default();
        u.keep(vec![t("first", Online, Degraded, 0)], |_| None);
        let many: Vec<Transition> = (0..MAX_UNCONFIRMED)
            .map(|i| t(&format!("p{i}"), Online, Degraded, 1))
            .collect();
        u.keep(many, |_| None);
        assert_eq!(u.len(), MAX_UNCONFIRMED);
        assert!(!u.take().iter().any(|t| t.slug.as_str() == "first"));
    }
}
