//! Notification channels (and their cursors and deliveries) on both backends:
//! PostgreSQL from the test kit and a SQLite temp file, the same cases on each.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::time::Duration;

use federation_domain::notify::{
    ChannelInput, ChannelName, ChannelSpec, ChannelStore, ChannelWrite, Rules, Trigger,
};
use federation_store::Store;

#[expect(dead_code, reason = "a test binary uses some of the shared helpers")]
mod common;
use common::{postgres, sqlite};

fn webhook(name: &str, secret: Option<&str>) -> ChannelInput {
    ChannelInput {
        name: Some(name.into()),
        kind: Some("webhook".into()),
        url: Some("http://10.0.0.5:9000/hook".into()),
        secret: secret.map(Into::into),
        rules: Some(Rules {
            tags: vec!["prod".into()],
            on: vec![Trigger::Offline, Trigger::Recovered],
            hold_seconds: 120,
            ..Rules::default()
        }),
        enabled: None,
        email: None,
    }
}

async fn channels_round_trip(store: Store) {
    let spec = ChannelSpec::parse(webhook("ops", Some("0123456789abcdef-secret"))).unwrap();
    let ChannelWrite::Created(created) = store.create_channel(&spec).await.unwrap() else {
        panic!("not created");
    };
    assert_eq!(created.spec, spec);
    assert_eq!(
        store.create_channel(&spec).await.unwrap(),
        ChannelWrite::Exists
    );

    let slack = ChannelSpec::parse(ChannelInput {
        name: Some("chat".into()),
        kind: Some("slack".into()),
        url: Some("https://hooks.slack.com/services/T0/B0/xyz".into()),
        ..ChannelInput::default()
    })
    .unwrap();
    store.create_channel(&slack).await.unwrap();

    let all = store.list_channels().await.unwrap();
    let names: Vec<_> = all.iter().map(|c| c.spec.name.as_str()).collect();
    assert_eq!(names, ["chat", "ops"]);

    let name = ChannelName::parse("ops").unwrap();
    let got = store.get_channel(&name).await.unwrap().unwrap();
    assert_eq!(
        got.spec.secret.as_ref().unwrap().expose(),
        "0123456789abcdef-secret"
    );
    assert_eq!(got.spec.rules.hold_seconds, 120);

    // A replace without a secret keeps the stored one.
    let mut input = webhook("ops", None);
    input.enabled = Some(false);
    input.url = Some("https://receiver.example/hook".into());
    let replaced = ChannelSpec::parse_replacing(input, &got.spec).unwrap();
    let after = store.replace_channel(&replaced).await.unwrap().unwrap();
    assert!(!after.spec.enabled);
    assert_eq!(after.spec.url.as_str(), "https://receiver.example/hook");
    assert_eq!(after.spec.secret, got.spec.secret);
    assert_eq!(after.created_at, got.created_at);
    assert!(after.updated_at >= got.updated_at);

    let missing = ChannelSpec::parse(webhook("nobody", Some("0123456789abcdef-x"))).unwrap();
    assert_eq!(store.replace_channel(&missing).await.unwrap(), None);

    assert!(store.delete_channel(&name).await.unwrap());
    assert!(!store.delete_channel(&name).await.unwrap());
    assert_eq!(store.get_channel(&name).await.unwrap(), None);
    assert_eq!(store.list_channels().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn channels_round_trip_on_postgres() {
    let (store, _keep) = postgres().await;
    channels_round_trip(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn channels_round_trip_on_sqlite() {
    let (store, _keep) = sqlite().await;
    channels_round_trip(store).await;
}

async fn deliveries_and_fenced_cursors(store: Store) {
    use federation_domain::notify::{Delivery, DeliveryLog, DeliveryStatus};
    use federation_domain::{Lease, RepositoryError};
    let spec = ChannelSpec::parse(webhook("ops", Some("0123456789abcdef-secret"))).unwrap();
    store.create_channel(&spec).await.unwrap();
    let name = spec.name.clone();
    let at = chrono::Utc::now();
    for (i, status) in [DeliveryStatus::Sent, DeliveryStatus::Failed]
        .into_iter()
        .enumerate()
    {
        let d = Delivery {
            id: 0,
            channel: "ops".into(),
            revision: 10 + i as u64,
            event: "offline".into(),
            slug: Some("alpha".into()),
            status,
            attempts: 1 + i as u32,
            http_status: Some(if i == 0 { 200 } else { 500 }),
            last_error: (i == 1).then(|| "HTTP 500".to_owned()),
            latency_ms: 12,
            at,
        };
        store.record_delivery(&d).await.unwrap();
    }
    let all = store.list_deliveries(Some(name.clone()), 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].revision, 11, "newest first");
    assert_eq!(all[0].status, DeliveryStatus::Failed);
    assert_eq!(all[0].last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(all[1].http_status, Some(200));
    assert_eq!(store.list_deliveries(None, 1).await.unwrap().len(), 1);
    // What a new leader skips: the channel's deliveries after its cursor.
    let after = store.deliveries_after(&name, 10, 100).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].revision, 11);
    assert!(store
        .deliveries_after(&name, 11, 100)
        .await
        .unwrap()
        .is_empty());

    assert_eq!(store.cursor(&name).await.unwrap(), None);
    let term = store
        .acquire("a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    store.advance_cursor(&name, 5, term).await.unwrap();
    store.advance_cursor(&name, 3, term).await.unwrap();
    assert_eq!(store.cursor(&name).await.unwrap(), Some(5), "never back");
    store.advance_cursor(&name, 9, term).await.unwrap();
    assert_eq!(store.cursor(&name).await.unwrap(), Some(9));
    store.release("a").await.unwrap();
    let newer = store
        .acquire("b", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert!(newer > term);
    let stale = store.advance_cursor(&name, 20, term).await;
    assert!(
        matches!(stale, Err(RepositoryError::Fenced(_))),
        "{stale:?}"
    );
    assert_eq!(store.cursor(&name).await.unwrap(), Some(9));

    // Deleting the channel takes its cursor and deliveries along.
    assert!(store.delete_channel(&name).await.unwrap());
    assert!(store.list_deliveries(None, 10).await.unwrap().is_empty());
    assert_eq!(store.cursor(&name).await.unwrap(), None);
    store.advance_cursor(&name, 30, newer).await.unwrap();
    assert_eq!(
        store.cursor(&name).await.unwrap(),
        None,
        "no cursor for a gone channel"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_and_fenced_cursors_on_postgres() {
    let (store, _keep) = postgres().await;
    deliveries_and_fenced_cursors(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_and_fenced_cursors_on_sqlite() {
    let (store, _keep) = sqlite().await;
    deliveries_and_fenced_cursors(store).await;
}
