//! Negative checks without fixed sleeps: "X did not happen" is asserted once the service
//! has provably gone past the point where X would have happened, told by its presence
//! ticks (`federation_stale_checker_runs_total`, counted when a sweep round is done).

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::helpers::{eventually, TestApp};

/// The counter family that moves once per presence tick (every status label).
pub const TICKS: &str = "federation_stale_checker_runs_total";

/// The sum of every series of the counter `family` in an exposition (0 when absent).
pub fn counter_in(text: &str, family: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let rest = l.strip_prefix(family)?;
            // The family itself, not a longer name it prefixes.
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            l.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .map(|v| v as u64)
        .sum()
}

/// The counter `family` as the service exposes it now.
pub async fn counter(app: &TestApp, family: &str) -> u64 {
    counter_in(&app.metrics().await, family)
}

/// Waits until `n` presence ticks have run after this call.
pub async fn wait_ticks(app: &TestApp, n: u64, within: Duration) {
    let from = counter(app, TICKS).await;
    eventually(within, || async {
        let now = counter(app, TICKS).await;
        if now >= from + n {
            Ok(())
        } else {
            Err(format!("{} of {n} ticks ran", now - from))
        }
    })
    .await;
}

/// Asserts `holds` at every look (it panics when it does not hold) until `span` has
/// passed since `since` and then a presence tick has run: the service judged the state
/// past the span. Gives up after `span` and `slack` more.
pub async fn holds_through<F, Fut>(
    app: &TestApp,
    since: Instant,
    span: Duration,
    slack: Duration,
    holds: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let ticks = || async { vec![counter(app, TICKS).await] };
    holds_through_ticks(since, span, slack, holds, ticks).await;
}

/// [`holds_through`] for several services: `ticks` reads each one's tick count, and
/// each must have ticked after the span.
pub async fn holds_through_ticks<F, Fut, T, TFut>(
    since: Instant,
    span: Duration,
    slack: Duration,
    mut holds: F,
    mut ticks: T,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
    T: FnMut() -> TFut,
    TFut: Future<Output = Vec<u64>>,
{
    // The tick counts when the span was over, once it is.
    let at_end: Mutex<Option<Vec<u64>>> = Mutex::new(None);
    let left = (since + span).saturating_duration_since(Instant::now());
    eventually(left + slack, || {
        let checked = holds();
        let read = (since.elapsed() >= span).then(&mut ticks);
        let at_end = &at_end;
        async move {
            checked.await;
            let Some(read) = read else {
                return Err("the span is not over yet".to_owned());
            };
            let now = read.await;
            let mut at_end = at_end.lock().unwrap();
            let first = at_end.get_or_insert_with(|| now.clone());
            if now.len() == first.len() && now.iter().zip(first.iter()).all(|(n, f)| n > f) {
                Ok(())
            } else {
                Err(format!(
                    "not every service ticked since the span ended: {first:?} -> {now:?}"
                ))
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::counter_in;

    #[test]
    fn sums_every_series_of_the_family_only() {
        let text = "# TYPE federation_stale_checker_runs counter\n\
                    federation_stale_checker_runs_total{status=\"success\"} 7\n\
                    federation_stale_checker_runs_total{status=\"error\"} 2\n\
                    federation_stale_checker_runs_total_other 100\n\
                    federation_other_total 5\n";
        assert_eq!(counter_in(text, super::TICKS), 9);
        assert_eq!(counter_in(text, "federation_absent_total"), 0);
        assert_eq!(
            counter_in("federation_x_total 3\n", "federation_x_total"),
            3
        );
    }
}
