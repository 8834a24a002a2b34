//! Record_heartbeat.

use super::*;

#[tokio::test]
async fn record_heartbeat_rejections_have_their_outcome() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let cases: [(&str, Vec<u8>, &str); 8] = [
        ("ghost", beat("ghost"), "unknown_project"),
        ("alpha", b"not json".to_vec(), "malformed"),
        ("alpha", br#"{"project_slug": 1}"#.to_vec(), "malformed"),
        ("alpha", br#"{"hub_url":"http://x"}"#.to_vec(), "malformed"),
        ("alpha", beat("beta"), "slug_mismatch"),
        (
            "alpha",
            br#"{"project_slug":"alpha","mesh_namespace":"hub..beta"}"#.to_vec(),
            "bad_namespace",
        ),
        (
            "alpha",
            br#"{"project_slug":"alpha","timestamp":"2025-11-18T10:58:29Z"}"#.to_vec(),
            "replay",
        ),
        (
            "alpha",
            format!(r#"{{"project_slug":"alpha","pad":"{}"}}"#, "x".repeat(9000)).into_bytes(),
            "oversize",
        ),
    ];
    for (subject, body, outcome) in cases {
        let err = fed.record_heartbeat(subject, &body).unwrap_err();
        assert_eq!(err.outcome(), outcome, "{}", String::from_utf8_lossy(&body));
    }
    // None of them changed anything.
    assert_eq!(fed.tick().await.unwrap(), TickReport::default());
}

#[tokio::test]
async fn a_heartbeat_must_carry_its_projects_registered_namespace() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let mut custom = input("veria");
    custom.mesh_namespace = Some("veria.mesh".into());
    fed.register(&custom).await.unwrap();
    let body = |slug: &str, ns: &str| {
        format!(r#"{{"project_slug":"{slug}","mesh_namespace":"{ns}"}}"#).into_bytes()
    };
    // The original dropped a heartbeat claiming another project's namespace.
    for (slug, ns) in [("alpha", "hub.different-project"), ("veria", "hub.veria")] {
        let err = fed.record_heartbeat(slug, &body(slug, ns)).unwrap_err();
        assert_eq!(err.outcome(), "bad_namespace", "{slug} {ns}");
        assert!(err.to_string().contains(&format!("got '{ns}'")), "{err}");
        // Batched (the NATS path) alike, counted on the project.
        let bytes = body(slug, ns);
        assert_eq!(fed.record_heartbeats([(slug, bytes.as_slice())]).len(), 1);
    }
    let beats = fed.beats_by_project(10).unwrap();
    assert!(
        beats
            .iter()
            .all(|b| b.counts.refused == 2 && b.counts.recorded == 0),
        "{beats:?}"
    );
    // Its own, or none: recorded.
    for (slug, ns) in [
        ("alpha", "hub.alpha"),
        ("veria", "veria.mesh"),
        ("alpha", " "),
    ] {
        fed.record_heartbeat(slug, &body(slug, ns)).unwrap();
    }
    let own = body("alpha", "hub.alpha");
    assert!(fed
        .record_heartbeats([("alpha", own.as_slice())])
        .is_empty());
}

#[tokio::test]
async fn record_heartbeats_takes_a_batch_as_record_heartbeat_takes_each() {
    let cluster = Cluster::new(&["alpha", "beta"]).await;
    let fed = cluster.leader().await;
    let alpha = beat("alpha");
    let beta = beat("beta");
    let ghost = beat("ghost");
    let batch: Vec<(&str, &[u8])> = vec![
        ("alpha", &alpha),
        ("ghost", &ghost),
        ("alpha", b"not json"),
        ("beta", &beta),
        ("beta", &alpha),
        ("alpha", &alpha),
    ];
    let rejected = fed.record_heartbeats(batch);
    let outcomes: Vec<(&str, &str)> = rejected.iter().map(|(s, r)| (*s, r.outcome())).collect();
    assert_eq!(
        outcomes,
        // In the batch's order: a stranger is refused as it is met, before decoding.
        [
            ("ghost", "unknown_project"),
            ("alpha", "malformed"),
            ("beta", "slug_mismatch")
        ]
    );
    let c = fed.heartbeat_counters();
    assert_eq!(
        (
            c.get("ok"),
            c.get("unknown_project"),
            c.get("malformed"),
            c.get("slug_mismatch")
        ),
        (3, 1, 1, 1)
    );
    assert_eq!(fed.tick().await.unwrap().transitions, 2);
    assert!(fed.record_heartbeats(Vec::new()).is_empty());
}

#[tokio::test]
async fn record_heartbeat_judges_timestamps_by_the_clock_and_reports_change() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let body = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:00:00Z"}"#;
    assert!(fed.record_heartbeat("alpha", body).unwrap());
    assert!(!fed.record_heartbeat("alpha", body).unwrap(), "no change");
    // A sender 91 s behind is still heard (the original refused it as a replay)…
    cluster.clock.advance(secs(91));
    assert!(!fed.record_heartbeat("alpha", body).unwrap(), "no change");
    // …and one over an hour behind is a replay.
    cluster.clock.advance(secs(3600));
    assert_eq!(
        fed.record_heartbeat("alpha", body).unwrap_err().outcome(),
        "replay"
    );
    let degraded = br#"{"project_slug":"alpha","status":"degraded","reasons":["db"]}"#;
    assert!(fed.record_heartbeat("alpha", degraded).unwrap());
    fed.tick().await.unwrap();
    assert_eq!(fed.counts().degraded, 1);
}

#[tokio::test]
async fn the_last_observed_clock_skew_is_on_the_project() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let skew = |fed: &Federation| fed.get("alpha").unwrap().0.clock_skew_seconds;
    assert_eq!(skew(&fed), None);
    // No timestamp: nothing to measure.
    fed.record_heartbeat("alpha", &beat("alpha")).unwrap();
    assert_eq!(skew(&fed), None);
    let body = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:00:00Z"}"#;
    fed.record_heartbeat("alpha", body).unwrap();
    assert_eq!(skew(&fed), Some(0.0));
    cluster.clock.advance(secs(91));
    fed.record_heartbeat("alpha", body).unwrap();
    fed.tick().await.unwrap();
    assert_eq!(skew(&fed), Some(91.0));
    // A sender ahead of us shows a negative skew.
    let ahead = br#"{"project_slug":"alpha","timestamp":"2025-11-18T12:03:31Z"}"#;
    fed.record_heartbeat("alpha", ahead).unwrap();
    assert_eq!(skew(&fed), Some(-120.0));
}

