//! (b) REST reads and (c) POST, with wrk, on the instance (a) filled.

use std::path::Path;

use super::report::Report;
use super::service::Service;
use super::wrk::{self, CONNECTIONS, SECONDS};

pub(super) fn rest(out: &Path, service: &Service, report: &mut Report) -> anyhow::Result<()> {
    eprintln!("bench: (b) GET by slug");
    let get = wrk::run(out, &format!("{}/", service.url()), Some("get.lua"))?;
    report.row(
        &format!("(b) GET /api/fed/projects/{{slug}}, 10,000 projects (wrk, {CONNECTIONS} connections, {SECONDS} s): req/s, p50, p99"),
        get.summary(),
        "p99 ≤ 5 ms",
        Some(get.p99_ms <= 5.0 && get.non_2xx == 0),
    );
    eprintln!("bench: (b) list");
    let list = wrk::run(
        out,
        &format!("{}/api/fed/projects?status=online&limit=100", service.url()),
        None,
    )?;
    report.row(
        &format!("(b) GET /api/fed/projects?status=online&limit=100 (wrk, {CONNECTIONS} connections): req/s, p50, p99"),
        list.summary(),
        "p99 ≤ 10 ms",
        Some(list.p99_ms <= 10.0 && list.non_2xx == 0),
    );
    eprintln!("bench: (c) POST");
    let post = wrk::run(out, &format!("{}/", service.url()), Some("post.lua"))?;
    report.row(
        &format!("(c) POST /api/fed/projects, new slugs (wrk, {CONNECTIONS} connections): req/s, p50, p99"),
        post.summary(),
        "",
        if post.non_2xx == 0 { None } else { Some(false) },
    );
    Ok(())
}
