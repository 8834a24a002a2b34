//! Export and import (`Store::export`, `Store::import`): a round trip between the two
//! backends in both directions compares everything (the second export's records equal
//! the first's), the restored database goes on numbering revisions from the head, and
//! bad files (a bad line, another version, a cut file, a database holding data) are
//! refused with their line number and change nothing.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::io::Cursor;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use federation_domain::notify::{ChannelInput, ChannelSpec, ChannelStore, Delivery, DeliveryLog};
use federation_domain::notify::{DeliveryStatus, Rules, Trigger};
use federation_domain::testing::slug;
use federation_domain::uptime::{DailyRollup, Figures, Span, UptimeSource};
use federation_domain::{
    ChangeLog, ChangesSince, HeartbeatKeyDigest, Maintenance, MaintenanceChange, ProjectPatch,
    ProjectRepository, RegistrationInput, Status, Transition,
};
use federation_store::backup::{BackupError, PAGE};
use federation_store::Store;

mod common;
use common::{fenced_write, postgres, sqlite};

/// A time with microseconds (what both backends keep).
fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_760_000_000 + secs, 123_456_000)
        .unwrap()
}

fn transition(s: &str, from: Status, to: Status, at: DateTime<Utc>) -> Transition {
    Transition {
        slug: slug(s),
        from,
        to,
        reason: Some("heartbeat_late".to_owned()),
        at,
        last_heartbeat_at: Some(at),
    }
}

/// More projects and transitions than one page, and a row of every kind.
async fn populate(store: &Store) {
    let many = PAGE + 37;
    let regs: Vec<_> = (0..many)
        .map(|i| {
            RegistrationInput {
                slug: Some(format!("p{i:04}")),
                name: Some(format!("Project {i}")),
                hub_url: Some(format!("https://p{i}.example.com/hub")),
                tags: Some(vec!["prod".into(), format!("zone-{}", i % 3), "a tag".into()]),
                metadata: Some(serde_json::json!({"owner": "ops", "n": i, "nested": {"z": 1, "a": [1.5, null, "x"]}})),
                heartbeat_interval: (i % 2 == 0).then_some(30),
                ..RegistrationInput::default()
            }
            .validate()
            .unwrap()
        })
        .collect();
    store.upsert_all(&regs).await.unwrap();
    let patch = ProjectPatch {
        heartbeat_key: Some(Some(HeartbeatKeyDigest::from_bytes([0xab; 32]))),
        ..ProjectPatch::default()
    };
    store.update(&slug("p0001"), &patch).await.unwrap().unwrap();
    let window = Maintenance {
        reason: "disk swap \"rack 4\"".into(),
        since: t(10),
        until: t(3_600),
        by: "ops-key".into(),
    };
    store
        .set_maintenance(&slug("p0002"), &MaintenanceChange::Start(window))
        .await
        .unwrap()
        .unwrap();

    use Status::{Degraded, Offline, Online};
    let mut rows = Vec::new();
    for i in 0..many {
        let s = format!("p{i:04}");
        rows.push(transition(&s, Offline, Online, t(100 + i as i64)));
        if i % 5 == 0 {
            rows.push(transition(&s, Online, Degraded, t(200 + i as i64)));
        }
    }
    fenced_write(store, &[], &rows).await.unwrap();
    // History that outlives its project.
    assert!(store.delete(&slug("p0003"), "removed").await.unwrap());

    let channel = |name: &str, kind: &str, url: &str, secret: Option<&str>| {
        ChannelSpec::parse(ChannelInput {
            name: Some(name.into()),
            kind: Some(kind.into()),
            url: Some(url.into()),
            secret: secret.map(Into::into),
            rules: Some(Rules {
                tags: vec!["prod".into()],
                on: vec![Trigger::Offline, Trigger::Recovered],
                hold_seconds: 90,
                ..Rules::default()
            }),
            enabled: Some(true),
            email: None,
        })
        .unwrap()
    };
    store
        .create_channel(&channel(
            "ops",
            "webhook",
            "http://10.0.0.5:9000/hook",
            Some("0123456789abcdef-secret"),
        ))
        .await
        .unwrap();
    store
        .create_channel(&channel(
            "chat",
            "slack",
            "https://hooks.slack.com/services/T0/B0/xyz",
            None,
        ))
        .await
        .unwrap();
    for (i, status) in [DeliveryStatus::Sent, DeliveryStatus::Failed]
        .into_iter()
        .enumerate()
    {
        store
            .record_delivery(&Delivery {
                id: 0,
                channel: "ops".into(),
                revision: 10 + i as u64,
                event: "offline".into(),
                slug: Some("p0004".into()),
                status,
                attempts: 1 + i as u32,
                http_status: Some(if i == 0 { 200 } else { 500 }),
                last_error: (i == 1).then(|| "HTTP 500".to_owned()),
                latency_ms: 12,
                at: t(300),
            })
            .await
            .unwrap();
    }
    let term = federation_domain::Lease::acquire(store, "store-tests", Duration::from_secs(3600))
        .await
        .unwrap()
        .unwrap();
    let ops = federation_domain::notify::ChannelName::parse("ops").unwrap();
    store.advance_cursor(&ops, 7, term).await.unwrap();

    store.record_heard(Span::new(t(0), t(500))).await.unwrap();
    store.record_heard(Span::new(t(900), t(950))).await.unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let figures = Figures {
        online: 80_000_000_000,
        offline: 6_400_000_000,
        outages: 2,
        longest_outage: 6_000_000_000,
        trailing_offline: 400_000_000,
        ..Figures::default()
    };
    let rollups = ["p0000", "p0001", "p0003"]
        .into_iter()
        .map(|s| DailyRollup {
            slug: slug(s),
            day,
            figures,
        })
        .collect();
    store.save_rollups(day, rollups, Vec::new()).await.unwrap();
}

