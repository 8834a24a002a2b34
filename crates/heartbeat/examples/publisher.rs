//! A project's heartbeat, as an embedding project would run it.
//!
//! ```text
//! cargo run -p federation-heartbeat --example publisher -- [NATS_URL] [SLUG] [HUB_URL]
//! ```
//!
//! Beats every 5 s (±10 %) on `hub.presence.<slug>`, reports itself degraded after
//! 12 s and online again after 24 s, and stops cleanly on Ctrl-C.

use std::time::Duration;

use federation_heartbeat::{connect_nats, HeartbeatConfig, NatsAuth, Publisher};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let slug = args.next().unwrap_or_else(|| "example-project".into());
    let hub_url = args
        .next()
        .unwrap_or_else(|| "http://localhost:8000".into());

    let config = HeartbeatConfig::new(&slug, &hub_url)?
        .version("1.0.0")
        .interval(Duration::from_secs(5));
    let subject = config.subject();
    let client = connect_nats(&url, &NatsAuth::default()).await?;
    let publisher = Publisher::nats(config, client);
    println!("beating on {subject} via {url}; Ctrl-C stops");

    let script = async {
        tokio::time::sleep(Duration::from_secs(12)).await;
        println!("switching to degraded");
        publisher.set_degraded(["example: cache cold"]);
        tokio::time::sleep(Duration::from_secs(12)).await;
        println!("back to online");
        publisher.set_online();
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = script => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let stats = publisher.stop().await;
    println!(
        "stopped: {} sent, {} failed, {} skipped while NATS was down",
        stats.sent, stats.failed, stats.skipped
    );
    Ok(())
}
