//! Group rollups against the brute force: a tag's and the fleet's reports, mixing
//! group rollups (members as they were when each day was rolled up) and raw days
//! (members now), equal their members' minute-by-minute figures added up, with
//! projects joining, leaving and being removed along the window.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

use super::tests::{at, base, brute, kind, rows, runtime, Kind, MINUTE, SPAN};
use super::*;
use crate::model::{HubUrl, MeshNamespace, Project, ProjectName, Slug, Status, Tags, Transition};

/// A registered project with `tags`.
pub(super) fn project(slug: &str, tags: &[&str]) -> Project {
    let slug = Slug::parse(slug).unwrap();
    let t = Utc.with_ymd_and_hms(2026, 10, 1, 0, 0, 0).unwrap();
    Project {
        id: 1,
        mesh_namespace: MeshNamespace::for_slug(&slug),
        slug,
        name: ProjectName::parse("A project").unwrap(),
        hub_url: HubUrl::parse("http://hub.example:8000").unwrap(),
        status: Status::Online,
        status_reason: None,
        tags: Tags::parse(tags).unwrap(),
        metadata: crate::model::Metadata::default(),
        version: None,
        last_heartbeat_at: None,
        clock_skew_seconds: None,
        heartbeat_interval: None,
        maintenance: None,
        flapping_since: None,
        origin: crate::model::Origin::Api,
        heartbeat_key: None,
        created_at: t,
        updated_at: t,
    }
}

const SLUGS: [&str; 3] = ["a", "b", "c"];
/// The days the scenarios touch (base is day 0, 20:00).
const DAYS: i64 = 4;

/// Who is registered (bit i: `SLUGS[i]`) and tagged `Prod` (bit 3 + i, written in
/// varying case) in a membership mask.
fn projects_of(mask: u8) -> Vec<Project> {
    SLUGS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(i, s)| {
            let tags: &[&str] = match (mask & (1 << (3 + i)) != 0, i) {
                (false, _) => &["other"],
                (true, 0) => &["Prod"],
                (true, _) => &["prod", "other"],
            };
            project(s, tags)
        })
        .collect()
}

fn members_of(mask: u8) -> Vec<Member> {
    projects_of(mask).iter().map(Member::from).collect()
}

fn is_member(scope: &Scope, mask: u8, i: usize) -> bool {
    mask & (1 << i) != 0 && (*scope == Scope::Fleet || mask & (1 << (3 + i)) != 0)
}

/// Each project's figures over its member days combined (a day it was not a member
/// breaks its outages), then added up; and the days' sums.
fn expected(per_project: &[Vec<Option<Figures>>]) -> (Figures, Vec<Figures>) {
    let days = per_project.first().map_or(0, Vec::len);
    let mut total = Figures::default();
    let mut sums = vec![Figures::default(); days];
    for p in per_project {
        let mut run = Figures::default();
        for (d, f) in p.iter().enumerate() {
            match f {
                Some(f) => {
                    run = run.then(f);
                    sums[d] = sums[d].plus(f);
                }
                None => {
                    total = total.plus(&run);
                    run = Figures::default();
                }
            }
        }
        total = total.plus(&run);
    }
    (total, sums)
}

type Events = Vec<Vec<(i64, Kind)>>;

