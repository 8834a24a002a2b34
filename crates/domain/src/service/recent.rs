//! The changes this replica applied last, in the log's order, kept for the outbox: a
//! leader reads its own writes back from the log to apply them, and publishes them from
//! here instead of reading them a second time (a storm of first beats spent a third of
//! each part's time in that second read).

use std::collections::VecDeque;

use crate::replication::Change;

/// The most changes kept (a tick publishes at most `PUBLISH_PER_TICK`, and a follower,
/// which never publishes, keeps no more than this either).
const KEPT: usize = 10_000;

/// Every change of the log after `after`, up to the last kept, without their projects.
#[derive(Debug, Default)]
pub(super) struct Recent {
    /// The revision right before the first kept change (revisions are not dense: this
    /// is where the registry stood, not the first's revision minus one).
    after: u64,
    changes: VecDeque<Change>,
}

impl Recent {
    /// Notes `applied`, the changes the registry took in order when it stood at
    /// `from`; anything else kept is dropped unless they follow on from it.
    pub(super) fn applied(&mut self, from: u64, applied: &[Change]) {
        if applied.is_empty() {
            return;
        }
        if self.through() != from {
            self.changes.clear();
            self.after = from;
        }
        for change in applied {
            self.changes.push_back(Change {
                revision: change.revision,
                slug: change.slug.clone(),
                at: change.at,
                kind: change.kind.clone(),
                project: None,
            });
        }
        while self.changes.len() > KEPT {
            self.drop_first();
        }
    }

    /// Forgets everything (the registry was reloaded from a snapshot at `revision`).
    pub(super) fn reset(&mut self, revision: u64) {
        self.changes.clear();
        self.after = revision;
    }

    /// Up to `limit` changes right after `revision`, when all of them are kept; `None`
    /// when the log must be read instead (nothing kept after it, or not from it).
    pub(super) fn since(&self, revision: u64, limit: usize) -> Option<Vec<Change>> {
        if revision < self.after || revision >= self.through() {
            return None;
        }
        Some(
            self.changes
                .iter()
                .skip_while(|c| c.revision <= revision)
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    /// Drops the changes through `revision` (published: never asked for again).
    pub(super) fn published(&mut self, revision: u64) {
        while self.changes.front().is_some_and(|c| c.revision <= revision) {
            self.drop_first();
        }
    }

    /// The last revision kept (`after` when none is).
    fn through(&self) -> u64 {
        self.changes.back().map_or(self.after, |c| c.revision)
    }

    fn drop_first(&mut self) {
        if let Some(first) = self.changes.pop_front() {
            self.after = first.revision;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Slug;
    use crate::replication::ChangeKind;

    fn change(revision: u64) -> Change {
        Change {
            revision,
            slug: Slug::parse("a").unwrap(),
            at: chrono::DateTime::UNIX_EPOCH,
            kind: ChangeKind::Registered,
            project: None,
        }
    }

    fn revisions(changes: Option<Vec<Change>>) -> Option<Vec<u64>> {
        changes.map(|c| c.iter().map(|c| c.revision).collect())
    }

    #[test]
    fn serves_only_what_follows_on_from_the_revision_asked_for() {
        let mut r = Recent::default();
        // The registry stood at 3; revisions skip numbers (5 never committed).
        r.applied(3, &[change(4), change(6), change(7)]);
        assert_eq!(revisions(r.since(3, 10)), Some(vec![4, 6, 7]));
        assert_eq!(revisions(r.since(4, 1)), Some(vec![6]));
        assert_eq!(revisions(r.since(7, 10)), None, "nothing after 7 is kept");
        assert_eq!(
            revisions(r.since(2, 10)),
            None,
            "what came after 2 is not all kept"
        );
        r.applied(7, &[change(9)]);
        assert_eq!(revisions(r.since(6, 10)), Some(vec![7, 9]));
        r.published(7);
        assert_eq!(
            revisions(r.since(6, 10)),
            None,
            "7 was published and dropped"
        );
        assert_eq!(revisions(r.since(7, 10)), Some(vec![9]));
    }

    #[test]
    fn a_gap_or_a_reload_starts_over() {
        let mut r = Recent::default();
        r.applied(0, &[change(1), change(2)]);
        // Applied from 5: whatever came between 2 and 5 was never seen here.
        r.applied(5, &[change(6)]);
        assert_eq!(revisions(r.since(2, 10)), None);
        assert_eq!(revisions(r.since(5, 10)), Some(vec![6]));
        r.reset(100);
        assert_eq!(revisions(r.since(5, 10)), None);
        r.applied(100, &[change(101)]);
        assert_eq!(revisions(r.since(100, 10)), Some(vec![101]));
    }

    #[test]
    fn keeps_at_most_its_share() {
        let mut r = Recent::default();
        let many: Vec<Change> = (1..=KEPT as u64 + 5).map(change).collect();
        r.applied(0, &many);
        assert_eq!(revisions(r.since(0, 1)), None, "the oldest went");
        assert_eq!(revisions(r.since(5, 1)), Some(vec![6]));
    }
}
