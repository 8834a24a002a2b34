//! Objectives made over REST on both backends: PostgreSQL from the test kit and a
//! SQLite temp file, the same case on each.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use federation_domain::uptime::{ObjectiveInput, SloStore};
use federation_store::Store;

#[expect(dead_code, reason = "a test binary uses some of the shared helpers")]
mod common;
use common::{postgres, sqlite};

fn objective(
    name: &str,
    project: Option<&str>,
    tag: Option<&str>,
    percent: f64,
    window: &str,
) -> federation_domain::uptime::Objective {
    ObjectiveInput {
        name: Some(name.into()),
        project: project.map(Into::into),
        tag: tag.map(Into::into),
        objective: Some(percent),
        window: Some(window.into()),
    }
    .validate()
    .unwrap()
}

async fn objectives_round_trip(store: Store) {
    assert!(store.list_slos().await.unwrap().is_empty());
    let tag = objective("prod", None, Some("Production"), 99.95, "30d");
    let project = objective("hub", Some("hub"), None, 99.5, "7d");
    assert!(store.put_slo(&tag).await.unwrap());
    assert!(store.put_slo(&project).await.unwrap());
    assert_eq!(
        store.list_slos().await.unwrap(),
        [project.clone(), tag.clone()]
    );

    let replaced = objective("prod", Some("edge"), None, 90.0, "90d");
    assert!(!store.put_slo(&replaced).await.unwrap());
    assert_eq!(
        store.list_slos().await.unwrap(),
        [project.clone(), replaced]
    );

    assert!(store.delete_slo("prod").await.unwrap());
    assert!(!store.delete_slo("prod").await.unwrap());
    assert_eq!(store.list_slos().await.unwrap(), [project]);
}

#[tokio::test]
async fn objectives_round_trip_on_postgres() {
    let (store, _keep) = postgres().await;
    objectives_round_trip(store).await;
}

#[tokio::test]
async fn objectives_round_trip_on_sqlite() {
    let (store, _keep) = sqlite().await;
    objectives_round_trip(store).await;
}
