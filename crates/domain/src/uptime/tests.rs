//! The fast computation against a brute-force recomputation from the raw rows, minute
//! by minute; and the window's rules.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::model::{reason, Slug, Status, Transition};
use crate::presence::GuardState;

/// 20:00 UTC: three days from here cross two midnights.
pub(super) fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 20, 0, 0).unwrap()
}

pub(super) fn at(minute: i64) -> DateTime<Utc> {
    base() + TimeDelta::minutes(minute)
}

pub(super) const SPAN: i64 = 3 * 24 * 60;
pub(super) const MINUTE: i64 = 60_000_000;

#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Status(Status),
    MaintStart(i64),
    MaintEnd,
    Removed,
}

pub(super) fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        4 => prop::sample::select(Status::ALL.to_vec()).prop_map(Kind::Status),
        1 => (1i64..2000).prop_map(Kind::MaintStart),
        1 => Just(Kind::MaintEnd),
        1 => Just(Kind::Removed),
    ]
}

fn slug() -> Slug {
    Slug::parse("hub").unwrap()
}

/// Rows as a store keeps them: oldest first; maintenance and removal rows keep the
/// status.
pub(super) fn rows(events: &[(i64, Kind)]) -> Vec<Transition> {
    let mut events = events.to_vec();
    events.sort_by_key(|(m, _)| *m);
    let mut status = Status::Offline;
    events
        .into_iter()
        .map(|(m, k)| {
            let (to, why) = match k {
                Kind::Status(s) => (s, Some(reason::HEARTBEAT.to_owned())),
                Kind::MaintStart(len) => (
                    status,
                    Some(format!(
                        "{}: deploy (until {}, by ops)",
                        reason::MAINTENANCE_STARTED,
                        at(m + len).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    )),
                ),
                Kind::MaintEnd => (
                    status,
                    Some(format!("{}: ended", reason::MAINTENANCE_ENDED)),
                ),
                Kind::Removed => (status, Some(format!("{}: deleted", reason::REMOVED))),
            };
            let row = Transition {
                slug: slug(),
                from: status,
                to,
                reason: why,
                at: at(m),
                last_heartbeat_at: None,
            };
            status = to;
            row
        })
        .collect()
}

/// What the minute starting at `t` was, read straight off the rows.
fn brute_class(rows: &[Transition], heard: &[Span], t: DateTime<Utc>) -> Class {
    let upto: Vec<&Transition> = rows.iter().filter(|r| r.at <= t).collect();
    let Some(last) = upto.last() else {
        return Class::Unknown;
    };
    let is = |r: &Transition, name: &str| {
        r.reason
            .as_deref()
            .is_some_and(|w| w.starts_with(&format!("{name}:")))
    };
    if is(last, reason::REMOVED) {
        return Class::Unknown;
    }
    let last_maint = upto.iter().rev().find(|r| {
        is(r, reason::MAINTENANCE_STARTED)
            || is(r, reason::MAINTENANCE_ENDED)
            || is(r, reason::REMOVED)
    });
    if let Some(m) = last_maint {
        if is(m, reason::MAINTENANCE_STARTED) {
            let until = maintenance_until(m.reason.as_deref().unwrap()).unwrap();
            if t < until {
                return Class::Maintenance;
            }
        }
    }
    if !heard.iter().any(|s| s.start <= t && t < s.end) {
        return Class::Unknown;
    }
    match last.to {
        Status::Online => Class::Online,
        Status::Degraded => Class::Degraded,
        Status::Offline => Class::Offline,
    }
}

