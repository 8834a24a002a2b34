//! Uptime as the status page (and the badges) show it: a percentage, and a bar of one
//! cell per UTC day.

use std::fmt::Write as _;

use federation_domain::uptime::{DayFigures, DegradedCounts, Figures};

use crate::markup::escape;

/// The days a bar covers (and the window of the page's figures).
pub const BAR_WINDOW: &str = "90d";

/// A percentage as shown: two decimals, rounded down (99.999 % is not 100 %).
pub fn percent(p: f64) -> String {
    if p >= 100.0 {
        return "100%".to_owned();
    }
    format!("{:.2}%", (p.max(0.0) * 100.0).floor() / 100.0)
}

/// The class of a day (or window) by its uptime: `d-full` (at least 99.9 %), `d-high`
/// (99 %), `d-mid` (95 %), `d-low` (below), `d-none` (no time counted: unknown or
/// maintenance throughout).
pub fn class(p: Option<f64>) -> &'static str {
    match p {
        None => "d-none",
        Some(p) if p >= 99.9 => "d-full",
        Some(p) if p >= 99.0 => "d-high",
        Some(p) if p >= 95.0 => "d-mid",
        Some(_) => "d-low",
    }
}

/// `99.95%`, or `no data` when no time counted.
pub fn figure_text(f: &Figures, degraded: DegradedCounts) -> String {
    f.uptime_percent(degraded)
        .map_or_else(|| "no data".to_owned(), percent)
}

/// The bar: one cell per day, oldest first, each titled with its date, uptime and
/// outages (readable without JavaScript: the title is the browser's tooltip).
pub fn bar(days: &[DayFigures], overall: &Figures, degraded: DegradedCounts) -> String {
    let mut out = format!(
        "<div class=\"bar\" role=\"img\" aria-label=\"Uptime over 90 days: {}\">",
        escape(&figure_text(overall, degraded))
    );
    for d in days {
        let p = d.figures.uptime_percent(degraded);
        let mut title = format!("{}: {}", d.day, figure_text(&d.figures, degraded));
        if d.figures.outages > 0 {
            let _ = write!(
                title,
                ", {} outage{}",
                d.figures.outages,
                if d.figures.outages == 1 { "" } else { "s" }
            );
        }
        let _ = write!(
            out,
            "<span class=\"day {}\" title=\"{}\"></span>",
            class(p),
            escape(&title)
        );
    }
    out.push_str("</div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_down_and_classes_follow_thresholds() {
        assert_eq!(percent(100.0), "100%");
        assert_eq!(percent(99.999), "99.99%");
        assert_eq!(percent(95.5), "95.50%");
        assert_eq!(percent(0.0), "0.00%");
        assert_eq!(class(None), "d-none");
        assert_eq!(class(Some(99.95)), "d-full");
        assert_eq!(class(Some(99.5)), "d-high");
        assert_eq!(class(Some(96.0)), "d-mid");
        assert_eq!(class(Some(50.0)), "d-low");
    }
}
