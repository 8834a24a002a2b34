//! (h) uptime reports over 90 days of daily rollups: one project's (target ≤ 10 ms) and
//! the whole fleet's (target ≤ 2 s, read from the fleet's group rollups), on a fleet
//! seeded straight into PostgreSQL (the projects, 90 rolled-up days each, the fleet's
//! 90 group days, one history row each, one heard span).

use std::time::Instant;

use super::report::{thousands, Report};
use super::service::Service;

/// One project's 90-day report: p99 at most this (ms).
const PROJECT_MAX_P99_MS: f64 = 10.0;
/// The fleet's 90-day report: at most this (s).
const FLEET_MAX_S: f64 = 2.0;
/// Requests timed for one project's report.
const PROJECT_REQUESTS: usize = 200;
/// Requests made before the timing (the pool's connections opened, statements
/// prepared), each for another project.
const WARM_UP: usize = 10;

/// The SQL that seeds `projects` projects with 90 rolled-up days (a minute offline a
/// day), after the service migrated the database. The leader has rolled up the last
/// days of the empty fleet by then (`uptime_rolled_days`, the fleet's group rows): the
/// seed replaces them, in the one transaction psql runs a multi-statement command in.
pub(super) fn seed_sql(projects: usize) -> String {
    format!(
        "DELETE FROM uptime_group_edges; DELETE FROM uptime_group_daily; \
         DELETE FROM uptime_daily; DELETE FROM uptime_rolled_days; \
         INSERT INTO projects (slug, name, hub_url, mesh_namespace, status, last_heartbeat_at) \
         SELECT 'p' || lpad(i::text, 6, '0'), 'Project ' || i, 'http://p' || i || '.example.com', \
                'hub.p' || lpad(i::text, 6, '0'), 'online', now() \
         FROM generate_series(1, {projects}) i; \
         INSERT INTO status_transitions (slug, from_status, to_status, reason, at) \
         SELECT 'p' || lpad(i::text, 6, '0'), 'offline', 'online', 'heartbeat', now() - interval '100 days' \
         FROM generate_series(1, {projects}) i; \
         INSERT INTO uptime_daily \
         SELECT d::date, 'p' || lpad(i::text, 6, '0'), 86340000000, 0, 60000000, 0, 0, 1, 60000000, 0, 0 \
         FROM generate_series(1, {projects}) i, \
              generate_series(current_date - 91, current_date - 1, interval '1 day') d; \
         INSERT INTO uptime_group_daily \
         SELECT d::date, 'fleet', {projects}, 86340000000::bigint * {projects}, 0, \
                60000000::bigint * {projects}, 0, 0, {projects}, 60000000 \
         FROM generate_series(current_date - 91, current_date - 1, interval '1 day') d; \
         INSERT INTO uptime_rolled_days \
         SELECT d::date, now(), true FROM generate_series(current_date - 91, current_date - 1, interval '1 day') d; \
         INSERT INTO uptime_heard VALUES (now() - interval '92 days', now());"
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

/// Times the reports on `service` (already seeded with `projects` projects).
pub(super) fn uptime(
    service: &Service,
    projects: usize,
    report: &mut Report,
) -> anyhow::Result<()> {
    for i in 0..WARM_UP {
        let (status, body) = service.get(&format!(
            "/api/fed/projects/p{:06}/uptime?window=90d",
            i + 2
        ))?;
        anyhow::ensure!(status == 200, "project report: {status} {body:.200}");
    }
    let mut times = Vec::with_capacity(PROJECT_REQUESTS);
    for _ in 0..PROJECT_REQUESTS {
        let started = Instant::now();
        let (status, body) = service.get("/api/fed/projects/p000001/uptime?window=90d")?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status == 200, "project report: {status} {body:.200}");
    }
    times.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    report.row(
        "(h) GET /api/fed/projects/{slug}/uptime?window=90d (90 rolled-up days): p50, p99",
        format!("{p50:.2} ms, {p99:.2} ms"),
        "p99 ≤ 10 ms",
        Some(p99 <= PROJECT_MAX_P99_MS),
    );

    let started = Instant::now();
    let (status, body) = service.get("/api/fed/uptime?window=90d")?;
    let fleet = started.elapsed().as_secs_f64();
    anyhow::ensure!(status == 200, "fleet report: {status} {body:.200}");
    report.row(
        &format!(
            "(h) GET /api/fed/uptime?window=90d, {} projects × 90 rolled-up days (group rollups)",
            thousands(projects as f64)
        ),
        format!("{fleet:.2} s ({} bytes)", thousands(body.len() as f64)),
        "≤ 2 s",
        Some(fleet <= FLEET_MAX_S),
    );
    Ok(())
}