/// The figures of `[from, to)` minute by minute.
pub(super) fn brute(rows: &[Transition], heard: &[Span], from: i64, to: i64) -> Figures {
    let mut f = Figures::default();
    let mut run = 0i64;
    for m in from..to {
        let c = brute_class(rows, heard, at(m));
        match c {
            Class::Online => f.online += MINUTE,
            Class::Degraded => f.degraded += MINUTE,
            Class::Offline => f.offline += MINUTE,
            Class::Maintenance => f.maintenance += MINUTE,
            Class::Unknown => f.unknown += MINUTE,
        }
        if c == Class::Offline {
            if run == 0 {
                f.outages += 1;
            }
            run += MINUTE;
            if m == from || f.leading_offline == (m - from) * MINUTE {
                f.leading_offline = run;
            }
            f.longest_outage = f.longest_outage.max(run);
        } else {
            run = 0;
        }
    }
    f.trailing_offline = run;
    f
}

type Scenario = (Vec<(i64, Kind)>, Vec<(i64, i64)>, usize, i64, i64, i64);

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec((0..SPAN, kind()), 0..40),
        prop::collection::vec((0..SPAN, 1i64..1500), 0..6),
        0usize..5,
        0..SPAN,
        0..SPAN,
        0..SPAN,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Whole window, its daily buckets combined, and any split: all equal the brute
    /// force, also when retention trimmed the oldest rows.
    #[test]
    fn fast_matches_brute_force((events, spans, trimmed, a, b, cut) in scenario()) {
        let all = rows(&events);
        let kept: Vec<Transition> = all.iter().skip(trimmed.min(all.len())).cloned().collect();
        let heard: Vec<Span> = spans.iter().map(|&(s, l)| Span::new(at(s), at(s + l))).collect();
        let (from, to) = (a.min(b), a.max(b) + 1);
        let timeline = Timeline::new(&kept, heard.clone());
        let expected = brute(&kept, &heard, from, to);

        prop_assert_eq!(timeline.figures(at(from), at(to)), expected);

        let daily = timeline.daily(at(from), at(to));
        let combined = daily.iter().fold(Figures::default(), |acc, d| acc.then(&d.figures));
        prop_assert_eq!(combined, expected);
        for d in &daily {
            prop_assert_eq!(d.figures.len(), micros(d.figures_span_len(from, to)));
        }

        let mid = from + cut % (to - from);
        let split = timeline.figures(at(from), at(mid)).then(&timeline.figures(at(mid), at(to)));
        prop_assert_eq!(split, expected);

        let report = project_reports(&[slug()], kept.clone(), heard.clone(), Window { from: at(from), to: at(to) });
        prop_assert_eq!(report[0].figures, expected);
    }
}

trait DayLen {
    fn figures_span_len(&self, from: i64, to: i64) -> TimeDelta;
}

impl DayLen for DayFigures {
    fn figures_span_len(&self, from: i64, to: i64) -> TimeDelta {
        let start = self
            .day
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .max(at(from));
        let end = self
            .day
            .succ_opt()
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .min(at(to));
        end - start
    }
}

#[test]
fn an_outage_across_midnight_is_one_outage() {
    let events = [
        (0, Kind::Status(Status::Online)),
        (200, Kind::Status(Status::Offline)),
        (300, Kind::Status(Status::Online)),
    ];
    let heard = vec![Span::new(at(0), at(SPAN))];
    let t = Timeline::new(&rows(&events), heard);
    let days = t.daily(at(0), at(600));
    assert_eq!(days.len(), 2);
    let f = days
        .iter()
        .fold(Figures::default(), |acc, d| acc.then(&d.figures));
    assert_eq!(f.outages, 1);
    assert_eq!(f.longest_outage, 100 * MINUTE);
    assert_eq!(f.mttr(), Some(100 * MINUTE));
    assert_eq!(
        f.uptime_percent(DegradedCounts::Up),
        Some(500.0 * 100.0 / 600.0)
    );
}

#[test]
fn time_not_heard_and_before_the_history_is_unknown_and_left_out() {
    let events = [(60, Kind::Status(Status::Online))];
    let heard = vec![Span::new(at(0), at(90))];
    let f = Timeline::new(&rows(&events), heard).figures(at(0), at(120));
    assert_eq!(f.unknown, 90 * MINUTE);
    assert_eq!(f.online, 30 * MINUTE);
    assert_eq!(f.uptime_percent(DegradedCounts::Up), Some(100.0));
}

