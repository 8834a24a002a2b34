//! The CSV form of the uptime reports (RFC 4180: comma-separated, CRLF, quoted when a
//! field needs it).

use std::fmt::Write as _;

use super::dto::{FiguresDto, GroupUptimeDto, ProjectUptimeDto};

/// The header every uptime CSV starts with.
pub const HEADER: &str = "row,slug,day,online_seconds,degraded_seconds,offline_seconds,\
maintenance_seconds,unknown_seconds,uptime_percent,outages,mttr_seconds,longest_outage_seconds";

fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn number(n: Option<f64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

fn line(out: &mut String, row: &str, slug: &str, day: &str, f: &FiguresDto) {
    let _ = write!(
        out,
        "{row},{},{},{},{},{},{},{},{},{},{},{}\r\n",
        field(slug),
        field(day),
        f.online_seconds,
        f.degraded_seconds,
        f.offline_seconds,
        f.maintenance_seconds,
        f.unknown_seconds,
        number(f.uptime_percent),
        f.outages,
        number(f.mttr_seconds),
        f.longest_outage_seconds,
    );
}

/// A project's report: the window's row (`row` = `window`), then a `day` row per day.
pub fn project(r: &ProjectUptimeDto) -> String {
    let mut out = format!("{HEADER}\r\n");
    line(&mut out, "window", &r.slug, "", &r.figures);
    for d in &r.days {
        line(&mut out, "day", &r.slug, &d.day, &d.figures);
    }
    out
}

/// A roll-up: the window's row, a `day` row per day, a `project` row per project (when
/// asked for).
pub fn group(r: &GroupUptimeDto) -> String {
    let mut out = format!("{HEADER}\r\n");
    line(&mut out, "window", "", "", &r.figures);
    for d in &r.days {
        line(&mut out, "day", "", &d.day, &d.figures);
    }
    for p in r.projects.iter().flatten() {
        line(&mut out, "project", &p.slug, "", &p.figures);
    }
    out
}
