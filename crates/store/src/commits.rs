//! This process's own recent commits to the change log, kept so that reading one's own
//! write back costs no query.
//!
//! Every writer of the log holds its lock (PostgreSQL's advisory lock), and the
//! statement that appends a write's changes also reads the log's head as it was when
//! the lock was taken: the revision the write *follows*. A write recorded here with
//! `after = N` is therefore the next thing in the log after revision N, with nothing
//! from any replica between. A reader at revision N is answered from here by
//! following such links (N → the write's last revision → …) as far as they go, but
//! only when they reach the newest revision this process knows of (from its own
//! writes, the log's reads and the notifications of other replicas' writes): an
//! answer is then every change after N, as the log would give it. A reader at any
//! other revision, or whose chain stops short, reads the log. So a follower still
//! learns every change in revision order, a change written by another replica (or by
//! a write of ours not recorded here, such as the leader's transitions) is always read
//! from the log, and this only spares the query that would return what this process
//! just wrote.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use federation_domain::{Change, ChangeKind, Project, Slug};

/// Where a write's changes went in the log: the head they follow and their revisions,
/// in the order they were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logged {
    pub after: u64,
    pub revisions: Vec<u64>,
}

/// A change as written, before the log numbered it.
#[derive(Debug)]
pub(crate) struct Written {
    pub slug: Slug,
    pub at: DateTime<Utc>,
    pub kind: ChangeKind,
    /// The project as the write left it (`None` once removed).
    pub project: Option<Project>,
}

/// How many recent writes are kept (a bounded memory: each holds its projects).
const KEEP: usize = 1024;

/// Recent commits of this process, by the revision each follows, and the newest
/// revision known to exist.
#[derive(Debug, Default)]
pub(crate) struct Commits {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_after: BTreeMap<u64, Vec<Change>>,
    /// The newest revision this process knows the log holds.
    known: u64,
    /// A notification did not say its revision (a bare `NOTIFY`, as an older version
    /// sends): nothing is answered from here until the log has been read to its end.
    unsure: bool,
}

impl Commits {
    /// Records a committed write: its changes, in revision order, followed `after` in
    /// the log. Ignored when the revisions do not all come after it, in order.
    pub(crate) fn record(&self, after: u64, changes: Vec<Change>) {
        let ordered = changes
            .iter()
            .try_fold(after, |prev, c| (c.revision > prev).then_some(c.revision))
            .is_some();
        let mut inner = self.lock();
        if let Some(last) = changes.last() {
            inner.known = inner.known.max(last.revision);
        }
        if changes.is_empty() || !ordered {
            return;
        }
        inner.by_after.insert(after, changes);
        while inner.by_after.len() > KEEP {
            inner.by_after.pop_first();
        }
    }

    /// Notes that the log holds `revision` (a write not recorded, a read of the log,
    /// another replica's notification).
    pub(crate) fn saw(&self, revision: u64) {
        let mut inner = self.lock();
        inner.known = inner.known.max(revision);
    }

    /// Notes a change somewhere in the log, revision unknown.
    pub(crate) fn saw_unknown(&self) {
        self.lock().unsure = true;
    }