#[test]
fn degraded_counts_as_the_setting_says() {
    let events = [
        (0, Kind::Status(Status::Online)),
        (30, Kind::Status(Status::Degraded)),
    ];
    let f = Timeline::new(&rows(&events), vec![Span::new(at(0), at(60))]).figures(at(0), at(60));
    assert_eq!(f.uptime_percent(DegradedCounts::Up), Some(100.0));
    assert_eq!(f.uptime_percent(DegradedCounts::Down), Some(50.0));
    assert_eq!(f.outages, 0);
    assert_eq!(f.mttr(), None);
}

#[test]
fn all_maintenance_has_no_percentage() {
    let events = [
        (0, Kind::Status(Status::Offline)),
        (0, Kind::MaintStart(60)),
    ];
    let f = Timeline::new(&rows(&events), vec![]).figures(at(0), at(60));
    assert_eq!(f.maintenance, 60 * MINUTE);
    assert_eq!(f.uptime_percent(DegradedCounts::Up), None);
}

#[test]
fn the_until_of_a_maintenance_reason_is_read_from_its_end() {
    let why = "maintenance_started: a (until soon, by x) (until 2026-11-01T21:00:00Z, by ops)";
    assert_eq!(maintenance_until(why), Some(at(60)));
    assert_eq!(maintenance_until("maintenance_started: no end"), None);
    assert_eq!(maintenance_until("heartbeat"), None);
}

#[test]
fn the_recorder_opens_grows_and_closes_its_span() {
    let mut r = HeardRecorder::new(TimeDelta::minutes(2));
    let on = |r: &mut HeardRecorder, m, leads, g| r.observe(at(m), leads, g);
    assert_eq!(
        on(&mut r, 0, true, GuardState::Inactive),
        Some(Span::new(at(0), at(0)))
    );
    let recovering = GuardState::Recovering { until: at(2) };
    assert_eq!(
        on(&mut r, 1, true, recovering),
        Some(Span::new(at(0), at(1)))
    );
    assert_eq!(on(&mut r, 2, true, GuardState::LinkDown), None);
    assert_eq!(on(&mut r, 3, false, GuardState::Inactive), None);
    assert_eq!(
        on(&mut r, 4, true, GuardState::Inactive),
        Some(Span::new(at(4), at(4)))
    );
    assert_eq!(
        on(&mut r, 6, true, GuardState::Inactive),
        Some(Span::new(at(4), at(6)))
    );
    // A stall longer than the gap: the stalled time stays unknown.
    assert_eq!(
        on(&mut r, 9, true, GuardState::Inactive),
        Some(Span::new(at(9), at(9)))
    );
}

fn input(window: Option<&str>, from: Option<&str>, to: Option<&str>) -> WindowInput {
    WindowInput {
        window: window.map(str::to_owned),
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
    }
}

#[test]
fn windows_are_named_or_bounded_and_bad_ones_name_their_parameter() {
    let now = at(0);
    let w = input(Some("7d"), None, None).validate(now).unwrap();
    assert_eq!((w.from, w.to), (now - TimeDelta::days(7), now));
    let w = input(None, None, None).validate(now).unwrap();
    assert_eq!(w.to - w.from, TimeDelta::hours(24));
    let w = input(
        None,
        Some("2026-11-01T00:00:00Z"),
        Some("2026-12-01T00:00:00Z"),
    )
    .validate(now)
    .unwrap();
    assert_eq!(w.to, now, "a future end is cut to now");

    let field = |i: WindowInput| i.validate(now).unwrap_err().field;
    assert_eq!(field(input(Some("1y"), None, None)), "window");
    assert_eq!(
        field(input(Some("7d"), Some("2026-11-01T00:00:00Z"), None)),
        "window"
    );
    assert_eq!(field(input(None, Some("yesterday"), None)), "from");
    assert_eq!(
        field(input(None, Some("2026-10-01T00:00:00Z"), Some("soon"))),
        "to"
    );
    assert_eq!(
        field(input(None, None, Some("2026-10-01T00:00:00Z"))),
        "from"
    );
    assert_eq!(
        field(input(
            None,
            Some("2026-10-02T00:00:00Z"),
            Some("2026-10-01T00:00:00Z")
        )),
        "to"
    );
    assert_eq!(
        field(input(
            None,
            Some("2026-07-01T00:00:00Z"),
            Some("2026-10-01T00:00:00Z")
        )),
        "from"
    );
    assert_eq!(
        field(input(
            None,
            Some("2025-07-01T00:00:00Z"),
            Some("2025-08-01T00:00:00Z")
        )),
        "from"
    );
    assert_eq!(
        field(input(None, Some("2026-11-02T00:00:00Z"), None)),
        "from"
    );
}

