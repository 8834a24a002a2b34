//! Flapping and the history's retention (issue 14, item 4): the flip flood.

use std::time::Duration;

use crate::helpers::{project, Backend, TestConfig};

/// The SQLite file and its write-ahead log, in bytes.
fn store_bytes(dir: &std::path::Path) -> (u64, u64) {
    let size = |f: &str| {
        std::fs::metadata(dir.join("data").join(f))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    (size("federation.db"), size("federation.db-wal"))
}

/// SQLite checkpoints its write-ahead log at 1,000 pages (4 KiB each) and then reuses the
/// file from its start: the log's file stays about this size whatever is written (plus
/// the transaction that crosses the mark).
const WAL_CEILING_KB: u64 = 1000 * 4 + 1024;

/// 40,000 heartbeats alternating degraded (16 reasons of 200 characters) and online,
/// within about five seconds. Each used to be a stored transition and a change-log row
/// (SQLite +100 MB); now a project records at most one transition per tick or early
/// round (one per 40 ms at most), and the
/// store grows by a few MB at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flip_flood_grows_the_store_by_a_few_mb_at_most() {
    const BEATS: usize = 40_000;
    let config = TestConfig::new(Backend::sqlite);
    let app = config.start().await;
    assert_eq!(app.register(&project("flapper")).await.status(), 201);
    let online = br#"{"project_slug":"flapper"}"#.to_vec();
    let reasons: Vec<String> = (0..16)
        .map(|i| format!("{i:02}{}", "r".repeat(198)))
        .collect();
    let degraded = serde_json::to_vec(&serde_json::json!({
        "project_slug": "flapper",
        "status": "degraded",
        "reasons": reasons,
    }))
    .unwrap();
    // Settle, then measure.
    app.federation.record_heartbeat("flapper", &online).unwrap();
    app.wait_for_status("flapper", "online", Duration::from_secs(10))
        .await;
    let before = store_bytes(config.dir.path());

    let started = std::time::Instant::now();
    // Chunks of an odd size, so that ticks fall on either status.
    for n in 0..BEATS {
        let body = if n.is_multiple_of(2) {
            &degraded
        } else {
            &online
        };
        app.federation.record_heartbeat("flapper", body).unwrap();
        if n % 1001 == 1000 {
            tokio::time::sleep(Duration::from_millis(125)).await;
        }
    }
    let flood = started.elapsed();
    // Two more ticks: everything is flushed.
    crate::ticks::wait_ticks(&app, 2, Duration::from_secs(30)).await;
    let after = store_bytes(config.dir.path());
    let history = app
        .federation
        .history("flapper", 100_000)
        .await
        .unwrap()
        .len();
    let grown_kb = after.0.saturating_sub(before.0) / 1024;
    let wal_kb = after.1 / 1024;
    eprintln!(
        "{BEATS} flips in {flood:?}: database {} -> {} bytes (+{grown_kb} KiB), \
         write-ahead log {wal_kb} KiB, {history} transitions in the history",
        before.0, after.0
    );
    // At most one per tick (1 s) or early round of the flood, and the first online.
    let gap = federation_server::app::EAGER_GAP;
    let ticks = usize::try_from(flood.as_millis() / gap.as_millis()).unwrap()
        + usize::try_from(flood.as_secs()).unwrap()
        + 4;
    assert!(history <= ticks + 1, "{history} transitions");
    assert!(grown_kb < 3 * 1024, "the database grew {grown_kb} KiB");
    assert!(
        wal_kb <= WAL_CEILING_KB,
        "the write-ahead log is {wal_kb} KiB"
    );
    app.stop().await;
}
