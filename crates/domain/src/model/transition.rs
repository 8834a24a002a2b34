//! Status changes and the liveness a presence table persists.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::slug::Slug;
use super::status::Status;
use super::version::Version;

/// A change of a project's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The project.
    pub slug: Slug,
    /// The status before.
    pub from: Status,
    /// The status after.
    pub to: Status,
    /// Why (see [`reason`]).
    pub reason: Option<String>,
    /// When it changed (our clock).
    pub at: DateTime<Utc>,
    /// The last heartbeat known when the change happened (published with the event).
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// A project's liveness as persisted: what the presence table is loaded from at start
/// and what it writes back in batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRecord {
    /// The project.
    pub slug: Slug,
    /// Its status.
    pub status: Status,
    /// Why it has that status.
    pub status_reason: Option<String>,
    /// The version its last heartbeat reported.
    pub version: Option<Version>,
    /// When its last heartbeat arrived.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

/// What a presence write logged: its steps as the store recorded them (chained onto
/// the statuses it holds, see [`chain_onto`]) and, when the log numbered them all in
/// one run (under its lock, none between), the revision of the first; each next step
/// has the next. With it the writer applies its own steps without reading the log back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoggedSteps {
    /// The steps recorded, in order.
    pub transitions: Vec<Transition>,
    /// The first step's revision, when the log numbered them in one run.
    pub first_revision: Option<u64>,
}

impl LoggedSteps {
    /// Each step with its revision, when the log numbered them.
    pub fn numbered(&self) -> Option<impl Iterator<Item = (u64, &Transition)>> {
        let first = self.first_revision?;
        Some((first..).zip(&self.transitions))
    }
}

/// The steps of a batch as the store records them over the statuses it holds
/// (`stored`, by slug; updated as the steps apply), so that each project's history stays
/// one chain (every step's `from` is the previous step's `to`) when several writers
/// decide steps from their own views (two replicas that heard the same heartbeat, a
/// leader and a replica it has not yet caught up). In batch order:
/// - a project the store does not hold: left out (nothing to record it on);
/// - a change to the status already stored: left out (another writer recorded it);
/// - a change from another status than the stored one: recorded from the stored one;
/// - a step that keeps its status (a new reason): kept.
///
/// Their times in microseconds, as every store keeps them.
pub fn chain_onto(
    transitions: &[Transition],
    stored: &mut std::collections::HashMap<String, Status>,
) -> Vec<Transition> {
    let mut out = Vec::with_capacity(transitions.len());
    for t in transitions {
        let Some(current) = stored.get_mut(t.slug.as_str()) else {
            continue;
        };
        if t.from == t.to {
            if *current == t.to {
                out.push(t.stored());
            }
            continue;
        }
        if *current == t.to {
            continue;
        }
        out.push(Transition {
            from: *current,
            ..t.stored()
        });
        *current = t.to;
    }
    out
}

impl Transition {
    /// This step as a store keeps it: its times in microseconds.
    fn stored(&self) -> Transition {
        use chrono::SubsecRound;
        Transition {
            at: self.at.trunc_subsecs(6),
            last_heartbeat_at: self.last_heartbeat_at.map(|b| b.trunc_subsecs(6)),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use Status::{Degraded, Offline, Online};

    fn step(slug: &str, from: Status, to: Status) -> Transition {
        Transition {
            slug: Slug::parse(slug).unwrap(),
            from,
            to,
            reason: None,
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            last_heartbeat_at: None,
        }
    }

    fn pairs(steps: &[Transition]) -> Vec<(&str, Status, Status)> {
        steps
            .iter()
            .map(|t| (t.slug.as_str(), t.from, t.to))
            .collect()
    }

    #[test]
    fn steps_continue_the_stored_chain() {
        let mut stored = HashMap::from([
            ("a".to_owned(), Online),
            ("b".to_owned(), Online),
            ("c".to_owned(), Offline),
        ]);
        let batch = [
            // Another writer already recorded b's recovery.
            step("b", Degraded, Online),
            // c went offline on another writer's sweep before this writer heard it.
            step("c", Degraded, Online),
            step("a", Online, Degraded),
            step("a", Degraded, Offline),
            step("gone", Offline, Online),
            // A new reason, same status.
            step("c", Online, Online),
            step("b", Online, Online),
        ];
        let kept = chain_onto(&batch, &mut stored);
        assert_eq!(
            pairs(&kept),
            [
                ("c", Offline, Online),
                ("a", Online, Degraded),
                ("a", Degraded, Offline),
                ("c", Online, Online),
                ("b", Online, Online),
            ]
        );
        assert_eq!(stored["a"], Offline);
        assert_eq!(stored["c"], Online);
    }

    #[test]
    fn the_same_step_from_two_writers_is_recorded_once() {
        let mut stored = HashMap::from([("a".to_owned(), Degraded)]);
        let first = chain_onto(&[step("a", Degraded, Online)], &mut stored);
        let second = chain_onto(&[step("a", Degraded, Online)], &mut stored);
        assert_eq!(pairs(&first), [("a", Degraded, Online)]);
        assert!(second.is_empty());
    }
}