#[test]
fn a_roll_up_adds_projects_up_day_by_day() {
    let a = Slug::parse("a").unwrap();
    let b = Slug::parse("b").unwrap();
    let mut rs = rows(&[(0, Kind::Status(Status::Online))]);
    rs[0].slug = a.clone();
    let mut rb = rows(&[(0, Kind::Status(Status::Offline))]);
    rb[0].slug = b.clone();
    rs.extend(rb);
    let window = Window {
        from: at(0),
        to: at(300),
    };
    let reports = project_reports(&[a, b], rs, vec![Span::new(at(0), at(300))], window);
    let up = roll_up(&reports);
    assert_eq!(up.projects, 2);
    assert_eq!(up.days.len(), 2);
    assert_eq!(up.figures.online, 300 * MINUTE);
    assert_eq!(up.figures.offline, 300 * MINUTE);
    assert_eq!(up.figures.outages, 1);
    assert_eq!(up.figures.uptime_percent(DegradedCounts::Up), Some(50.0));
    assert_eq!(up.days[0].figures.online, 240 * MINUTE);
}

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Reports mixing rollups (any subset of the days rolled up) and raw history equal
    /// the brute force; and once every day is rolled up and retention trimmed every
    /// row, a whole-day window still does.
    #[test]
    fn reports_from_rollups_equal_the_brute_force(
        (events, spans, _, a, b, _) in scenario(),
        rolled in 0u8..16,
    ) {
        let all = rows(&events);
        let heard: Vec<Span> = spans.iter().map(|&(s, l)| Span::new(at(s), at(s + l))).collect();
        let (from, to) = (a.min(b), a.max(b) + 1);
        let day0 = base().date_naive();
        let day = |i: i64| day0 + TimeDelta::days(i);
        runtime().block_on(async {
            let source = std::sync::Arc::new(MemoryUptime::new());
            source.add_rows(all.clone());
            for s in &heard {
                source.record_heard(*s).await.unwrap();
            }
            let uptime = Uptime::new(source.clone(), DegradedCounts::Up);
            for i in 0..4 {
                if rolled & (1 << i) != 0 {
                    uptime.roll_up_day(day(i), &[super::Member::from(&super::group_tests::project("hub", &[]))][..]).await.unwrap();
                }
            }
            let window = Window { from: at(from), to: at(to) };
            let report = uptime.project(&slug(), window).await.unwrap();
            prop_assert_eq!(report.figures, brute(&all, &heard, from, to));
            let (group, _) = uptime.group(&[slug()], true, window).await.unwrap();
            prop_assert_eq!(group.figures.counted(), report.figures.counted());

            for i in 0..4 {
                uptime.roll_up_day(day(i), &[super::Member::from(&super::group_tests::project("hub", &[]))][..]).await.unwrap();
            }
            source.trim_rows(DateTime::<Utc>::MAX_UTC);
            // Days 1 and 2 whole: 2026-11-02T00:00 is minute 240 from base.
            let whole = Window { from: at(240), to: at(240 + 2 * 1440) };
            let report = uptime.project(&slug(), whole).await.unwrap();
            prop_assert_eq!(report.figures, brute(&all, &heard, 240, 240 + 2 * 1440));
            Ok(())
        })?;
    }
}

