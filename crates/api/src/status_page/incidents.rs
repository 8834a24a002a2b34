//! Open incidents on the status page: only their members the page shows, by name.

use std::fmt::Write as _;

use federation_domain::incident::Incident;

use super::Section;
use crate::markup::escape;

/// Open incidents read for the page at most.
pub(super) const OPEN_INCIDENTS_MAX: u32 = 10;

/// The "open incidents" block; empty when no open incident has a member on the page.
pub(super) fn render(incidents: &[Incident], sections: &[Section<'_>]) -> String {
    let mut items = String::new();
    for incident in incidents {
        let names: Vec<String> = incident
            .members
            .iter()
            .filter(|m| m.back_at.is_none())
            .filter_map(|m| {
                sections
                    .iter()
                    .flat_map(|s| s.projects.iter())
                    .find(|p| p.slug.as_str() == m.slug)
                    .map(|p| escape(p.name.as_str()))
            })
            .collect();
        if names.is_empty() {
            continue;
        }
        let _ = writeln!(
            items,
            "<li class=\"incident\" data-incident=\"{id}\">Since {since}: {n} down \
             together: {names}</li>",
            id = incident.id,
            since = incident.started_at.format("%Y-%m-%d %H:%M UTC"),
            n = names.len(),
            names = names.join(", ")
        );
    }
    if items.is_empty() {
        return String::new();
    }
    format!(
        "<section id=\"incidents\" class=\"incidents\">\n<h2>Open incidents</h2>\n\
         <ul>\n{items}</ul>\n</section>\n"
    )
}
