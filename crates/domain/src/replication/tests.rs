use chrono::TimeZone;

use super::*;
use crate::model::{HubUrl, MeshNamespace, ProjectName, Tag, Tags};

fn t(s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 11, 18, 12, 0, 0).unwrap() + chrono::TimeDelta::seconds(s)
}

pub(super) fn project(slug: &str, status: Status, tags: &[&str]) -> Project {
    let slug = Slug::parse(slug).unwrap();
    Project {
        id: 1,
        mesh_namespace: MeshNamespace::for_slug(&slug),
        slug,
        name: ProjectName::parse("A project").unwrap(),
        hub_url: HubUrl::parse("http://hub.example:8000").unwrap(),
        status,
        status_reason: None,
        tags: Tags::parse(tags).unwrap(),
        metadata: crate::model::Metadata::default(),
        version: None,
        last_heartbeat_at: None,
        clock_skew_seconds: None,
        heartbeat_interval: None,
        maintenance: None,
        flapping_since: None,
        origin: crate::model::Origin::Api,
        heartbeat_key: None,
        created_at: t(0),
        updated_at: t(0),
    }
}

fn change(revision: u64, kind: ChangeKind, project: Option<Project>, slug: &str) -> Change {
    Change {
        revision,
        slug: Slug::parse(slug).unwrap(),
        at: t(revision as i64),
        kind,
        project,
    }
}

#[test]
fn applies_in_order_and_skips_what_it_already_has() {
    let mut r = Registry::new();
    let applied = r.apply(vec![
        change(
            1,
            ChangeKind::Registered,
            Some(project("a", Status::Offline, &[])),
            "a",
        ),
        change(
            3,
            ChangeKind::Registered,
            Some(project("b", Status::Offline, &[])),
            "b",
        ),
    ]);
    assert_eq!(applied.len(), 2);
    assert_eq!(r.revision(), 3);
    // A slower reader's copy of the same range changes nothing.
    let again = r.apply(vec![change(
        3,
        ChangeKind::Deleted { reason: None },
        None,
        "b",
    )]);
    assert!(again.is_empty());
    assert!(r.get(&Slug::parse("b").unwrap()).is_some());
    r.apply(vec![change(
        4,
        ChangeKind::Deleted { reason: None },
        None,
        "b",
    )]);
    assert!(r.get(&Slug::parse("b").unwrap()).is_none());
    assert_eq!(r.revision(), 4);
}

#[test]
fn a_change_whose_project_is_gone_advances_the_revision_only() {
    let mut r = Registry::new();
    r.apply(vec![change(7, ChangeKind::Updated, None, "gone")]);
    assert_eq!(r.revision(), 7);
    assert!(r.is_empty());
}

