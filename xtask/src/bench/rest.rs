//! (b) REST reads and (c) POST, with wrk, on the instance (a) filled. The reads run at
//! [`READS`] (32 connections, as the Python original was measured), the POST at
//! [`WRITES`].

use std::path::Path;

use super::report::Report;
use super::service::Service;
use super::wrk::{self, READS, WRITES};

/// GET by slug: at least this many requests per second…
const GET_MIN_RPS: f64 = 30_000.0;
/// …with p99 at most this (ms).
const GET_MAX_P99_MS: f64 = 5.0;
/// The list of 100: p99 at most this (ms).
const LIST_MAX_P99_MS: f64 = 10.0;

pub(super) fn rest(out: &Path, service: &Service, report: &mut Report) -> anyhow::Result<()> {
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
    eprintln!("bench: (c) POST");
    let post = wrk::run(
        out,
        "post",
        WRITES,
        &format!("{}/", service.url()),
        Some("post.lua"),
    )?;
    report.row(
        &format!(
            "(c) POST /api/fed/projects, new slugs ({}): req/s, p50, p99",
            WRITES.describe()
        ),
        post.summary(),
        "",
        if post.non_2xx == 0 { None } else { Some(false) },
    );
    Ok(())
}
