//! Incidents on both backends: recorded by the leader (fenced by its term), listed,
//! read, and found again by a new leader's replay.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "an integration test crate is test code throughout: a panic is the test failing"
)]

use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use federation_domain::incident::{
    Incident, IncidentEvent, IncidentLog, IncidentState, IncidentTrigger, Member,
};
use federation_domain::{Lease, RepositoryError};
use federation_store::Store;

#[expect(dead_code, reason = "a test binary uses some of the shared helpers")]
mod common;
use common::{postgres, sqlite};

fn member(slug: &str, revision: u64, secs: i64) -> Member {
    Member {
        slug: slug.into(),
        offline_at: t(secs),
        revision,
        back_at: None,
    }
}

fn t(secs: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).single().unwrap() + TimeDelta::seconds(secs)
}

async fn incidents_round_trip(store: Store) {
    let term = store
        .acquire("a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    let members: Vec<Member> = (0..1500)
        .map(|i| member(&format!("p{i:04}"), 10 + i, 1))
        .collect();
    let opened = Incident {
        id: 1509,
        started_at: t(1),
        opened_at: t(2),
        ended_at: None,
        resolved_revision: None,
        trigger: IncidentTrigger::Fleet { offline: 1500 },
        members,
    };
    let tagged = Incident {
        id: 40,
        started_at: t(-100),
        opened_at: t(-90),
        ended_at: None,
        resolved_revision: None,
        trigger: IncidentTrigger::Tag {
            tag: "eu".into(),
            offline: 2,
            of: 4,
        },
        members: vec![member("eu1", 38, -100), member("eu2", 40, -90)],
    };
    let events = vec![
        IncidentEvent::Opened(tagged.clone()),
        IncidentEvent::Back {
            id: 40,
            slug: "eu1".into(),
            at: t(-50),
        },
        IncidentEvent::Back {
            id: 40,
            slug: "eu2".into(),
            at: t(-40),
        },
        IncidentEvent::Resolved {
            id: 40,
            at: t(-40),
            revision: 45,
        },
        IncidentEvent::Opened(opened.clone()),
    ];
    store.record_incident_events(&events, term).await.unwrap();
    // Recording again (a new leader deciding again) changes nothing.
    store.record_incident_events(&events, term).await.unwrap();

    let got = store.get_incident(1509).await.unwrap().unwrap();
    assert_eq!(got, opened);
    assert_eq!(got.state(), IncidentState::Open);
    let old = store.get_incident(40).await.unwrap().unwrap();
    assert_eq!(old.ended_at, Some(t(-40)));
    assert_eq!(old.resolved_revision, Some(45));
    assert_eq!(old.members[0].back_at, Some(t(-50)));
    assert_eq!(old.trigger, tagged.trigger);
    assert_eq!(store.get_incident(7).await.unwrap(), None);

    let all = store.list_incidents(None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.id).collect::<Vec<_>>(),
        [1509, 40],
        "newest first"
    );
    let open = store
        .list_incidents(Some(IncidentState::Open), 10)
        .await
        .unwrap();
    assert_eq!(open.len(), 1);
    let resolved = store
        .list_incidents(Some(IncidentState::Resolved), 10)
        .await
        .unwrap();
    assert_eq!(resolved[0].id, 40);
    assert_eq!(store.list_incidents(None, 1).await.unwrap().len(), 1);

    // What a replay after revision 44 meets: the one it resolves, and the open one.
    let after: Vec<u64> = store
        .incidents_after(44)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(after, [40, 1509]);
    let after: Vec<u64> = store
        .incidents_after(45)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(after, [1509]);

    // A member joins, one rejoins after being back.
    let later = member("late", 2000, 30);
    store
        .record_incident_events(
            &[
                IncidentEvent::Joined {
                    id: 1509,
                    member: later.clone(),
                },
                IncidentEvent::Back {
                    id: 1509,
                    slug: "p0000".into(),
                    at: t(40),
                },
                IncidentEvent::Joined {
                    id: 1509,
                    member: member("p0000", 2001, 50),
                },
            ],
            term,
        )
        .await
        .unwrap();
    let got = store.get_incident(1509).await.unwrap().unwrap();
    assert_eq!(got.members.len(), 1501, "a rejoin is no new member");
    assert_eq!(got.members.last().unwrap().slug, "p0000", "by revision");
    assert_eq!(got.members.last().unwrap().back_at, None);

    // A replica that lost the lease writes nothing.
    store.release("a").await.unwrap();
    let newer = store
        .acquire("b", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert!(newer > term);
    let stale = store
        .record_incident_events(
            &[IncidentEvent::Resolved {
                id: 1509,
                at: t(60),
                revision: 3000,
            }],
            term,
        )
        .await;
    assert!(
        matches!(stale, Err(RepositoryError::Fenced(_))),
        "{stale:?}"
    );
    assert_eq!(
        store.get_incident(1509).await.unwrap().unwrap().state(),
        IncidentState::Open
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn incidents_round_trip_on_postgres() {
    let (store, _keep) = postgres().await;
    incidents_round_trip(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn incidents_round_trip_on_sqlite() {
    let (store, _keep) = sqlite().await;
    incidents_round_trip(store).await;
}
