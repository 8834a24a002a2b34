//! `[status_page]`: the public status page and which badges are public (off by default).

use federation_api::status_page::STATUS_PAGE_TITLE_DEFAULT;
use federation_api::StatusPage;
use federation_domain::{Slug, Tag};
use serde::Deserialize;

use super::values::{invalid, parse_bool};

/// Longest title, in characters.
pub const STATUS_PAGE_TITLE_MAX: usize = 100;

#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct RawStatusPage {
    #[serde(default)]
    enabled: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    projects: String,
    #[serde(default)]
    show_urls: String,
}

/// The entries of a comma-separated list, trimmed, blanks dropped.
fn entries(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty())
}

pub(super) fn status_page(raw: &RawStatusPage) -> anyhow::Result<StatusPage> {
    let title = raw.title.trim();
    if title.chars().count() > STATUS_PAGE_TITLE_MAX || title.chars().any(char::is_control) {
        return Err(invalid(
            "status_page.title",
            &format!("must be at most {STATUS_PAGE_TITLE_MAX} characters of printable text"),
        ));
    }
    let tags = entries(&raw.tags)
        .map(|t| {
            Tag::parse(t).map_err(|e| invalid("status_page.tags", &format!("{t:?}: {}", e.message)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let projects = entries(&raw.projects)
        .map(|s| {
            Slug::parse(s)
                .map_err(|e| invalid("status_page.projects", &format!("{s:?}: {}", e.message)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(StatusPage {
        enabled: parse_bool(&raw.enabled, "status_page.enabled")?,
        title: if title.is_empty() {
            STATUS_PAGE_TITLE_DEFAULT.to_owned()
        } else {
            title.to_owned()
        },
        tags,
        projects,
        show_urls: parse_bool(&raw.show_urls, "status_page.show_urls")?,
        renders: federation_api::status_page::Renders::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(enabled: &str, tags: &str, projects: &str) -> RawStatusPage {
        RawStatusPage {
            enabled: enabled.into(),
            tags: tags.into(),
            projects: projects.into(),
            ..RawStatusPage::default()
        }
    }

    #[test]
    fn off_and_untitled_by_default() {
        let page = status_page(&RawStatusPage::default()).unwrap();
        assert_eq!(page, StatusPage::default());
    }

    #[test]
    fn lists_are_comma_separated_and_validated() {
        let page = status_page(&raw("true", " public , Edge,,", "Web, db")).unwrap();
        assert!(page.enabled);
        assert_eq!(page.tags.len(), 2);
        assert_eq!(page.projects[0].as_str(), "web");
        let e = status_page(&raw("true", "", "not a slug")).unwrap_err();
        assert!(
            e.to_string().contains("FEDERATION_STATUS_PAGE_PROJECTS"),
            "{e}"
        );
        let e = status_page(&raw("maybe", "", "")).unwrap_err();
        assert!(e.to_string().contains("FEDERATION_STATUS_PAGE "), "{e}");
    }
}
