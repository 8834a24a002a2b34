//! How long a 90-day fleet report takes over many projects on PostgreSQL: from each
//! project's rollups (projects × days rows) and from the group rollups (one row per
//! day). A measurement, not a check: run it by hand,
//! `FLEET_PROJECTS=10000 cargo test -p federation-store --test uptime_scale -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use federation_domain::uptime::{DegradedCounts, Scope, Uptime, Window};
use federation_domain::Slug;
use federation_store::{DatabaseUrl, Store, StoreOptions};

/// Above this many projects the per-project rollups are not seeded (nor read: that
/// takes minutes in debug).
const COMPARED_UP_TO: usize = 20_000;

/// The seed: `n` projects with one history row each, 90 rolled-up days of a minute
/// offline a day per project (up to [`COMPARED_UP_TO`] projects), and the fleet's group
/// rollups of those days.
fn seed_sql(n: usize) -> String {
    let daily = if n <= COMPARED_UP_TO {
        format!(
            "INSERT INTO uptime_daily \
             SELECT d::date, 'p' || lpad(i::text, 6, '0'), 86340000000, 0, 60000000, 0, 0, 1, 60000000, 0, 0 \
             FROM generate_series(1, {n}) i, \
                  generate_series(current_date - 91, current_date - 1, interval '1 day') d;"
        )
    } else {
        String::new()
    };
    format!(
        "INSERT INTO status_transitions (slug, from_status, to_status, reason, at) \
         SELECT 'p' || lpad(i::text, 6, '0'), 'offline', 'online', 'heartbeat', now() - interval '100 days' \
         FROM generate_series(1, {n}) i; {daily} \
         INSERT INTO uptime_group_daily \
         SELECT d::date, 'fleet', {n}, 86340000000 * {n}, 0, 60000000::bigint * {n}, 0, 0, {n}, 60000000 \
         FROM generate_series(current_date - 91, current_date - 1, interval '1 day') d; \
         INSERT INTO uptime_rolled_days \
         SELECT d::date, now(), true FROM generate_series(current_date - 91, current_date - 1, interval '1 day') d; \
         INSERT INTO uptime_heard VALUES (now() - interval '92 days', now());"
    )
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement over a large seed: run by hand"]
async fn fleet_report_over_many_projects() {
    let n: usize = std::env::var("FLEET_PROJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let db = tokio::task::spawn_blocking(federation_testkit::postgres_database)
        .await
        .unwrap()
        .expect("test PostgreSQL");
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let opts = StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(10),
        pool_timeout: Duration::from_secs(10),
        ..StoreOptions::default()
    };
    let store = Store::connect(&url, opts).await.expect("connect");
    store.run_migrations().await.expect("migrate");
    let seeded = std::process::Command::new("psql")
        .args([
            db.url.as_str(),
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &seed_sql(n),
        ])
        .status()
        .expect("psql");
    assert!(seeded.success());
    let slugs: Vec<Slug> = (1..=n)
        .map(|i| Slug::parse(&format!("p{i:06}")).unwrap())
        .collect();
    let store = Arc::new(store);
    {
        use federation_domain::uptime::UptimeSource;
        let now = chrono::Utc::now();
        let started = Instant::now();
        let rows = store
            .history_between(None, now - chrono::TimeDelta::hours(1), now)
            .await
            .unwrap();
        println!(
            "raw rows of every project for an hour: {} in {:?}",
            rows.len(),
            started.elapsed()
        );
    }
    let uptime = Uptime::new(store, DegradedCounts::Up);
    let now = chrono::Utc::now();
    let window = Window {
        from: now - chrono::TimeDelta::days(90),
        to: now,
    };

    let started = Instant::now();
    let fast = uptime
        .scope_report(&Scope::Fleet, &slugs, window)
        .await
        .unwrap();
    let group_rollups = started.elapsed();
    let started = Instant::now();
    let slow = if n <= COMPARED_UP_TO {
        Some(uptime.group(&slugs, true, window).await.unwrap().0)
    } else {
        None
    };
    let project_rollups = started.elapsed();
    let started = Instant::now();
    let one = uptime.project(&slugs[0], window).await.unwrap();
    let project = started.elapsed();
    println!(
        "{n} projects, 90 days: fleet from group rollups {group_rollups:?}, \
         from project rollups {project_rollups:?} (not seeded above {COMPARED_UP_TO}); \
         one project {project:?}"
    );
    if let Some(slow) = slow {
        assert_eq!(fast.figures, slow.figures);
    }
    assert_eq!(one.days.len(), 91);
}