#[test]
fn pending_days_wait_for_the_grace_and_skip_rolled_days() {
    let now = Utc.with_ymd_and_hms(2026, 11, 10, 0, 3, 0).unwrap();
    let pending = pending_days(now, &[]);
    assert_eq!(
        pending.len() as i64,
        ROLLUP_BACKFILL_DAYS - 1,
        "yesterday waits for its grace"
    );
    assert_eq!(pending[0], now.date_naive() - TimeDelta::days(2));
    let later = now + TimeDelta::minutes(3);
    let yesterday = later.date_naive() - TimeDelta::days(1);
    assert_eq!(pending_days(later, &[])[0], yesterday);
    assert!(!pending_days(later, &[yesterday]).contains(&yesterday));
}

#[test]
fn many_projects_read_their_rollups_a_few_days_at_a_time() {
    let first = base().date_naive();
    let end = first + TimeDelta::days(90);
    assert_eq!(read_chunks(first, end, 1), vec![(first, end)]);
    assert_eq!(read_chunks(first, first, 10), vec![]);
    for projects in [1_000, 30_000, 100_000, 1_000_000] {
        let chunks = read_chunks(first, end, projects);
        assert_eq!(chunks.first().map(|c| c.0), Some(first), "{projects}");
        assert_eq!(chunks.last().map(|c| c.1), Some(end), "{projects}");
        assert!(
            chunks.windows(2).all(|w| w[0].1 == w[1].0),
            "{projects}: contiguous"
        );
        for (a, b) in &chunks {
            let rows = (*b - *a).num_days() as usize * projects;
            assert!(
                rows <= ROLLUP_ROWS_PER_READ.max(projects),
                "{projects}: {rows} rows"
            );
        }
    }
}

/// A day nobody heard (a new deployment's backfill) keeps its group rows and no row
/// per project; the project's report still says the day was unknown, and one heard
/// project of two keeps its row.
#[test]
fn a_day_unknown_throughout_stores_no_project_row() {
    let day = base().date_naive() + TimeDelta::days(1);
    let start = day_span(day).start;
    runtime().block_on(async {
        let source = std::sync::Arc::new(MemoryUptime::new());
        let uptime = Uptime::new(source.clone(), DegradedCounts::Up);
        let heard_one = Member::from(&super::group_tests::project("heard", &["t"]));
        let silent = Member::from(&super::group_tests::project("silent", &["t"]));
        uptime
            .roll_up_day(day, &[heard_one.clone(), silent.clone()][..])
            .await
            .unwrap();
        assert_eq!(
            source
                .rollups(None, day, day.succ_opt().unwrap())
                .await
                .unwrap(),
            vec![]
        );
        let groups = source
            .group_rollups("tag:t".into(), day, day.succ_opt().unwrap())
            .await
            .unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].projects, 2, "both count in their tag");
        let whole = Window {
            from: start,
            to: day_span(day).end,
        };
        let report = uptime.project(&silent.slug, whole).await.unwrap();
        assert_eq!(report.figures, Figures::of(Class::Unknown, 86_400_000_000));

        source.add_rows(vec![Transition {
            slug: heard_one.slug.clone(),
            from: Status::Offline,
            to: Status::Online,
            reason: Some(reason::HEARTBEAT.to_owned()),
            at: start,
            last_heartbeat_at: None,
        }]);
        source
            .record_heard(Span::new(start, start + TimeDelta::hours(1)))
            .await
            .unwrap();
        uptime
            .roll_up_day(day, &[heard_one.clone(), silent][..])
            .await
            .unwrap();
        let rows = source
            .rollups(None, day, day.succ_opt().unwrap())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].slug, heard_one.slug);
        assert_eq!(rows[0].figures.online, 3_600_000_000);
    });
}
