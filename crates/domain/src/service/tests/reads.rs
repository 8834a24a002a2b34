//! Reads, update, deregister, history.

use super::*;

#[tokio::test]
async fn reads_come_from_the_registry_with_its_revision() {
    let cluster = Cluster::new(&["alpha", "beta"]).await;
    let fed = cluster.leader().await;
    // The store is down: reads still answer, from memory.
    cluster.store.set_unavailable(true);
    assert_eq!(fed.get("Alpha").unwrap().0.slug.as_str(), "alpha");
    assert_eq!(not_found(fed.get("ghost")), "ghost");
    let page = fed.list(&ListFilter::parse(None, None, Some("1"), Some("1")).unwrap());
    assert_eq!(
        (page.items[0].slug.as_str(), page.total, page.revision),
        ("beta", 2, 2)
    );
}

#[tokio::test]
async fn an_invalid_path_slug_is_not_found_without_asking_the_store() {
    let cluster = Cluster::new(&[]).await;
    let fed = cluster.leader().await;
    cluster.store.set_unavailable(true);
    for bad in ["bad.slug", "", "-x", "a b", &"x".repeat(51)] {
        not_found(fed.get(bad));
        not_found(fed.update(bad, &ProjectPatch::default()).await);
        not_found(fed.deregister(bad).await);
        not_found(fed.history(bad, 10).await);
    }
    let long = "é".repeat(500);
    assert_eq!(not_found(fed.get(&long)).chars().count(), 64);
}

#[tokio::test]
async fn update_applies_the_patch_and_maps_missing_to_not_found() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let patch = ProjectPatch {
        name: Some(ProjectName::parse("New").unwrap()),
        ..ProjectPatch::default()
    };
    assert_eq!(
        fed.update("alpha", &patch).await.unwrap().name.as_str(),
        "New"
    );
    assert_eq!(fed.get("alpha").unwrap().0.name.as_str(), "New");
    assert_eq!(not_found(fed.update("ghost", &patch).await), "ghost");
}

#[tokio::test]
async fn deregister_deletes_and_forgets_presence_and_a_failed_one_keeps_it() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    cluster.store.set_unavailable(true);
    assert!(matches!(
        fed.deregister("alpha").await,
        Err(ServiceError::Repository(_))
    ));
    assert!(fed.record_heartbeat("alpha", &beat("alpha")).is_ok());
    cluster.store.set_unavailable(false);
    fed.deregister("ALPHA").await.unwrap();
    assert_eq!(fed.counts(), StatusCounts::default());
    let err = fed.record_heartbeat("alpha", &beat("alpha")).unwrap_err();
    assert_eq!(err.outcome(), "unknown_project");
    assert_eq!(not_found(fed.deregister("ghost").await), "ghost");
}

#[tokio::test]
async fn history_is_newest_first_with_the_limit() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    fed.tick().await.unwrap();
    cluster.clock.set(t0() + secs(60));
    fed.tick().await.unwrap();
    let h = fed.history("alpha", 1).await.unwrap();
    assert_eq!((h.len(), h[0].to), (1, Status::Degraded));
    assert_eq!(not_found(fed.history("ghost", 7).await), "ghost");
}