#[test]
fn members_are_read_in_pages_of_slug_order_with_their_tags() {
    let mut r = Registry::new();
    let changes = ["c", "a", "b"]
        .iter()
        .zip(1..)
        .map(|(slug, rev)| {
            let p = project(slug, Status::Offline, &[slug]);
            change(rev, ChangeKind::Registered, Some(p), slug)
        })
        .collect();
    r.apply(changes);
    let names = |page: Vec<crate::uptime::Member>| {
        page.into_iter()
            .map(|m| format!("{}:{}", m.slug, m.tags.iter().next().unwrap().as_str()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(r.members_after(None, 2)), ["a:a", "b:b"]);
    let b = Slug::parse("b").unwrap();
    assert_eq!(names(r.members_after(Some(&b), 2)), ["c:c"]);
    let c = Slug::parse("c").unwrap();
    assert!(r.members_after(Some(&c), 2).is_empty());
}

#[test]
fn heard_heartbeats_never_move_back_when_the_log_brings_an_older_copy() {
    let mut r = Registry::new();
    r.apply(vec![change(
        1,
        ChangeKind::Registered,
        Some(project("a", Status::Offline, &[])),
        "a",
    )]);
    let slug = Slug::parse("a").unwrap();
    r.apply_liveness(&[PresenceRecord {
        slug: slug.clone(),
        status: Status::Online,
        status_reason: None,
        version: None,
        last_heartbeat_at: Some(t(30)),
    }]);
    // Liveness alone never changes the recorded status.
    assert_eq!(r.get(&slug).unwrap().status, Status::Offline);
    let mut stored = project("a", Status::Online, &[]);
    stored.last_heartbeat_at = Some(t(29));
    r.apply(vec![change(
        2,
        ChangeKind::Transition(Transition {
            slug: slug.clone(),
            from: Status::Offline,
            to: Status::Online,
            reason: None,
            at: t(29),
            last_heartbeat_at: Some(t(29)),
        }),
        Some(stored),
        "a",
    )]);
    let p = r.get(&slug).unwrap();
    assert_eq!(p.status, Status::Online);
    assert_eq!(p.last_heartbeat_at, Some(t(30)));
}

#[test]
fn lists_pages_in_slug_order_with_filters_and_totals() {
    let mut r = Registry::new();
    r.load(Snapshot::of(
        9,
        vec![
            project("c", Status::Online, &["x"]),
            project("a", Status::Online, &["x", "y"]),
            project("b", Status::Offline, &["y"]),
            project("d", Status::Online, &[]),
        ],
    ));
    let slugs = |page: &ProjectPage| -> Vec<String> {
        page.items.iter().map(|p| p.slug.to_string()).collect()
    };
    let all = r.list(&ListFilter::default());
    assert_eq!(
        (slugs(&all), all.total, all.revision),
        (vec!["a".into(), "b".into(), "c".into(), "d".into()], 4, 9)
    );
    let online = r.list(&ListFilter {
        status: Some(Status::Online),
        limit: Some(1),
        offset: 1,
        ..ListFilter::default()
    });
    assert_eq!((slugs(&online), online.total), (vec!["c".to_string()], 3));
    let tagged = r.list(&ListFilter {
        tag: Some(Tag::parse("y").unwrap()),
        ..ListFilter::default()
    });
    assert_eq!(
        (slugs(&tagged), tagged.total),
        (vec!["a".to_string(), "b".into()], 2)
    );
    // Tag filters ignore case; the cursor resumes after a slug, counted in full.
    let upper = r.list(&ListFilter {
        tag: Some(Tag::parse("Y").unwrap()),
        ..ListFilter::default()
    });
    assert_eq!(slugs(&upper), ["a", "b"]);
    let after = r.list(&ListFilter {
        after: Some(Slug::parse("a").unwrap()),
        limit: Some(2),
        ..ListFilter::default()
    });
    assert_eq!(
        (slugs(&after), after.total),
        (vec!["b".into(), "c".into()], 4)
    );
    let after_online = r.list(&ListFilter {
        status: Some(Status::Online),
        after: Some(Slug::parse("a").unwrap()),
        ..ListFilter::default()
    });
    assert_eq!(slugs(&after_online), ["c", "d"]);
    let past_the_end = r.list(&ListFilter {
        offset: 10,
        ..ListFilter::default()
    });
    assert_eq!((past_the_end.items.len(), past_the_end.total), (0, 4));
    assert_eq!(
        r.counts(),
        StatusCounts {
            online: 3,
            degraded: 0,
            offline: 1
        }
    );
}

#[test]
fn lists_by_metadata_every_condition_holding() {
    let with = |slug: &str, meta: serde_json::Value| {
        let mut p = project(slug, Status::Online, &[]);
        p.metadata = crate::model::Metadata::from_json(meta).unwrap();
        p
    };
    let mut r = Registry::new();
    r.load(Snapshot::of(
        1,
        vec![
            with("a", serde_json::json!({"team": "ops", "allow_fanout": []})),
            with("b", serde_json::json!({"team": "ops", "replicas": 3})),
            with("c", serde_json::json!({"team": "web"})),
            project("d", Status::Offline, &[]),
        ],
    ));
    let slugs = |conditions: &[(&str, &str)]| -> (Vec<String>, u64) {
        let filter = ListFilter::default().with_meta(conditions).unwrap();
        let page = r.list(&filter);
        (
            page.items.iter().map(|p| p.slug.to_string()).collect(),
            page.total,
        )
    };
    assert_eq!(slugs(&[("team", "ops")]), (vec!["a".into(), "b".into()], 2));
    assert_eq!(
        slugs(&[("team", "ops"), ("replicas", "3")]),
        (vec!["b".into()], 1)
    );
    assert_eq!(slugs(&[("allow_fanout", "[]")]), (vec!["a".into()], 1));
    assert_eq!(slugs(&[("nobody", "x")]), (vec![], 0));
    let err = ListFilter::default()
        .with_meta(&[("a b", "x")])
        .unwrap_err();
    assert_eq!(err.field, "meta.a b");
}

#[test]
fn a_noted_skew_survives_the_stores_copy() {
    let mut r = Registry::new();
    r.load(Snapshot::of(1, vec![project("a", Status::Online, &[])]));
    let slug = Slug::parse("a").unwrap();
    r.note_skew(&slug, 42.5);
    r.apply(vec![change(
        2,
        ChangeKind::Updated,
        Some(project("a", Status::Online, &[])),
        "a",
    )]);
    assert_eq!(r.get(&slug).unwrap().clock_skew_seconds, Some(42.5));
}

fn transition(slug: &str, from: Status, to: Status, tags: &[&str]) -> Change {
    change(
        9,
        ChangeKind::Transition(Transition {
            slug: Slug::parse(slug).unwrap(),
            from,
            to,
            reason: None,
            at: t(9),
            last_heartbeat_at: None,
        }),
        Some(project(slug, to, tags)),
        slug,
    )
}

#[test]
fn a_change_filter_matches_slug_tag_and_status_and_lets_deletions_through() {
    let any = ChangeFilter::parse(None, None, None).unwrap();
    let reg = change(
        1,
        ChangeKind::Registered,
        Some(project("a", Status::Offline, &["Rust"])),
        "a",
    );
    let del = change(2, ChangeKind::Deleted { reason: None }, None, "b");
    let up = transition("a", Status::Offline, Status::Online, &["Rust"]);
    assert!(any.matches(&reg) && any.matches(&del) && any.matches(&up));

    let by_slug = ChangeFilter::parse(Some("A"), None, None).unwrap();
    assert!(by_slug.matches(&reg) && by_slug.matches(&up));
    assert!(!by_slug.matches(&del), "another project's deletion");

    let by_tag = ChangeFilter::parse(None, Some("rust"), None).unwrap();
    assert!(by_tag.matches(&reg) && by_tag.matches(&up) && by_tag.matches(&del));
    assert!(!by_tag.matches(&transition("c", Status::Offline, Status::Online, &["go"])));

    let offline = ChangeFilter::parse(None, None, Some("offline")).unwrap();
    assert!(offline.matches(&reg), "registered offline");
    assert!(offline.matches(&up), "leaves offline");
    assert!(!offline.matches(&transition("a", Status::Online, Status::Degraded, &[])));

    assert_eq!(
        ChangeFilter::parse(Some("-x"), None, None)
            .unwrap_err()
            .field,
        "slug"
    );
    assert_eq!(
        ChangeFilter::parse(None, None, Some("up"))
            .unwrap_err()
            .field,
        "status"
    );
}

#[test]
fn the_summary_counts_by_status_and_tag_and_names_the_longest_offline() {
    let mut r = Registry::new();
    let mut old = project("old", Status::Offline, &["Rust", "db"]);
    old.last_heartbeat_at = Some(t(5));
    let mut newer = project("newer", Status::Offline, &["rust"]);
    newer.last_heartbeat_at = Some(t(50));
    let mut up = project("up", Status::Online, &["db"]);
    up.last_heartbeat_at = Some(t(1));
    r.load(Snapshot::of(7, vec![old, newer, up]));
    let s = r.summary();
    assert_eq!(s.total, 3);
    assert_eq!((s.counts.online, s.counts.offline), (1, 2));
    assert_eq!(s.revision, 7);
    let tags: Vec<(&str, usize, usize)> = s
        .tags
        .iter()
        .map(|(t, c)| (t.as_str(), c.online, c.offline))
        .collect();
    assert_eq!(tags, vec![("db", 1, 1), ("rust", 0, 2)]);
    let l = s.longest_offline.unwrap();
    assert_eq!((l.slug.as_str(), l.silent_since), ("old", t(5)));

    // Never heard: silent since its registration.
    let mut never = project("never", Status::Offline, &[]);
    never.created_at = t(-10);
    r.apply(vec![change(
        8,
        ChangeKind::Registered,
        Some(never),
        "never",
    )]);
    let l = r.summary().longest_offline.unwrap();
    assert_eq!((l.slug.as_str(), l.last_heartbeat_at), ("never", None));
}

mod rendered {
    use super::*;
    use bytes::Bytes;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // Each test counts its own renderer's calls.
    static CALLS_A: AtomicUsize = AtomicUsize::new(0);
    static CALLS_B: AtomicUsize = AtomicUsize::new(0);
    static CALLS_C: AtomicUsize = AtomicUsize::new(0);

    /// What an adapter would serve: everything a read shows, so any change shows.
    fn describe(p: &Project) -> String {
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}",
            p.slug, p.name, p.status, p.last_heartbeat_at, p.version, p.clock_skew_seconds
        )
    }

    fn render_a(p: &Project) -> Bytes {
        CALLS_A.fetch_add(1, Ordering::SeqCst);
        Bytes::from(describe(p))
    }

    fn render_b(p: &Project) -> Bytes {
        CALLS_B.fetch_add(1, Ordering::SeqCst);
        Bytes::from(describe(p))
    }

    fn render_c(p: &Project) -> Bytes {
        CALLS_C.fetch_add(1, Ordering::SeqCst);
        Bytes::from(describe(p))
    }

    fn fresh(r: &Registry, filter: &ListFilter) -> Vec<Bytes> {
        r.list(filter)
            .items
            .iter()
            .map(|p| Bytes::from(describe(p)))
            .collect()
    }

    #[test]
    fn renders_once_per_change_and_matches_a_fresh_rendering() {
        let calls = || CALLS_A.load(Ordering::SeqCst);
        let mut r = Registry::new();
        r.apply(vec![
            change(
                1,
                ChangeKind::Registered,
                Some(project("a", Status::Offline, &["x"])),
                "a",
            ),
            change(
                2,
                ChangeKind::Registered,
                Some(project("b", Status::Online, &[])),
                "b",
            ),
        ]);
        let all = ListFilter::default();
        let a = Slug::parse("a").unwrap();
        let g0 = r.generation();

        let page = r.list_rendered(&all, render_a);
        assert_eq!(page.items, fresh(&r, &all));
        assert_eq!((page.total, page.revision, page.generation), (2, 2, g0));
        assert_eq!(page.last, Some(Slug::parse("b").unwrap()));
        let before = calls();
        assert_eq!(r.list_rendered(&all, render_a).items, page.items);
        assert_eq!(r.rendered(&a, render_a), Some(page.items[0].clone()));
        assert_eq!(calls(), before, "kept: no rendering until a change");

        // A change of the log: only that project is rendered again.
        let mut renamed = project("a", Status::Offline, &["x"]);
        renamed.name = ProjectName::parse("Renamed").unwrap();
        r.apply(vec![change(3, ChangeKind::Updated, Some(renamed), "a")]);
        assert!(r.generation() > g0);
        assert_eq!(r.list_rendered(&all, render_a).items, fresh(&r, &all));
        assert_eq!(calls(), before + 1);

        // Liveness: a newer heartbeat and a new version.
        let g1 = r.generation();
        r.apply_liveness(&[PresenceRecord {
            slug: a.clone(),
            status: Status::Online,
            status_reason: None,
            version: Some(crate::model::Version::parse("1.0.0").unwrap()),
            last_heartbeat_at: Some(t(40)),
        }]);
        assert!(r.generation() > g1);
        assert_eq!(r.list_rendered(&all, render_a).items, fresh(&r, &all));
        assert_eq!(calls(), before + 2);
        // The same liveness again changes nothing.
        let g2 = r.generation();
        r.apply_liveness(&[PresenceRecord {
            slug: a.clone(),
            status: Status::Online,
            status_reason: None,
            version: Some(crate::model::Version::parse("1.0.0").unwrap()),
            last_heartbeat_at: Some(t(40)),
        }]);
        assert_eq!(r.generation(), g2);
        assert_eq!(r.list_rendered(&all, render_a).items, fresh(&r, &all));
        assert_eq!(calls(), before + 2);

        // A clock skew.
        r.note_skew(&a, 1.5);
        assert!(r.generation() > g2);
        assert_eq!(r.rendered(&a, render_a).unwrap(), fresh(&r, &all)[0]);

        // A transition, then a deletion.
        let mut online = project("b", Status::Offline, &[]);
        online.status = Status::Degraded;
        r.apply(vec![change(4, ChangeKind::Updated, Some(online), "b")]);
        let degraded = ListFilter::parse(Some("degraded"), None, None, None).unwrap();
        let page = r.list_rendered(&degraded, render_a);
        assert_eq!(page.items, fresh(&r, &degraded));
        assert_eq!(page.total, 1);
        r.apply(vec![change(
            5,
            ChangeKind::Deleted { reason: None },
            None,
            "a",
        )]);
        assert_eq!(r.rendered(&a, render_a), None);
        assert_eq!(r.list_rendered(&all, render_a).items, fresh(&r, &all));

        // A second renderer never reads the first one's bytes, nor fills the slots.
        let b_calls = CALLS_B.load(Ordering::SeqCst);
        assert_eq!(r.list_rendered(&all, render_b).items, fresh(&r, &all));
        assert_eq!(r.list_rendered(&all, render_b).items, fresh(&r, &all));
        assert_eq!(CALLS_B.load(Ordering::SeqCst), b_calls + 2);
    }

    /// Reads the list part by part, as the HTTP list of a large catalog does.
    fn in_parts(r: &Registry, filter: &ListFilter) -> (Vec<Bytes>, usize) {
        let (mut all, mut cursor, mut parts) = (Vec::new(), None, 0);
        loop {
            let (items, next) = r.part_rendered(filter, cursor.as_ref(), 256, render_c);
            assert!(items.len() <= 256);
            all.extend(items);
            parts += 1;
            match next {
                Some(c) => cursor = Some(c),
                None => return (all, parts),
            }
        }
    }

    #[test]
    fn a_list_in_parts_has_every_match_once_in_order_and_keeps_no_bytes() {
        let calls = || CALLS_C.load(Ordering::SeqCst);
        let n = crate::replication::PART_SCAN + 700;
        let mut r = Registry::new();
        r.load(Snapshot::of(
            9,
            (0..n).map(|i| {
                let status = if i % 1000 == 0 {
                    Status::Online
                } else {
                    Status::Offline
                };
                project(&format!("p{i:06}"), status, &[])
            }),
        ));
        let all = ListFilter::default();
        let online = ListFilter::parse(Some("online"), None, None, None).unwrap();
        assert_eq!(r.matching_more_than(&all, 0), Some((n as u64, 9)));
        assert_eq!(
            r.matching_more_than(&online, 0),
            Some((n.div_ceil(1000) as u64, 9))
        );
        // Not more: nothing, with or without a walk.
        assert_eq!(r.matching_more_than(&all, n as u64), None);
        assert_eq!(r.matching_more_than(&online, n.div_ceil(1000) as u64), None);

        // One slot filled before: its bytes are used, the rest rendered and not kept.
        let first = Slug::parse("p000000").unwrap();
        let kept = r.rendered(&first, render_c).unwrap();
        let before = calls();
        let (items, parts) = in_parts(&r, &all);
        assert_eq!(items, fresh(&r, &all));
        assert_eq!(items[0], kept);
        assert_eq!(parts, n.div_ceil(256));
        assert_eq!(calls(), before + n - 1);
        let (again, _) = in_parts(&r, &all);
        assert_eq!(again, items);
        assert_eq!(
            calls(),
            before + 2 * (n - 1),
            "nothing kept by a list in parts"
        );

        // A sparse filter: a part looks at no more than PART_SCAN projects, so an empty
        // part with a cursor comes before the last matches.
        let (items, parts) = in_parts(&r, &online);
        assert_eq!(items, fresh(&r, &online));
        assert_eq!(parts, 2);
        let after = Slug::parse("p010000").unwrap();
        let (items, next) = r.part_rendered(&online, Some(&after), 256, render_c);
        assert_eq!(items.len(), n.div_ceil(1000) - 11);
        assert_eq!(next, None);
    }
}

