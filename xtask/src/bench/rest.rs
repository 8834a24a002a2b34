//! (b) REST reads and (c) POST, with wrk, on the instance (a) filled. The reads run at
//! [`READS`] (32 connections, as the Python original was measured), the POST at
//! [`WRITES`]. Each read row stands beside the `/health` ceiling of the same run.

use std::path::Path;

use anyhow::bail;

use super::http::KeepAlive;
use super::report::Report;
use super::service::Service;
use super::wrk::{self, Wrk, READS, WRITES};

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
    let share = if health.rps > 0.0 {
        get.rps / health.rps
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
