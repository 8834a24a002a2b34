//! The service over TLS to both PostgreSQL and NATS: `sslmode=verify-full` with a CA file
//! against the test kit's TLS-only PostgreSQL, and `tls://` NATS with `NATS_TLS_CA_FILE`
//! against a nats-server with a `tls` block; certificates made in the test.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{eventually, project, Backend, TestConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_postgres_and_tls_nats_carry_a_heartbeat_to_online() {
    let cluster = federation_testkit::shared_tls_cluster().unwrap();
    let pki = cluster.pki().unwrap();
    let name = format!(
        "e2e_tls_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    cluster.create_database(&name).unwrap();
    // The PostgreSQL certificate names `localhost` only: verify-full checks it.
    let database_url = format!(
        "postgres://postgres@localhost:{}/{name}?sslmode=verify-full&sslrootcert={}",
        cluster.port(),
        pki.ca_file.display()
    );
    let nats = federation_testkit::NatsServer::start_with_tls(&pki.loopback).unwrap();
    let nats_url = format!("tls://127.0.0.1:{}", nats.port());

    let mut config =
        TestConfig::with_nats(|_| Backend::Postgres(database_url), &nats_url, "2s", "3s");
    config.set("NATS_TLS_CA_FILE", pki.ca_file.display().to_string());
    let app = config.start().await;
    app.wait_bus_healthy().await;
    app.register(&project("tls-e2e")).await;

    let client = crate::helpers::nats_client(
        &nats_url,
        async_nats::ConnectOptions::new().add_root_certificates(pki.ca_file.clone()),
    )
    .await;
    let beat = json!({
        "project_slug": "tls-e2e",
        "hub_url": "http://tls-e2e.example.com",
        "timestamp": chrono::Utc::now().to_rfc3339(),
    });
    eventually(Duration::from_secs(15), || async {
        client
            .publish(
                "hub.presence.tls-e2e",
                serde_json::to_vec(&beat).unwrap().into(),
            )
            .await
            .unwrap();
        client.flush().await.unwrap();
        match app.status_of("tls-e2e").await {
            s if s == "online" => Ok(()),
            s => Err(format!("tls-e2e still {s}")),
        }
    })
    .await;
    app.stop().await;
}
