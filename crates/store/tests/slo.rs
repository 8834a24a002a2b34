//! Objectives made over REST on both backends: PostgreSQL from the test kit and a
//! SQLite temp file, the same case on each.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use federation_domain::uptime::{ObjectiveInput, SloStore, SloWrite, SLOS_MAX};
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
    assert_eq!(store.put_slo(&tag).await.unwrap(), SloWrite::Created);
    assert_eq!(store.put_slo(&project).await.unwrap(), SloWrite::Created);
    assert_eq!(
        store.list_slos().await.unwrap(),
        [project.clone(), tag.clone()]
    );

    let replaced = objective("prod", Some("edge"), None, 90.0, "90d");
    assert_eq!(store.put_slo(&replaced).await.unwrap(), SloWrite::Replaced);
    assert_eq!(
        store.list_slos().await.unwrap(),
        [project.clone(), replaced]
    );

    assert!(store.delete_slo("prod").await.unwrap());
    assert!(!store.delete_slo("prod").await.unwrap());
    assert_eq!(store.list_slos().await.unwrap(), [project]);
}

/// At [`SLOS_MAX`] stored objectives a new name is refused and nothing is written;
/// replacing a stored one still works.
async fn a_full_store_refuses_new_names(store: Store) {
    for i in 0..SLOS_MAX {
        let o = objective(&format!("o{i}"), None, Some(&format!("t{i}")), 99.0, "30d");
        assert_eq!(store.put_slo(&o).await.unwrap(), SloWrite::Created);
    }
    let extra = objective("extra", None, Some("extra"), 99.0, "30d");
    assert_eq!(store.put_slo(&extra).await.unwrap(), SloWrite::Full);
    assert_eq!(store.list_slos().await.unwrap().len(), SLOS_MAX);
    let again = objective("o7", None, Some("t7"), 95.0, "7d");
    assert_eq!(store.put_slo(&again).await.unwrap(), SloWrite::Replaced);
    assert!(store.delete_slo("o0").await.unwrap());
    assert_eq!(store.put_slo(&extra).await.unwrap(), SloWrite::Created);
}

#[tokio::test]
async fn a_full_store_refuses_new_names_on_postgres() {
    let (store, _keep) = postgres().await;
    a_full_store_refuses_new_names(store).await;
}

#[tokio::test]
async fn a_full_store_refuses_new_names_on_sqlite() {
    let (store, _keep) = sqlite().await;
    a_full_store_refuses_new_names(store).await;
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
