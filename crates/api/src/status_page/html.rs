//! The status page's HTML: no script, no inline style (the dashboard's content security
//! policy holds), every text escaped.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use federation_domain::uptime::{roll_up, ProjectUptime};

use super::bars::{bar, percent};
use super::{Section, Shown, StatusPage, Uptimes};
use crate::markup::escape;

/// The uptime line of a project or tag: `99.95% uptime` and the bar.
fn uptime_html(reports: &[ProjectUptime], uptime: &Uptimes) -> String {
    let rolled = roll_up(reports);
    let text = match rolled.figures.uptime_percent(uptime.degraded) {
        Some(p) => format!("{} uptime", percent(p)),
        // Only maintenance or unobserved time in the window: nothing to say.
        None => "uptime unknown".to_owned(),
    };
    format!(
        "<span class=\"pct\">{text}</span>{}",
        bar(&rolled.days, &rolled.figures, uptime.degraded)
    )
}

/// The whole page; `uptime` absent when the store could not say.
pub(super) fn render(
    page: &StatusPage,
    sections: &[Section<'_>],
    left_out: usize,
    uptime: Option<&Uptimes>,
    incidents: &[federation_domain::incident::Incident],
    now: DateTime<Utc>,
) -> String {
    let title = escape(&page.title);
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"refresh\" content=\"60\">\n<title>{title}</title>\n\
         <link rel=\"stylesheet\" href=\"/assets/status.css\">\n</head>\n<body>\n\
         <header class=\"top\"><h1>{title}</h1></header>\n<main>\n"
    );
    let worst = sections
        .iter()
        .flat_map(|s| s.projects.iter())
        .map(|p| Shown::of(p, now))
        .max();
    let (class, summary) = match worst {
        None => ("none", "No projects to show"),
        Some(Shown::Operational) => ("online", "All systems operational"),
        Some(Shown::Maintenance) => ("maintenance", "Maintenance in progress"),
        Some(Shown::Degraded) => ("degraded", "Some systems are degraded"),
        Some(Shown::Down) => ("offline", "Some systems are down"),
    };
    let _ = writeln!(
        out,
        "<p id=\"overall\" class=\"overall {class}\" data-status=\"{class}\">{summary}</p>"
    );
    out.push_str(&super::incidents::render(incidents, sections));
    for section in sections {
        out.push_str("<section class=\"group\">\n");
        if let Some(heading) = &section.heading {
            let _ = writeln!(out, "<h2>{}</h2>", escape(heading));
            if let Some(uptime) = uptime {
                let reports: Vec<ProjectUptime> = section
                    .projects
                    .iter()
                    .filter_map(|p| uptime.by_slug.get(&p.slug).cloned())
                    .collect();
                let _ = writeln!(
                    out,
                    "<div class=\"group-uptime\">{}</div>",
                    uptime_html(&reports, uptime)
                );
            }
        }
        out.push_str("<ul class=\"projects\">\n");
        for p in &section.projects {
            let shown = Shown::of(p, now);
            let _ = write!(
                out,
                "<li class=\"project\" data-slug=\"{slug}\" data-status=\"{key}\">\
                 <span class=\"name\">{name}</span>",
                slug = escape(p.slug.as_str()),
                key = shown.key(),
                name = escape(p.name.as_str()),
            );
            if page.show_urls {
                let url = escape(p.hub_url.as_str());
                let _ = write!(
                    out,
                    " <a class=\"url\" href=\"{url}\" rel=\"noopener noreferrer nofollow\">{url}</a>"
                );
            }
            let _ = write!(
                out,
                " <span class=\"state {key}\">{word}</span>",
                key = shown.key(),
                word = shown.word()
            );
            if let Some(report) = uptime.and_then(|u| u.by_slug.get(&p.slug).map(|r| (u, r))) {
                let (uptime, report) = report;
                out.push_str(&uptime_html(std::slice::from_ref(report), uptime));
            }
            out.push_str("</li>\n");
        }
        out.push_str("</ul>\n</section>\n");
    }
    if left_out > 0 {
        let _ = writeln!(
            out,
            "<p class=\"left-out\">{left_out} more project{} not listed (the page lists \
             {}).</p>",
            if left_out == 1 { " is" } else { "s are" },
            super::STATUS_PAGE_MAX_PROJECTS
        );
    }
    out.push_str("</main>\n<footer>");
    if uptime.is_some() {
        out.push_str(
            "<p>Bars: the last 90 days, one per UTC day, oldest first; hover a day for its \
             uptime. Time in maintenance, and time the monitor could not observe, count \
             neither way.</p>",
        );
    } else {
        out.push_str("<p>Uptime is unavailable right now.</p>");
    }
    out.push_str(
        "<p>This page refreshes every minute. <a href=\"/status\">Refresh now</a></p>\
         </footer>\n</body>\n</html>\n",
    );
    out
}
