//! Uptime's facts on both backends: history rows by window (the last row before the
//! window and those in it), and the spans the leader heard, which only grow and which
//! history retention leaves alone.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use chrono::{DateTime, TimeZone, Utc};
use federation_domain::testing::slug;
use federation_domain::uptime::{Span, UptimeSource};
use federation_domain::{ProjectRepository, RegistrationInput, Status, Transition};
use federation_store::Store;

mod common;
use common::{fenced_write, postgres, sqlite};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 0).unwrap()
}

fn transition(s: &str, from: Status, to: Status, at: DateTime<Utc>) -> Transition {
    Transition {
        slug: slug(s),
        from,
        to,
        reason: Some("heartbeat".to_owned()),
        at,
        last_heartbeat_at: Some(at),
    }
}

async fn register(store: &Store, s: &str) {
    let reg = RegistrationInput {
        slug: Some(s.into()),
        name: Some(format!("Project {s}")),
        hub_url: Some(format!("https://{s}.example.com")),
        ..RegistrationInput::default()
    }
    .validate()
    .unwrap();
    store.upsert(&reg).await.unwrap();
}

fn at_of(rows: &[Transition]) -> Vec<(String, DateTime<Utc>)> {
    rows.iter()
        .map(|r| (r.slug.as_str().to_owned(), r.at))
        .collect()
}

