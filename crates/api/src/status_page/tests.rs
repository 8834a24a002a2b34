use chrono::TimeZone;
use federation_domain::{HubUrl, Maintenance, MeshNamespace, Origin, ProjectName, Status, Tags};

use super::*;

fn at() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap()
}

fn project(slug: &str, name: &str, status: Status, tags: &[&str]) -> Project {
    let slug = Slug::parse(slug).unwrap();
    Project {
        id: 1,
        mesh_namespace: MeshNamespace::for_slug(&slug),
        name: ProjectName::parse(name).unwrap(),
        hub_url: HubUrl::parse("http://secret-host.internal:8000/x").unwrap(),
        slug,
        status,
        status_reason: None,
        tags: Tags::parse(tags).unwrap(),
        metadata: federation_domain::Metadata::default(),
        version: None,
        last_heartbeat_at: None,
        clock_skew_seconds: None,
        heartbeat_interval: None,
        maintenance: None,
        flapping_since: None,
        origin: Origin::Api,
        heartbeat_key: None,
        created_at: at(),
        updated_at: at(),
    }
}

fn fleet() -> Vec<Project> {
    vec![
        project("db", "Database", Status::Online, &["core"]),
        project("api", "API <v2>", Status::Degraded, &["Core", "edge"]),
        project("cdn", "CDN", Status::Offline, &["edge"]),
        project("lab", "Lab", Status::Offline, &[]),
    ]
}

fn names(sections: &[Section<'_>]) -> Vec<(Option<String>, Vec<String>)> {
    sections
        .iter()
        .map(|s| {
            (
                s.heading.clone(),
                s.projects.iter().map(|p| p.slug.to_string()).collect(),
            )
        })
        .collect()
}

/// What `page` shows of `all` (the first by name).
fn chosen(page: &StatusPage, all: &[Project]) -> Vec<Project> {
    page.chosen(|each| all.iter().for_each(each)).0
}

/// The page over `all`, without uptime or incidents.
fn rendered(page: &StatusPage, all: &[Project]) -> String {
    html::render(page, &page.sections(&chosen(page, all)), 0, None, &[], at())
}

fn page(tags: &[&str], projects: &[&str]) -> StatusPage {
    StatusPage {
        enabled: true,
        tags: tags.iter().map(|t| Tag::parse(t).unwrap()).collect(),
        projects: projects.iter().map(|s| Slug::parse(s).unwrap()).collect(),
        ..StatusPage::default()
    }
}

#[test]
fn off_by_default_and_then_shows_nothing() {
    let page = StatusPage::default();
    assert!(!page.enabled);
    assert!(fleet().iter().all(|p| !page.shows(p)));
}

#[test]
fn nothing_chosen_shows_every_project_by_name() {
    let all = fleet();
    let got = {
        let page = page(&[], &[]);
        names(&page.sections(&chosen(&page, &all)))
    };
    assert_eq!(
        got,
        [(
            None,
            vec!["api".into(), "cdn".into(), "db".into(), "lab".into()]
        )]
    );
}

#[test]
fn chosen_tags_make_sections_and_chosen_projects_follow() {
    let all = fleet();
    let page = page(&["CORE", "nothing-has-it"], &["lab"]);
    let got = names(&page.sections(&chosen(&page, &all)));
    assert_eq!(
        got,
        [
            (Some("CORE".into()), vec!["api".into(), "db".into()]),
            (Some("Other projects".into()), vec!["lab".into()]),
        ]
    );
    assert!(
        !page.shows(&all[2]),
        "cdn is neither chosen nor tagged core"
    );
}

#[test]
fn the_html_escapes_and_hides_urls_unless_asked() {
    let all = fleet();
    let mut page = page(&[], &[]);
    page.title = "<Acme> status".into();
    let html = rendered(&page, &all);
    assert!(
        html.contains("<title>&lt;Acme&gt; status</title>"),
        "{html}"
    );
    assert!(html.contains("API &lt;v2&gt;"));
    assert!(!html.contains("<v2>"));
    assert!(!html.contains("secret-host"), "no URL unless configured");
    assert!(!html.contains("<script") && !html.contains("style="));
    assert!(html.contains("data-status=\"offline\">Some systems are down"));
    page.show_urls = true;
    let html = rendered(&page, &all);
    assert!(html.contains("href=\"http://secret-host.internal:8000/x\""));
}

#[test]
fn maintenance_is_shown_as_such_and_sets_the_summary() {
    let mut db = project("db", "Database", Status::Offline, &[]);
    db.maintenance = Some(Box::new(Maintenance {
        reason: "upgrade".into(),
        since: at() - chrono::TimeDelta::hours(1),
        until: at() + chrono::TimeDelta::hours(1),
        by: "key:0000".into(),
    }));
    let all = vec![db, project("ok", "Ok", Status::Online, &[])];
    let page = page(&[], &[]);
    let html = rendered(&page, &all);
    assert!(
        html.contains("data-slug=\"db\" data-status=\"maintenance\""),
        "{html}"
    );
    assert!(html.contains(">Maintenance in progress<"), "{html}");
}

#[test]
fn a_long_list_is_cut_and_says_so() {
    // Last first, so that each project offered displaces one kept.
    let all: Vec<Project> = (0..STATUS_PAGE_MAX_PROJECTS + 3)
        .rev()
        .map(|i| {
            project(
                &format!("p{i:04}"),
                &format!("P {i:04}"),
                Status::Online,
                &[],
            )
        })
        .collect();
    let page = page(&[], &[]);
    let (shown, left_out) = page.chosen(|each| all.iter().for_each(each));
    let sections = page.sections(&shown);
    assert_eq!(left_out, 3);
    assert_eq!(sections[0].projects.len(), STATUS_PAGE_MAX_PROJECTS);
    assert_eq!(sections[0].projects[0].slug.as_str(), "p0000");
    let last = sections[0].projects[STATUS_PAGE_MAX_PROJECTS - 1];
    assert_eq!(
        last.slug.as_str(),
        format!("p{:04}", STATUS_PAGE_MAX_PROJECTS - 1)
    );
    let html = html::render(&page, &sections, left_out, None, &[], at());
    assert!(html.contains("3 more projects are not listed"), "{html}");
}

#[test]
fn open_incidents_show_only_their_members_on_the_page_by_name() {
    use federation_domain::incident::{Incident, IncidentTrigger, Member};
    let all = fleet();
    let page = page(&["edge"], &[]);
    let member = |slug: &str, back: bool| Member {
        slug: slug.into(),
        offline_at: at(),
        revision: 7,
        back_at: back.then(at),
    };
    let incident = Incident {
        id: 42,
        started_at: at(),
        opened_at: at(),
        ended_at: None,
        resolved_revision: None,
        trigger: IncidentTrigger::Fleet { offline: 3 },
        members: vec![
            member("api", false),
            member("cdn", false),
            member("lab", false),
            member("db", true),
        ],
    };
    let shown = chosen(&page, &all);
    let sections = page.sections(&shown);
    let html = html::render(
        &page,
        &sections,
        0,
        None,
        std::slice::from_ref(&incident),
        at(),
    );
    assert!(html.contains("data-incident=\"42\""), "{html}");
    assert!(
        html.contains("2 down together: API &lt;v2&gt;, CDN"),
        "{html}"
    );
    assert!(
        !html.contains("Lab"),
        "a project not on the page is not named: {html}"
    );
    let other = Incident {
        members: vec![member("lab", false)],
        ..incident
    };
    let html = html::render(&page, &sections, 0, None, &[other], at());
    assert!(!html.contains("Open incidents"), "{html}");
}