/// The export's lines.
async fn export(store: &Store) -> Vec<String> {
    let (counts, bytes) = store.export(Vec::new()).await.expect("export");
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(
        u64::try_from(lines.len()).unwrap(),
        counts.total() + 1,
        "a header, then one line per record (the end record included)"
    );
    lines
}

async fn round_trip(from: Store, to: Store) {
    populate(&from).await;
    let first = export(&from).await;
    let header: serde_json::Value = serde_json::from_str(&first[0]).unwrap();
    assert_eq!(header["format"], "federation-export");
    assert_eq!(header["version"], 1);
    assert_eq!(header["backend"], from.backend());

    let counts = to
        .import(Cursor::new(first.join("\n") + "\n"))
        .await
        .expect("import");
    let many = u64::try_from(PAGE + 37).unwrap();
    assert_eq!(counts.of("project"), many - 1, "one removed");
    assert!(counts.of("transition") > many + many / 5);
    for kind in federation_store::backup::KINDS {
        let tag = format!(r#"{{"type":"{kind}""#);
        let lines = first.iter().filter(|l| l.starts_with(&tag)).count();
        assert_eq!(counts.of(kind), u64::try_from(lines).unwrap(), "{kind}");
        assert!(lines > 0, "the file holds a {kind} record");
    }
    assert_eq!(counts.of("channel"), 2);
    assert_eq!(counts.of("delivery"), 2);
    assert_eq!(counts.of("uptime_daily"), 3);

    // Everything, compared: the second export's records are the first's.
    let second = export(&to).await;
    assert_eq!(first.len(), second.len());
    for (i, (a, b)) in first.iter().zip(&second).enumerate().skip(1) {
        assert_eq!(a, b, "line {}", i + 1);
    }

    // The secret, the key's digest, the window and detached history came along.
    assert!(first.iter().any(|l| l.contains("0123456789abcdef-secret")));
    assert!(first.iter().any(|l| l.contains(&"ab".repeat(32))));
    let p2 = to.get(&slug("p0002")).await.unwrap().unwrap();
    assert_eq!(p2.maintenance.unwrap().reason, "disk swap \"rack 4\"");
    let mut was = from.get(&slug("p0001")).await.unwrap().unwrap();
    let mut now = to.get(&slug("p0001")).await.unwrap().unwrap();
    (was.id, now.id) = (0, 0);
    assert_eq!(was, now, "the same project (its database id aside)");
    assert!(now.heartbeat_key.is_some());
    let gone = to.history(&slug("p0003"), 10).await.unwrap().unwrap();
    assert!(!gone.is_empty());
    assert_eq!(Some(gone), from.history(&slug("p0003"), 10).await.unwrap());

    // Revisions go on from the head.
    let head = from.snapshot().await.unwrap().revision;
    assert!(head > 0);
    assert_eq!(to.snapshot().await.unwrap().revision, head);
    let reg = RegistrationInput {
        slug: Some("newcomer".into()),
        name: Some("Newcomer".into()),
        hub_url: Some("https://newcomer.example.com".into()),
        ..RegistrationInput::default()
    }
    .validate()
    .unwrap();
    to.upsert(&reg).await.unwrap();
    match to.changes_since(head, 10).await.unwrap() {
        ChangesSince::Changes(c) => {
            assert_eq!(c.len(), 1);
            assert_eq!(c[0].revision, head + 1);
        }
        ChangesSince::Trimmed => panic!("the head is readable"),
    }

    // A second import finds data and changes nothing.
    let again = to.import(Cursor::new(first.join("\n") + "\n")).await;
    assert!(
        matches!(
            again,
            Err(BackupError::NotEmpty {
                table: "projects",
                ..
            })
        ),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_sqlite_keeps_everything() {
    let (from, _a) = postgres().await;
    let (to, _b) = sqlite().await;
    round_trip(from, to).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_to_postgres_keeps_everything() {
    let (from, _a) = sqlite().await;
    let (to, _b) = postgres().await;
    round_trip(from, to).await;
}

/// Each bad file is refused with its line number, and the target stays empty: the
/// good file loads afterwards.
async fn bad_files_change_nothing(to: Store) {
    let (from, _keep) = sqlite().await;
    populate(&from).await;
    let good = export(&from).await;
    let file = |lines: &[String]| Cursor::new(lines.join("\n") + "\n");
    let refused = |r: Result<federation_store::backup::Counts, BackupError>| {
        r.expect_err("refused").to_string()
    };

    let mut bad = good.clone();
    let at = bad
        .iter()
        .position(|l| l.contains(r#""slug":"p0007""#))
        .unwrap();
    bad[at] = bad[at].replace("https://p7.example.com/hub", "ftp://p7.example.com/hub");
    let e = refused(to.import(file(&bad)).await);
    assert!(e.starts_with(&format!("line {}: hub_url", at + 1)), "{e}");

    let mut bad = good.clone();
    let at = bad
        .iter()
        .position(|l| l.contains(r#""type":"delivery""#))
        .unwrap();
    bad[at] = bad[at].replace(r#""attempts":1"#, r#""attempts":"one""#);
    let e = refused(to.import(file(&bad)).await);
    assert!(
        e.starts_with(&format!("line {}: attempts: ", at + 1)),
        "{e}"
    );

    let mut bad = good.clone();
    bad[0] = bad[0].replace(r#""version":1"#, r#""version":2"#);
    let e = refused(to.import(file(&bad)).await);
    assert!(e.contains("format version 2"), "{e}");

    let cut = &good[..good.len() - 1];
    let e = refused(to.import(file(cut)).await);
    assert!(e.contains("incomplete"), "{e}");

    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad.swap(1, last - 1);
    let e = refused(to.import(file(&bad)).await);
    assert!(e.contains("must come in the order"), "{e}");

    let e = refused(to.import(Cursor::new("not json\n")).await);
    assert!(
        e.starts_with("line 1: not a federation export header"),
        "{e}"
    );

    // Nothing of the above was written.
    to.import(file(&good)).await.expect("the good file loads");
    assert_eq!(export(&to).await[1..], good[1..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_change_nothing_on_sqlite() {
    let (to, _keep) = sqlite().await;
    bad_files_change_nothing(to).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_change_nothing_on_postgres() {
    let (to, _keep) = postgres().await;
    bad_files_change_nothing(to).await;
}

/// The export reads one snapshot: writes made while it runs are in none of its pages.
async fn export_is_one_snapshot(store: Store) {
    populate(&store).await;
    let before = export(&store).await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                let reg = RegistrationInput {
                    slug: Some(format!("late{i:03}")),
                    name: Some("Late".into()),
                    hub_url: Some("https://late.example.com".into()),
                    ..RegistrationInput::default()
                }
                .validate()
                .unwrap();
                store.upsert(&reg).await.unwrap();
            }
        })
    };
    // The export starts while the writer writes.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.get(&slug("late010")).await.unwrap().is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the writer is stuck"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let during = export(&store).await;
    writer.await.unwrap();
    // Whatever the writer managed first, the export is consistent: its log head counts
    // exactly the registrations it holds beyond the first export's.
    let projects = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.starts_with(r#"{"type":"project""#))
            .count()
    };
    let head = |lines: &[String]| -> u64 {
        let log: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        log["head"].as_u64().unwrap()
    };
    let added = projects(&during) - projects(&before);
    assert_eq!(
        head(&during) - head(&before),
        u64::try_from(added).unwrap(),
        "the head and the projects come from one snapshot"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn export_is_one_snapshot_on_postgres() {
    let (store, _keep) = postgres().await;
    export_is_one_snapshot(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn export_is_one_snapshot_on_sqlite() {
    let (store, _keep) = sqlite().await;
    export_is_one_snapshot(store).await;
}