async fn facts_by_window(store: Store) {
    register(&store, "a").await;
    register(&store, "b").await;
    use Status::{Offline, Online};
    let rows = [
        transition("a", Offline, Online, t(0)),
        transition("b", Offline, Online, t(50)),
        Transition {
            reason: Some("maintenance_started: deploy (until 2025-06-15T15:00:00Z, by ops)".into()),
            ..transition("a", Online, Online, t(90))
        },
        transition("a", Online, Offline, t(100)),
        transition("a", Offline, Online, t(200)),
        transition("a", Online, Offline, t(400)),
    ];
    fenced_write(&store, &[], &rows).await.unwrap();

    let one = store
        .history_between(Some(vec![slug("a")]), t(150), t(400))
        .await
        .unwrap();
    assert_eq!(
        at_of(&one),
        vec![
            ("a".into(), t(90)),
            ("a".into(), t(100)),
            ("a".into(), t(200))
        ],
        "a maintenance row before, the last row at or before from, then the rows inside; \
         none at or after to"
    );
    assert_eq!(one[1].to, Offline);

    let fleet = store.history_between(None, t(150), t(400)).await.unwrap();
    let mut got = at_of(&fleet);
    got.sort();
    assert_eq!(
        got,
        vec![
            ("a".into(), t(90)),
            ("a".into(), t(100)),
            ("a".into(), t(200)),
            ("b".into(), t(50))
        ]
    );
    assert!(fleet.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");

    // Many slugs take the set-wide read; the answer is the same.
    let many: Vec<_> = std::iter::once(slug("a"))
        .chain((0..80).map(|i| slug(&format!("x{i}"))))
        .collect();
    let wide = store
        .history_between(Some(many), t(150), t(400))
        .await
        .unwrap();
    assert_eq!(at_of(&wide), at_of(&one));

    let before = store
        .history_between(Some(vec![slug("a")]), t(-100), t(-1))
        .await
        .unwrap();
    assert!(before.is_empty(), "nothing is known before the first row");
}

async fn heard_spans_grow_and_outlive_retention(store: Store) {
    store.record_heard(Span::new(t(0), t(10))).await.unwrap();
    store.record_heard(Span::new(t(0), t(20))).await.unwrap();
    store.record_heard(Span::new(t(0), t(15))).await.unwrap();
    store.record_heard(Span::new(t(30), t(40))).await.unwrap();
    assert_eq!(
        store.heard(t(5), t(35)).await.unwrap(),
        vec![Span::new(t(0), t(20)), Span::new(t(30), t(40))]
    );
    assert_eq!(store.heard(t(20), t(30)).await.unwrap(), vec![]);
    assert_eq!(
        store.heard(t(39), t(100)).await.unwrap(),
        vec![Span::new(t(30), t(40))]
    );
    store.trim_history(t(1_000_000), 0).await.unwrap();
    assert_eq!(store.heard(t(0), t(100)).await.unwrap().len(), 2);
}

async fn rollups_replace_by_day_and_outlive_retention(store: Store) {
    use chrono::NaiveDate;
    use federation_domain::uptime::{DailyRollup, Figures};
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let figures = |online: i64| Figures {
        online,
        offline: 86_400_000_000 - online,
        outages: 1,
        longest_outage: 86_400_000_000 - online,
        trailing_offline: 86_400_000_000 - online,
        ..Figures::default()
    };
    let rollup = |s: &str, d: u32, online: i64| DailyRollup {
        slug: slug(s),
        day: day(d),
        figures: figures(online),
    };
    store
        .save_rollups(day(1), vec![rollup("a", 1, 1), rollup("b", 1, 2)], vec![])
        .await
        .unwrap();
    store.save_rollups(day(3), vec![], vec![]).await.unwrap();
    store
        .save_rollups(day(1), vec![rollup("a", 1, 5)], vec![])
        .await
        .unwrap();
    assert_eq!(
        store.rolled_days(day(1), day(4)).await.unwrap(),
        vec![day(1), day(3)]
    );
    assert_eq!(store.rolled_days(day(2), day(3)).await.unwrap(), vec![]);
    assert_eq!(
        store.rollups(None, day(1), day(2)).await.unwrap(),
        vec![rollup("a", 1, 5)],
        "saving a day again replaces it"
    );
    assert_eq!(
        store
            .rollups(Some(vec![slug("b")]), day(1), day(4))
            .await
            .unwrap(),
        vec![]
    );
    let many: Vec<DailyRollup> = (0..2500).map(|i| rollup(&format!("p{i}"), 2, i)).collect();
    store.save_rollups(day(2), many, vec![]).await.unwrap();
    assert_eq!(
        store.rollups(None, day(2), day(3)).await.unwrap().len(),
        2500
    );
    store.trim_history(t(1_000_000_000), 0).await.unwrap();
    assert_eq!(
        store.rollups(None, day(1), day(4)).await.unwrap().len(),
        2501
    );
}

async fn group_rollups_replace_by_day_and_outlive_retention(store: Store) {
    use chrono::NaiveDate;
    use federation_domain::uptime::{DailyRollup, Edge, Figures, GroupDay, Scope};
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let edge = |s: &str, lead: i64, trail: i64| Edge {
        slug: slug(s),
        leading_offline: lead,
        trailing_offline: trail,
    };
    let group = |scope: &Scope, d: u32, projects: u64, edges: Vec<Edge>| GroupDay {
        scope: scope.key(),
        day: day(d),
        projects,
        figures: Figures {
            online: 10 * projects as i64,
            offline: 5,
            outages: 2,
            longest_outage: 4,
            ..Figures::default()
        },
        edges,
    };
    let prod = Scope::Tag("prod".into());
    let rollup = DailyRollup {
        slug: slug("a"),
        day: day(1),
        figures: Figures::default(),
    };
    // A day with no group (no project then), grouped twice.
    store
        .save_rollups(day(1), vec![rollup.clone()], vec![])
        .await
        .unwrap();
    store.save_groups(day(1), vec![]).await.unwrap();
    store
        .save_rollups(
            day(2),
            vec![],
            vec![
                group(&Scope::Fleet, 2, 3, vec![edge("a", 0, 7), edge("b", 9, 0)]),
                group(&prod, 2, 1, vec![edge("a", 0, 7)]),
            ],
        )
        .await
        .unwrap();
    store
        .save_rollups(day(3), vec![], vec![group(&Scope::Fleet, 3, 2, vec![])])
        .await
        .unwrap();
    assert_eq!(
        store.grouped_days(day(1), day(4)).await.unwrap(),
        vec![day(1), day(2), day(3)]
    );
    let fleet = store
        .group_rollups(Scope::Fleet.key(), day(1), day(4))
        .await
        .unwrap();
    assert_eq!(
        fleet,
        vec![
            group(&Scope::Fleet, 2, 3, vec![edge("a", 0, 7), edge("b", 9, 0)]),
            group(&Scope::Fleet, 3, 2, vec![]),
        ]
    );
    assert_eq!(
        store
            .group_rollups(prod.key(), day(2), day(3))
            .await
            .unwrap(),
        vec![group(&prod, 2, 1, vec![edge("a", 0, 7)])]
    );
    // Saving a day again replaces its groups (and their edges).
    store
        .save_groups(day(2), vec![group(&prod, 2, 2, vec![])])
        .await
        .unwrap();
    assert_eq!(
        store
            .group_rollups(Scope::Fleet.key(), day(2), day(3))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store
            .group_rollups(prod.key(), day(1), day(4))
            .await
            .unwrap(),
        vec![group(&prod, 2, 2, vec![])]
    );
    assert_eq!(
        store.rollups(None, day(1), day(2)).await.unwrap(),
        vec![rollup],
        "regrouping keeps the project rollups"
    );
    store.trim_history(t(1_000_000_000), 0).await.unwrap();
    assert_eq!(
        store
            .group_rollups(Scope::Fleet.key(), day(1), day(4))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_facts_by_window() {
    let (store, _keep) = postgres().await;
    facts_by_window(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_facts_by_window() {
    let (store, _keep) = sqlite().await;
    facts_by_window(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_heard_spans() {
    let (store, _keep) = postgres().await;
    heard_spans_grow_and_outlive_retention(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_heard_spans() {
    let (store, _keep) = sqlite().await;
    heard_spans_grow_and_outlive_retention(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_rollups() {
    let (store, _keep) = postgres().await;
    rollups_replace_by_day_and_outlive_retention(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_rollups() {
    let (store, _keep) = sqlite().await;
    rollups_replace_by_day_and_outlive_retention(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_group_rollups() {
    let (store, _keep) = postgres().await;
    group_rollups_replace_by_day_and_outlive_retention(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_group_rollups() {
    let (store, _keep) = sqlite().await;
    group_rollups_replace_by_day_and_outlive_retention(store).await;
}