#[test]
fn the_held_project_becomes_the_stored_one_with_liveness_that_only_moves_forward() {
    let at = t(0);
    let mut stored = project("a", Status::Offline, &[]);
    stored.status = Status::Online;
    stored.name = ProjectName::parse("Renamed").unwrap();
    stored.last_heartbeat_at = Some(at);
    stored.version = Some(crate::model::Version::parse("1.0.0").unwrap());

    // Heard later here, with another version and a skew: those stay.
    let mut held = project("a", Status::Offline, &[]);
    held.last_heartbeat_at = Some(at + chrono::TimeDelta::seconds(5));
    held.version = Some(crate::model::Version::parse("2.0.0").unwrap());
    held.clock_skew_seconds = Some(1.5);
    assign::assign(&mut held, &stored);
    let mut expected = stored.clone();
    expected.last_heartbeat_at = Some(at + chrono::TimeDelta::seconds(5));
    expected.version = Some(crate::model::Version::parse("2.0.0").unwrap());
    expected.clock_skew_seconds = Some(1.5);
    assert_eq!(held, expected);

    // Heard earlier here: the stored liveness wins; a stored skew wins too.
    let mut held = project("a", Status::Offline, &[]);
    held.last_heartbeat_at = Some(at - chrono::TimeDelta::seconds(5));
    let mut newer = stored.clone();
    newer.clock_skew_seconds = Some(-2.0);
    assign::assign(&mut held, &newer);
    assert_eq!(held, newer);

    // Heard later here with no version: the stored version fills in.
    let mut held = project("a", Status::Offline, &[]);
    held.last_heartbeat_at = Some(at + chrono::TimeDelta::seconds(5));
    assign::assign(&mut held, &stored);
    assert_eq!(held.version, stored.version);
    assert_eq!(
        held.last_heartbeat_at,
        Some(at + chrono::TimeDelta::seconds(5))
    );
}