#[tokio::test]
async fn membership_is_looked_up_by_subject_token_in_any_case() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    assert!(fed.is_member("alpha"));
    assert!(fed.is_member("Alpha"));
    assert!(!fed.is_member("beta"));
    assert!(!fed.is_member(""));
    fed.register(&input("beta")).await.unwrap();
    assert!(fed.is_member("beta"));
    fed.deregister("alpha").await.unwrap();
    assert!(!fed.is_member("alpha"));
}

#[tokio::test]
async fn heartbeats_are_counted_by_outcome() {
    let cluster = Cluster::new(&["known"]).await;
    let fed = cluster.leader().await;
    fed.record_heartbeat("known", &beat("known")).unwrap();
    fed.record_heartbeat("known", &beat("known")).unwrap();
    fed.record_heartbeat("ghost", &beat("ghost")).unwrap_err();
    fed.record_heartbeat("known", b"{oops").unwrap_err();
    fed.record_heartbeat("other", &beat("known")).unwrap_err();
    fed.count_dropped_heartbeat();
    let c = fed.heartbeat_counters();
    assert_eq!(c.get("ok"), 2);
    assert_eq!(c.get("unknown_project"), 1);
    assert_eq!(c.get("malformed"), 1);
    assert_eq!(c.get("slug_mismatch"), 1);
    assert_eq!(c.get("dropped"), 1);
}

/// The bus lets strangers into its queue while there is room: the batch refuses them as
/// unknown before their bodies are read, whatever the bodies hold.
#[tokio::test]
async fn a_stranger_in_a_batch_is_unknown_whatever_its_body() {
    let cluster = Cluster::new(&["alpha"]).await;
    let fed = cluster.leader().await;
    let ghost = beat("ghost");
    let alpha = beat("alpha");
    let rejected = fed.record_heartbeats([
        ("ghost", ghost.as_slice()),
        ("ghost", b"not json".as_slice()),
        ("Alpha", alpha.as_slice()),
    ]);
    let outcomes: Vec<&str> = rejected.iter().map(|(_, r)| r.outcome()).collect();
    assert_eq!(outcomes, ["unknown_project", "unknown_project"]);
    assert_eq!(
        fed.heartbeat_counters().get("ok"),
        1,
        "a member's subject in capitals"
    );
}