fn events() -> impl Strategy<Value = Events> {
    prop::collection::vec(prop::collection::vec((0..SPAN, kind()), 0..25), 3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The fleet's and a tag's reports equal the brute force summed over their
    /// members: any subset of days rolled up (each with its own members), the rest
    /// raw (the members now), rows trimmed by retention after the rollups.
    #[test]
    fn group_reports_equal_the_brute_force(
        events in events(),
        spans in prop::collection::vec((0..SPAN, 1i64..3000), 0..5),
        rolled in 0u8..16,
        masks in prop::collection::vec(0u8..64, DAYS as usize),
        now_mask in 0u8..64,
        window in (0..SPAN, 0..SPAN),
        trim in 0..SPAN,
    ) {
        let per_slug: Vec<Vec<Transition>> = events
            .iter()
            .zip(SLUGS)
            .map(|(e, s)| {
                let mut r = rows(e);
                for row in &mut r {
                    row.slug = Slug::parse(s).unwrap();
                }
                r
            })
            .collect();
        let heard: Vec<Span> = spans.iter().map(|&(s, l)| Span::new(at(s), at(s + l))).collect();
        let (from, to) = (window.0.min(window.1), window.0.max(window.1) + 1);
        let day0 = base().date_naive();
        let minute_of = |t: DateTime<Utc>| (t - base()).num_minutes();
        runtime().block_on(async {
            let source = std::sync::Arc::new(MemoryUptime::new());
            source.add_rows(per_slug.iter().flatten().cloned());
            for s in &heard {
                source.record_heard(*s).await.unwrap();
            }
            let uptime = Uptime::new(source.clone(), DegradedCounts::Up);
            for (i, mask) in masks.iter().enumerate() {
                if rolled & (1 << i) != 0 {
                    let day = day0 + TimeDelta::days(i as i64);
                    uptime.roll_up_day(day, members_of(*mask).as_slice()).await.unwrap();
                }
            }
            source.trim_rows(at(trim));
            let kept: Vec<Vec<Transition>> = per_slug
                .iter()
                .map(|r| r.iter().filter(|r| r.at >= at(trim)).cloned().collect())
                .collect();
            let w = Window { from: at(from), to: at(to) };
            for scope in [Scope::Fleet, Scope::Tag("prod".into())] {
                let now: Vec<Slug> = (0..3)
                    .filter(|i| is_member(&scope, now_mask, *i))
                    .map(|i| Slug::parse(SLUGS[i]).unwrap())
                    .collect();
                let mut per_project: Vec<Vec<Option<Figures>>> = vec![Vec::new(); 3];
                for (day, span) in days(w.from, w.to) {
                    let i = (day - day0).num_days() as usize;
                    let from_rollup = span == day_span(day) && rolled & (1 << i) != 0;
                    let (s, e) = (minute_of(span.start), minute_of(span.end));
                    for (p, out) in per_project.iter_mut().enumerate() {
                        out.push(if from_rollup {
                            is_member(&scope, masks[i], p).then(|| brute(&per_slug[p], &heard, s, e))
                        } else {
                            is_member(&scope, now_mask, p).then(|| brute(&kept[p], &heard, s, e))
                        });
                    }
                }
                let (total, sums) = expected(&per_project);
                let report = uptime.scope_report(&scope, &now, w).await.unwrap();
                prop_assert_eq!(report.figures, total, "{:?}", scope);
                let got: Vec<Figures> = report.days.iter().map(|d| d.figures).collect();
                prop_assert_eq!(got, sums, "{:?}", scope);
                prop_assert_eq!(report.projects, now.len());
            }
            Ok(())
        })?;
    }
}

#[test]
fn a_fleet_outage_across_two_midnights_is_one_outage_as_long_as_the_run() {
    let mut offline = rows(&[
        (0, Kind::Status(Status::Online)),
        (200, Kind::Status(Status::Offline)),
    ]);
    for r in &mut offline {
        r.slug = Slug::parse("a").unwrap();
    }
    let source = std::sync::Arc::new(MemoryUptime::new());
    source.add_rows(offline);
    runtime().block_on(async {
        source
            .record_heard(Span::new(at(0), at(SPAN)))
            .await
            .unwrap();
        let uptime = Uptime::new(source.clone(), DegradedCounts::Up);
        let day0 = base().date_naive();
        for i in 0..DAYS {
            uptime
                .roll_up_day(day0 + TimeDelta::days(i), members_of(0b1).as_slice())
                .await
                .unwrap();
        }
        source.trim_rows(DateTime::<Utc>::MAX_UTC);
        // Day 1 00:00 (minute 240) to day 3 00:00: offline throughout, two whole days.
        let w = Window {
            from: at(240),
            to: at(240 + 2 * 1440),
        };
        let a = [Slug::parse("a").unwrap()];
        let report = uptime.scope_report(&Scope::Fleet, &a, w).await.unwrap();
        assert_eq!(report.figures.outages, 1);
        assert_eq!(report.figures.longest_outage, 2 * 1440 * MINUTE);
        assert_eq!(report.days.len(), 2);
        assert_eq!(report.days[0].figures.outages, 1);
        // The tag the project never carried has nothing.
        let tag = uptime
            .scope_report(&Scope::Tag("prod".into()), &[], w)
            .await
            .unwrap();
        assert_eq!(tag.figures, Figures::default());
    });
}

#[test]
fn days_rolled_up_before_groups_are_regrouped_from_the_project_rollups() {
    let source = std::sync::Arc::new(MemoryUptime::new());
    let uptime = Uptime::new(source.clone(), DegradedCounts::Up);
    let day = base().date_naive() + TimeDelta::days(1);
    let offline = Figures::of(Class::Offline, 1440 * MINUTE);
    source.save_rollups_without_groups(
        day,
        vec![
            DailyRollup {
                slug: Slug::parse("a").unwrap(),
                day,
                figures: offline,
            },
            DailyRollup {
                slug: Slug::parse("gone").unwrap(),
                day,
                figures: offline,
            },
        ],
    );
    runtime().block_on(async {
        let now = day_span(day).end + TimeDelta::hours(1);
        let done = uptime
            .roll_up_pending(now, members_of(0b001001).as_slice(), 200)
            .await
            .unwrap();
        assert_eq!(
            done.last(),
            Some(&day),
            "regrouped after the days not rolled up"
        );
        assert_eq!(
            done.iter().filter(|d| **d == day).count(),
            1,
            "not rolled again"
        );
        let groups = source
            .group_rollups(Scope::Fleet.key(), day, day + TimeDelta::days(1))
            .await
            .unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(
            groups[0].projects, 2,
            "the fleet keeps the removed project's day"
        );
        let tag = source
            .group_rollups("tag:prod".into(), day, day + TimeDelta::days(1))
            .await
            .unwrap();
        assert_eq!(tag[0].projects, 1);
        assert_eq!(tag[0].edges.len(), 1);
    });
}

#[test]
fn a_tag_objective_spends_the_budget_of_the_tag_report() {
    let mut offline = rows(&[
        (0, Kind::Status(Status::Online)),
        (1000, Kind::Status(Status::Offline)),
        (1100, Kind::Status(Status::Online)),
    ]);
    for r in &mut offline {
        r.slug = Slug::parse("a").unwrap();
    }
    let source = std::sync::Arc::new(MemoryUptime::new());
    source.add_rows(offline);
    let objective = ObjectiveInput {
        tag: Some("PROD".into()),
        objective: Some(99.0),
        window: Some("7d".into()),
        ..ObjectiveInput::default()
    }
    .validate()
    .unwrap();
    runtime().block_on(async {
        source
            .record_heard(Span::new(at(0), at(SPAN)))
            .await
            .unwrap();
        let uptime = Uptime::new(source.clone(), DegradedCounts::Up)
            .with_objectives(vec![objective.clone()]);
        // Day 1 rolled up while `a` carried the tag; now it does not, `b` does.
        let day1 = base().date_naive() + TimeDelta::days(1);
        uptime
            .roll_up_day(day1, members_of(0b001001).as_slice())
            .await
            .unwrap();
        let now_projects = projects_of(0b010011);
        let now = at(SPAN);
        uptime.refresh_budgets(&now_projects, now).await.unwrap();
        let members = [Slug::parse("b").unwrap()];
        let window = Window {
            from: now - TimeDelta::days(7),
            to: now,
        };
        let report = uptime
            .scope_report(&Scope::Tag("prod".into()), &members, window)
            .await
            .unwrap();
        assert_eq!(
            report.figures.offline,
            100 * MINUTE,
            "a's outage on day 1 counts: {:?}",
            report.days
        );
        let status = &uptime.slos().statuses()[0];
        assert_eq!(
            status.budget,
            Some(objective.budget(&report.figures, DegradedCounts::Up))
        );
    });
}
