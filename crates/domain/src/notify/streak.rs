//! When a project's bad streak began, read from its history.

use chrono::{DateTime, Utc};

use crate::model::{Status, Transition};

/// The start of the bad streak (degraded or offline) that goes on, or ended, at
/// `until`: `history` is newest first; transitions at or after `until` are not looked
/// at. Transitions into online newer than the streak's last bad one are passed over:
/// the registry may still show a project bad (its recorded status moves with the log)
/// while the history already holds its recovery, and the streak asked about is the one
/// before it. `None` when the history holds no bad transition before `until`.
pub fn bad_streak_since<'a>(
    history: impl IntoIterator<Item = &'a Transition>,
    until: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut since = None;
    let mut in_streak = false;
    for t in history.into_iter().filter(|t| t.at < until) {
        if t.to == Status::Online {
            if in_streak {
                break;
            }
            continue;
        }
        in_streak = true;
        if t.from != t.to {
            since = Some(t.at);
        }
    }
    since
}

/// When the bad streak of a project that was `status` just before `until` began, for
/// seeding a channel's watch, or `None` when it is no outage at all.
/// - From the history ([`bad_streak_since`]) when it holds the streak.
/// - Offline with no bad step in the history and no reason recorded: the offline of its
///   registration. It was never heard, or its first heartbeat is applied (liveness
///   moves at once) while the transition to online is not written yet: telling it
///   offline, then recovered, would be two false messages.
/// - Otherwise (the history trimmed by retention): `fallback`.
pub fn outage_began<'a>(
    history: impl IntoIterator<Item = &'a Transition>,
    until: DateTime<Utc>,
    status: Status,
    reason: Option<&str>,
    fallback: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match bad_streak_since(history, until) {
        Some(since) => Some(since),
        None if status == Status::Offline && reason.is_none() => None,
        None => Some(fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Slug;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn step(from: Status, to: Status, s: i64) -> Transition {
        Transition {
            slug: Slug::parse("alpha").unwrap(),
            from,
            to,
            reason: None,
            at: at(s),
            last_heartbeat_at: None,
        }
    }

    use Status::{Degraded, Offline, Online};

    #[test]
    fn the_streak_starts_at_its_first_bad_step_after_the_last_recovery() {
        let newest_first = [
            step(Degraded, Offline, 30),
            step(Offline, Offline, 25),
            step(Online, Degraded, 20),
            step(Offline, Online, 10),
            step(Online, Offline, 5),
        ];
        assert_eq!(bad_streak_since(&newest_first, at(100)), Some(at(20)));
    }

    #[test]
    fn a_recovery_already_in_the_history_is_passed_over() {
        // The registry still shows offline; the history already holds the recovery.
        let newest_first = [
            step(Offline, Online, 40),
            step(Online, Offline, 14),
            step(Offline, Online, 10),
        ];
        assert_eq!(bad_streak_since(&newest_first, at(100)), Some(at(14)));
        // Asked about the streak the recovery at 40 ended: the same answer.
        assert_eq!(bad_streak_since(&newest_first, at(40)), Some(at(14)));
    }

    #[test]
    fn no_bad_step_before_until_is_none() {
        let newest_first = [step(Online, Offline, 50), step(Offline, Online, 10)];
        assert_eq!(bad_streak_since(&newest_first, at(40)), None);
        assert_eq!(bad_streak_since(&[], at(40)), None);
    }

    #[test]
    fn the_offline_of_a_registration_is_no_outage() {
        let none: [Transition; 0] = [];
        // Registered, never heard (or its first heartbeat not yet written).
        assert_eq!(
            outage_began(&none, at(100), Status::Offline, None, at(50)),
            None
        );
        // Offline by a rule, its history trimmed: from the fallback.
        assert_eq!(
            outage_began(
                &none,
                at(100),
                Status::Offline,
                Some("heartbeat_timeout"),
                at(50)
            ),
            Some(at(50))
        );
        assert_eq!(
            outage_began(&none, at(100), Status::Degraded, None, at(50)),
            Some(at(50))
        );
        // The history's word first.
        let h = [step(Status::Online, Status::Offline, 40)];
        assert_eq!(
            outage_began(&h, at(100), Status::Offline, None, at(50)),
            Some(at(40))
        );
    }
}
