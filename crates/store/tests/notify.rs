//! Notification channels (and their cursors and deliveries) on both backends:
//! PostgreSQL from the test kit and a SQLite temp file, the same cases on each.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::time::Duration;

use federation_domain::notify::{
    ChannelInput, ChannelName, ChannelSpec, ChannelStore, ChannelWrite, Rules, Trigger,
};
use federation_store::{DatabaseUrl, Store, StoreOptions};

fn opts() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(10),
        pool_timeout: Duration::from_secs(10),
        ..StoreOptions::default()
    }
}

async fn postgres() -> (Store, Box<dyn std::any::Any + Send>) {
    let db = tokio::task::spawn_blocking(federation_testkit::postgres_database)
        .await
        .unwrap()
        .expect("test PostgreSQL");
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let store = Store::connect(&url, opts()).await.expect("connect");
    store.run_migrations().await.expect("migrate");
    (store, Box::new(db))
}

async fn sqlite() -> (Store, Box<dyn std::any::Any + Send>) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(&format!("sqlite://{}/fed.db", dir.path().display())).unwrap();
    let store = Store::connect(&url, opts()).await.expect("connect");
    store.run_migrations().await.expect("migrate");
    (store, Box::new(dir))
}

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
