//! The soak's verdicts, as pure functions of what it recorded: memory growth after the
//! warm-up, server errors outside the injected outages, and whether every status change
//! of a project reached its history and every replica's change stream.

use std::time::Duration;

/// One status change as `(from, to)`, oldest first.
pub(super) type Step = (String, String);

/// A span of the run (offsets from its start) in which failures are expected: an
/// injected outage, until every replica said it was ready again, plus a grace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Window {
    pub(super) from: Duration,
    pub(super) to: Duration,
}

impl Window {
    pub(super) fn contains(&self, at: Duration) -> bool {
        self.from <= at && at <= self.to
    }
}

/// How much the resident memory grew from the end of the warm-up to the end of the run,
/// as a fraction (0.05 = 5 %); `None` without a baseline.
pub(super) fn growth(after_warm_up: f64, at_end: f64) -> Option<f64> {
    (after_warm_up > 0.0).then(|| (at_end - after_warm_up) / after_warm_up)
}

/// The times (offsets) of failures that fall in no window.
pub(super) fn outside(failures: &[Duration], windows: &[Window]) -> Vec<Duration> {
    failures
        .iter()
        .copied()
        .filter(|at| !windows.iter().any(|w| w.contains(*at)))
        .collect()
}

/// What is wrong with one project's history, oldest first: each change must start from
/// the status the one before ended in, and the last must end in `now` (its status as a
/// replica reports it). An empty list: nothing wrong.
pub(super) fn chain_faults(history: &[Step], now: &str) -> Vec<String> {
    let mut faults = Vec::new();
    for (i, pair) in history.windows(2).enumerate() {
        if let [(_, before_to), (from, to)] = pair {
            if from != before_to {
                faults.push(format!(
                    "change {} is {from} → {to}, but the one before ended in {before_to}",
                    i + 2
                ));
            }
        }
    }
    if let Some((_, last)) = history.last() {
        if last != now {
            faults.push(format!(
                "the last change ends in {last}, the project is {now}"
            ));
        }
    }
    faults
}

/// Whether a change stream saw exactly the history: the same changes in the same order.
/// `None` when it did; else the first difference.
pub(super) fn stream_difference(history: &[Step], streamed: &[Step]) -> Option<String> {
    if let Some((i, (h, s))) = history
        .iter()
        .zip(streamed)
        .enumerate()
        .find(|(_, (h, s))| h != s)
    {
        return Some(format!(
            "change {} is {} → {} in the history but {} → {} on the stream",
            i + 1,
            h.0,
            h.1,
            s.0,
            s.1
        ));
    }
    (history.len() != streamed.len()).then(|| {
        format!(
            "{} changes in the history, {} on the stream",
            history.len(),
            streamed.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(list: &[(&str, &str)]) -> Vec<Step> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn growth_is_relative_to_the_warm_up() {
        assert_eq!(growth(100.0, 109.0), Some(0.09));
        assert_eq!(growth(100.0, 90.0), Some(-0.1));
        assert_eq!(growth(0.0, 90.0), None);
    }

    #[test]
    fn failures_inside_a_window_are_forgiven() {
        let s = Duration::from_secs;
        let windows = [
            Window {
                from: s(10),
                to: s(20),
            },
            Window {
                from: s(40),
                to: s(45),
            },
        ];
        assert_eq!(
            outside(&[s(5), s(10), s(15), s(20), s(30), s(44), s(46)], &windows),
            vec![s(5), s(30), s(46)]
        );
        assert!(outside(&[], &windows).is_empty());
    }

    #[test]
    fn a_history_must_be_one_unbroken_chain_ending_in_the_status() {
        let good = steps(&[
            ("unknown", "online"),
            ("online", "degraded"),
            ("degraded", "offline"),
            ("offline", "online"),
        ]);
        assert!(chain_faults(&good, "online").is_empty());
        assert_eq!(
            chain_faults(&good, "offline"),
            ["the last change ends in online, the project is offline"]
        );
        let gap = steps(&[
            ("unknown", "online"),
            ("degraded", "offline"),
            ("offline", "online"),
        ]);
        assert_eq!(
            chain_faults(&gap, "online"),
            ["change 2 is degraded → offline, but the one before ended in online"]
        );
        assert!(chain_faults(&[], "unknown").is_empty());
    }

    #[test]
    fn a_stream_must_carry_the_history_exactly() {
        let history = steps(&[("unknown", "online"), ("online", "offline")]);
        assert_eq!(stream_difference(&history, &history), None);
        assert_eq!(
            stream_difference(&history, &history[..1]),
            Some("2 changes in the history, 1 on the stream".to_owned())
        );
        let other = steps(&[("unknown", "online"), ("online", "degraded")]);
        assert_eq!(
            stream_difference(&history, &other),
            Some(
                "change 2 is online → offline in the history but online → degraded on the stream"
                    .to_owned()
            )
        );
    }
}
