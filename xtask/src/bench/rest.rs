//! (b) REST reads and (c) writes, with wrk, on the instance (a) filled. Reads and writes
//! run at 32 connections ([`READS`], [`WRITES`]: as the Python original was measured);
//! POST also on [`ONE`] connection (a write's own latency), DELETE for [`DELETES`]' half
//! time (it removes what the 32-connection POST made). Each row stands beside the
//! `/health` ceiling of the same run.

use std::path::Path;

use anyhow::bail;

use super::http::KeepAlive;
use super::report::Report;
use super::service::Service;
use super::wrk::{self, Wrk, DELETES, ONE, READS, WRITES};

/// GET by slug: at least this share of the `/health` ceiling…
const GET_MIN_SHARE: f64 = 0.60;
/// …with p99 at most this (ms).
const GET_MAX_P99_MS: f64 = 5.0;
/// A page of 100: p99 at most this (ms).
const PAGE_MAX_P99_MS: f64 = 5.0;
/// The whole list of [`WHOLE`] projects: at least this many requests per second.
const WHOLE_MIN_RPS: f64 = 2_000.0;
/// The projects of the whole-list rows: the size of the original's measured catalog.
const WHOLE: usize = 1_001;
/// The tag those projects carry (and the list selects).
const WHOLE_TAG: &str = "bench-list";
/// POST of new slugs at 32 connections: at least this many per second…
const POST_MIN_RPS: f64 = 2_000.0;
/// …with p99 at most this (ms).
const POST_MAX_P99_MS: f64 = 50.0;
/// POST on one connection: p50 at most this (ms).
const POST_ONE_MAX_P50_MS: f64 = 2.0;

/// Registers [`WHOLE`] projects tagged [`WHOLE_TAG`], in bulks of at most 1,000.
fn register_whole(service: &Service) -> anyhow::Result<()> {
    let mut http = KeepAlive::new(service.port());
    let entries: Vec<String> = (0..WHOLE)
        .map(|i| {
            format!(
                r#"{{"slug":"list-{i:04}","name":"Listed project {i}","hub_url":"http://list-{i:04}.example.com:8000","tags":["{WHOLE_TAG}","python"],"metadata":{{"team":"platform"}}}}"#
            )
        })
        .collect();
    for bulk in entries.chunks(1000) {
        let body = format!(r#"{{"projects":[{}]}}"#, bulk.join(","));
        let (status, answer) = http.post_json("/api/fed/projects:bulk", &body)?;
        if status != 200 {
            bail!("POST /api/fed/projects:bulk answered {status}: {answer:.200}");
        }
    }
    Ok(())
}

fn read_row(report: &mut Report, what: &str, w: &Wrk, target: &str, met: bool) {
    report.row(
        &format!("(b) {what} ({}): req/s, p50, p99", READS.describe()),
        w.summary(),
        target,
        Some(met && w.non_2xx == 0 && w.errors.is_empty()),
    );
}

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
        reads(out, service, health.rps, report)?;
    }
    if phases.contains('c') {
        writes(out, service, report)?;
    }
    Ok(())
}

fn reads(out: &Path, service: &Service, ceiling: f64, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: (b) GET by slug");
    let get = wrk::run(
        out,
        "get",
        READS,
        &format!("{}/", service.url()),
        Some("get.lua"),
    )?;
    let share = if ceiling > 0.0 {
        get.rps / ceiling
    } else {
        0.0
    };
    read_row(
        report,
        &format!(
            "GET /api/fed/projects/{{slug}}, 10,000 projects, {:.0} % of /health",
            share * 100.0
        ),
        &get,
        "≥ 60 % of /health, p99 ≤ 5 ms",
        share >= GET_MIN_SHARE && get.p99_ms <= GET_MAX_P99_MS,
    );
    eprintln!("bench: (b) pages of 100");
    for (name, query) in [
        ("page-100", "limit=100&offset=5000"),
        ("list-100", "status=online&limit=100"),
    ] {
        let page = wrk::run(
            out,
            name,
            READS,
            &format!("{}/api/fed/projects?{query}", service.url()),
            None,
        )?;
        read_row(
            report,
            &format!("GET /api/fed/projects?{query}"),
            &page,
            "p99 ≤ 5 ms",
            page.p99_ms <= PAGE_MAX_P99_MS,
        );
    }
    eprintln!("bench: (b) the whole list of {WHOLE}");
    register_whole(service)?;
    let url = format!("{}/api/fed/projects?tag={WHOLE_TAG}", service.url());
    for (name, headers, how) in [
        ("whole-1001", &[][..], "JSON"),
        ("whole-1001-gzip", &["Accept-Encoding: gzip"][..], "gzip"),
    ] {
        let whole = wrk::run_with(out, name, READS, &url, None, headers)?;
        read_row(
            report,
            &format!("the whole list of {WHOLE} (`?tag={WHOLE_TAG}`, no limit), {how}"),
            &whole,
            "≥ 2,000 req/s",
            whole.rps >= WHOLE_MIN_RPS,
        );
    }
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