    /// Notes a read of the log to its end (its last change, if any).
    pub(crate) fn read_to_end(&self, last: Option<u64>) {
        let mut inner = self.lock();
        inner.unsure = false;
        inner.known = inner.known.max(last.unwrap_or(0));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a committed write from what it wrote and where the log put it (nothing
    /// when the two do not pair up).
    pub(crate) fn record_write(&self, logged: Option<Logged>, written: Vec<Written>) {
        let Some(logged) = logged else { return };
        if logged.revisions.len() != written.len() {
            self.saw(logged.revisions.iter().copied().max().unwrap_or(0));
            return;
        }
        let changes = written
            .into_iter()
            .zip(logged.revisions)
            .map(|(w, revision)| Change {
                revision,
                slug: w.slug,
                at: w.at,
                kind: w.kind,
                project: w.project,
            })
            .collect();
        self.record(logged.after, changes);
    }

    /// Every change after `revision`, oldest first, at most `limit`, when this process
    /// wrote them (see the module docs); `None` when the log must be read.
    pub(crate) fn since(&self, revision: u64, limit: u32) -> Option<Vec<Change>> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let inner = self.lock();
        if inner.unsure {
            return None;
        }
        let mut out: Vec<Change> = Vec::new();
        let mut at = revision;
        while out.len() < limit {
            let Some(next) = inner.by_after.get(&at) else {
                break;
            };
            let room = limit - out.len();
            out.extend(next.iter().take(room).cloned());
            match out.last() {
                Some(last) if last.revision > at => at = last.revision,
                _ => break,
            }
        }
        let whole = out.len() == limit || at >= inner.known;
        (!out.is_empty() && whole).then_some(out)
    }

    /// Forgets the writes kept (the log was trimmed: a reader at a trimmed revision
    /// reads the log, and hears so), keeping what is known of the log's head.
    pub(crate) fn forget_writes(&self) {
        self.lock().by_after.clear();
    }

    /// Forgets everything (the log was replaced, as by an import).
    pub(crate) fn clear(&self) {
        *self.lock() = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use federation_domain::{ChangeKind, Slug};

    fn change(revision: u64) -> Change {
        Change {
            revision,
            slug: Slug::parse("demo").unwrap(),
            at: Utc::now(),
            kind: ChangeKind::Updated,
            project: None,
        }
    }

    fn revisions(changes: Option<Vec<Change>>) -> Option<Vec<u64>> {
        changes.map(|c| c.iter().map(|c| c.revision).collect())
    }

    #[test]
    fn answers_a_reader_whose_revision_a_write_follows() {
        let commits = Commits::default();
        commits.record(4, vec![change(5), change(6)]);
        commits.record(6, vec![change(8)]);
        assert_eq!(revisions(commits.since(4, 100)), Some(vec![5, 6, 8]));
        assert_eq!(revisions(commits.since(6, 100)), Some(vec![8]));
        assert_eq!(revisions(commits.since(4, 2)), Some(vec![5, 6]));
        assert_eq!(revisions(commits.since(4, 1)), Some(vec![5]));
    }

    #[test]
    fn sends_every_other_reader_to_the_log() {
        let commits = Commits::default();
        commits.record(4, vec![change(5), change(6)]);
        // 3: revision 4 was another replica's (or an unrecorded write of ours).
        assert_eq!(revisions(commits.since(3, 100)), None);
        // 5: mid-write; 8: past everything recorded.
        assert_eq!(revisions(commits.since(5, 100)), None);
        assert_eq!(revisions(commits.since(8, 100)), None);
        commits.forget_writes();
        assert_eq!(revisions(commits.since(4, 100)), None);
        commits.record(6, vec![change(7)]);
        commits.clear();
        assert_eq!(revisions(commits.since(6, 100)), None);
    }

    #[test]
    fn stops_short_of_a_revision_known_from_elsewhere() {
        let commits = Commits::default();
        commits.record(4, vec![change(5)]);
        // Another replica's write (its notification, or a read of the log).
        commits.saw(6);
        assert_eq!(revisions(commits.since(4, 100)), None);
        // Ours after it: the chain from 6 reaches the newest known revision again.
        commits.record(6, vec![change(7)]);
        assert_eq!(revisions(commits.since(6, 100)), Some(vec![7]));
        assert_eq!(revisions(commits.since(4, 100)), None);
        // A full batch needs no end: the reader asks for the rest.
        commits.saw(9);
        assert_eq!(revisions(commits.since(6, 1)), Some(vec![7]));
        // A notification that does not say its revision: the log, until read through.
        commits.record(9, vec![change(10)]);
        assert_eq!(revisions(commits.since(9, 100)), Some(vec![10]));
        commits.saw_unknown();
        assert_eq!(revisions(commits.since(9, 100)), None);
        commits.read_to_end(Some(10));
        assert_eq!(revisions(commits.since(9, 100)), Some(vec![10]));
    }

    #[test]
    fn ignores_writes_out_of_order_and_keeps_a_bounded_number() {
        let commits = Commits::default();
        commits.record(4, vec![change(4)]);
        commits.record(4, vec![change(6), change(5)]);
        commits.record(4, Vec::new());
        assert_eq!(revisions(commits.since(4, 100)), None);
        for after in 0..(KEEP as u64 + 10) {
            commits.record(after * 2, vec![change(after * 2 + 1)]);
        }
        assert_eq!(revisions(commits.since(0, 100)), None);
        let newest = (KEEP as u64 + 9) * 2;
        assert_eq!(
            revisions(commits.since(newest, 100)),
            Some(vec![newest + 1])
        );
    }
}
