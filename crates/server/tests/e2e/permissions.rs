//! NATS permissions the server refuses: a real nats-server whose configuration lets the
//! service subscribe but not publish. Without the canary, the partition guard must not
//! hold for ever; `/ready` and `/metrics` name the refusal.

use std::time::Duration;

use crate::heartbeats::{beat_until, client_as, heartbeat, nats_config, OFFLINE_AFTER};
use crate::helpers::{eventually, metric_value, project, Backend};

/// The service may subscribe to anything and publish nothing; `probe` may do anything.
const DENY_PUBLISH: &str = r#"
authorization {
  users = [
    {user: svc, password: svc, permissions: {publish: {deny: ">"}, subscribe: ">"}}
    {user: probe, password: probe}
  ]
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_canary_is_named_and_silence_still_expires_projects() {
    let server = federation_testkit::NatsServer::start_with_config(DENY_PUBLISH).unwrap();
    let app = nats_config(
        &format!("nats://svc:svc@127.0.0.1:{}", server.port()),
        Backend::postgres(),
    )
    .start()
    .await;
    let nats = client_as(&server.url(), Some("probe")).await;
    app.register(&project("quiet")).await;

    // The server refuses the canary: /ready names it, and the guard is not held by it.
    let ready = eventually(Duration::from_secs(20), || async {
        let r = app.ready().await;
        let denied = r["checks"]["nats_denied"].to_string();
        if r["checks"]["nats_permissions"] == "denied"
            && denied.contains("canary: publish to \\\"hub.federation.canary.")
        {
            Ok(r)
        } else {
            Err(format!("no refusal named: {r}"))
        }
    })
    .await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(
        ready["checks"]["nats"], "ok",
        "the link itself is up: {ready}"
    );
    let metrics = app.metrics().await;
    assert_eq!(
        metric_value(
            &metrics,
            r#"federation_nats_permission_denied{use="canary"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        metric_value(
            &metrics,
            r#"federation_nats_permission_violations_total{use="canary"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert_eq!(
        metric_value(
            &metrics,
            r#"federation_nats_permission_denied{use="presence"}"#
        ),
        Some(0.0),
        "{metrics}"
    );

    // Heartbeats are heard (subscribing is allowed), so the project comes online...
    beat_until(&app, &nats, "quiet", || heartbeat("quiet"), "online").await;
    // ...and when it falls silent it goes offline: the guard follows the link, which is
    // up, instead of holding for ever for canaries that cannot come back.
    app.wait_for_status("quiet", "offline", OFFLINE_AFTER * 4)
        .await;
    let r = app.ready().await;
    assert_ne!(r["checks"]["partition_guard"], "canary_lost", "{r}");
    assert_ne!(r["checks"]["partition_guard"], "link_down", "{r}");
    app.stop().await;
}
