//! (b) REST reads and (c) writes, with wrk, on the instance (a) filled. Reads and writes
//! run at 32 connections ([`READS`], [`WRITES`]: as the Python original was measured);
//! POST also on [`ONE`] connection (a write's own latency), DELETE for [`DELETES`]' half
//! time (it removes what the 32-connection POST made).

use std::path::Path;

use super::report::Report;
use super::service::Service;
use super::wrk::{self, Wrk, DELETES, ONE, READS, WRITES};

/// GET by slug: at least this many requests per second…
const GET_MIN_RPS: f64 = 30_000.0;
/// …with p99 at most this (ms).
const GET_MAX_P99_MS: f64 = 5.0;
/// The list of 100: p99 at most this (ms).
const LIST_MAX_P99_MS: f64 = 10.0;
/// POST of new slugs at 32 connections: at least this many per second…
const POST_MIN_RPS: f64 = 2_000.0;
/// …with p99 at most this (ms).
const POST_MAX_P99_MS: f64 = 50.0;
/// POST on one connection: p50 at most this (ms).
const POST_ONE_MAX_P50_MS: f64 = 2.0;

/// The `/health` ceiling, then `phases`: `b` for the reads, `c` for the writes.
pub(super) fn rest(
    out: &Path,
    service: &Service,
    phases: &str,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("bench: (b) ceiling: GET /health");
    let health = wrk::run(
        out,
        "health",
        READS,
        &format!("{}/health", service.url()),
        None,
    )?;
    report.row(
        &format!(
            "(b) ceiling: GET /health, a constant answer through the same HTTP stack ({})",
            READS.describe()
        ),
        health.summary(),
        "",
        None,
    );
    if phases.contains('b') {
        reads(out, service, report)?;
    }
    if phases.contains('c') {
        writes(out, service, report)?;
    }
    Ok(())
}

fn reads(out: &Path, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: (b) GET by slug");
    let get = wrk::run(
        out,
        "get",
        READS,
        &format!("{}/", service.url()),
        Some("get.lua"),
    )?;
    report.row(
        &format!(
            "(b) GET /api/fed/projects/{{slug}}, 10,000 projects ({}): req/s, p50, p99",
            READS.describe()
        ),
        get.summary(),
        "≥ 30,000 req/s, p99 ≤ 5 ms",
        Some(get.rps >= GET_MIN_RPS && get.p99_ms <= GET_MAX_P99_MS && get.non_2xx == 0),
    );
    eprintln!("bench: (b) list");
    let list = wrk::run(
        out,
        "list-100",
        READS,
        &format!("{}/api/fed/projects?status=online&limit=100", service.url()),
        None,
    )?;
    report.row(
        &format!(
            "(b) GET /api/fed/projects?status=online&limit=100 ({}): req/s, p50, p99",
            READS.describe()
        ),
        list.summary(),
        "p99 ≤ 10 ms",
        Some(list.p99_ms <= LIST_MAX_P99_MS && list.non_2xx == 0),
    );
    Ok(())
}

/// No errors: wrk's socket errors and non-2xx answers.
fn clean(w: &Wrk) -> bool {
    w.non_2xx == 0 && w.errors.is_empty()
}

fn writes(out: &Path, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    let root = format!("{}/", service.url());
    eprintln!("bench: (c) POST");
    let post = wrk::run(out, "post", WRITES, &root, Some("post.lua"))?;
    report.row(
        &format!(
            "(c) POST /api/fed/projects, new slugs ({}): req/s, p50, p99",
            WRITES.describe()
        ),
        post.summary(),
        "≥ 2,000 req/s, p99 ≤ 50 ms, 0 errors",
        Some(post.rps >= POST_MIN_RPS && post.p99_ms <= POST_MAX_P99_MS && clean(&post)),
    );
    eprintln!("bench: (c) POST on one connection");
    let one = wrk::run(out, "post-one", ONE, &root, Some("post-one.lua"))?;
    report.row(
        &format!(
            "(c) POST /api/fed/projects, new slugs, one at a time ({}): req/s, p50, p99",
            ONE.describe()
        ),
        one.summary(),
        "p50 ≤ 2 ms, 0 errors",
        Some(one.p50_ms <= POST_ONE_MAX_P50_MS && clean(&one)),
    );
    eprintln!("bench: (c) PATCH");
    let patch = wrk::run(out, "patch", WRITES, &root, Some("patch.lua"))?;
    report.row(
        &format!(
            "(c) PATCH /api/fed/projects/{{slug}}, name and tags of one of 10,000 ({}): req/s, p50, p99",
            WRITES.describe()
        ),
        patch.summary(),
        "0 errors",
        Some(clean(&patch)),
    );
    eprintln!("bench: (c) DELETE");
    let delete = wrk::run(out, "delete", DELETES, &root, Some("delete.lua"))?;
    report.row(
        &format!(
            "(c) DELETE /api/fed/projects/{{slug}}, the projects the POST row made ({}): req/s, p50, p99",
            DELETES.describe()
        ),
        delete.summary(),
        "0 errors",
        Some(clean(&delete)),
    );
    Ok(())
}
