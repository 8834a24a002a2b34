use std::sync::{Arc, Mutex};

use chrono::TimeDelta;

use super::heartbeats::SkewLog;
use super::*;
use crate::error::{EventError, RepositoryError, ServiceError};
use crate::memory::MemoryStore;
use crate::model::{
    HeartbeatCredential, HeartbeatKeyDigest, ListFilter, MaintenanceInput, Origin, ProjectName,
    ProjectPatch, Registration, RegistrationInput, Status,
};
use crate::policy::StatusPolicy;
use crate::ports::{ManualClock, MockStatusEvents, NoRelay};
use crate::presence::{GuardState, StatusCounts};
use crate::replication::{ChangeKind, ChangesSince, Role, Term};
use crate::testing::{secs, slug, t0};
use std::time::Duration;

fn input(s: &str) -> RegistrationInput {
    RegistrationInput {
        slug: Some(s.into()),
        name: Some(format!("Project {s}")),
        hub_url: Some(format!("http://{}.example:8000", s.to_lowercase())),
        mesh_namespace: None,
        tags: Some(vec!["Rust".into()]),
        metadata: None,
        heartbeat_interval: None,
    }
}

fn registration(s: &str) -> Registration {
    input(s).validate().unwrap()
}

/// Status events as the bus received them: `slug:to@revision`.
type Published = Arc<Mutex<Vec<String>>>;

/// A bus that records what it is given, refusing while `refuse` holds and not
/// confirming while `unconfirmed` holds.
fn recording_bus(
    refuse: Arc<std::sync::atomic::AtomicBool>,
    unconfirmed: Arc<std::sync::atomic::AtomicBool>,
) -> (MockStatusEvents, Published) {
    let published: Published = Arc::default();
    let p = published.clone();
    let mut events = MockStatusEvents::new();
    events.expect_publish().returning(move |t, revision| {
        if refuse.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EventError("no bus".into()));
        }
        p.lock()
            .unwrap()
            .push(format!("{}:{}@{revision}", t.slug, t.to));
        Ok(())
    });
    let p = published.clone();
    events
        .expect_publish_flapping()
        .returning(move |slug, flapping, _, revision| {
            let kind = if flapping { "flapping" } else { "stable" };
            p.lock().unwrap().push(format!("{slug}:{kind}@{revision}"));
            Ok(())
        });
    events.expect_confirm().returning(move || {
        if unconfirmed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EventError("connection lost".into()));
        }
        Ok(())
    });
    (events, published)
}

/// The slugs a replica lists, in its order.
fn listed(fed: &Federation) -> Vec<String> {
    fed.list(&ListFilter::default())
        .items
        .iter()
        .map(|p| p.slug.to_string())
        .collect()
}

/// One database (a [`MemoryStore`]) with a manual clock, and replicas over it.
struct Cluster {
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    refuse_events: Arc<std::sync::atomic::AtomicBool>,
    unconfirmed_events: Arc<std::sync::atomic::AtomicBool>,
    published: Published,
}

impl Cluster {
    async fn new(slugs: &[&str]) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let store = Arc::new(MemoryStore::new(clock.clone()));
        for s in slugs {
            store.upsert(&registration(s)).await.unwrap();
        }
        Self {
            store,
            clock,
            refuse_events: Arc::default(),
            unconfirmed_events: Arc::default(),
            published: Arc::default(),
        }
    }

    /// A replica named `holder`, loaded from the store (not yet in the lease).
    async fn replica(&self, holder: &str, presence: Presence) -> Federation {
        self.replica_with(holder, presence, self.store.clone(), self.store.clone())
            .await
    }

    /// [`Cluster::replica`], writing through `repo` and following the change log
    /// through `log`.
    async fn replica_with(
        &self,
        holder: &str,
        presence: Presence,
        repo: Arc<dyn crate::ports::ProjectRepository>,
        log: Arc<dyn crate::ports::ChangeLog>,
    ) -> Federation {
        let (events, published) =
            recording_bus(self.refuse_events.clone(), self.unconfirmed_events.clone());
        let fed = Federation::new(
            Ports {
                repo,
                log,
                lease: self.store.clone(),
                events: Arc::new(events),
                relay: Arc::new(NoRelay),
                clock: self.clock.clone(),
            },
            presence,
            ReplicaOptions {
                holder: holder.into(),
                lease_ttl: Duration::from_secs(5),
                log_retention: TimeDelta::hours(1),
                log_max_rows: 1000,
                history_max_per_project: 10,
                ..ReplicaOptions::default()
            },
        );
        fed.load().await.unwrap();
        // Every replica of a test shares one record of what was published.
        let shared = self.published.clone();
        let own = published;
        fed.on_change(Box::new(move |_, _| {
            let mut own = own.lock().unwrap();
            shared.lock().unwrap().append(&mut own);
        }));
        fed
    }

    /// The single replica of most tests: it leads.
    async fn leader(&self) -> Federation {
        let fed = self
            .replica("a", Presence::new(StatusPolicy::default()))
            .await;
        assert!(matches!(fed.campaign().await.unwrap(), Role::Leader(_)));
        fed
    }

    /// `fed` resigns and a new replica, `b`, takes the lead and ticks once, starting
    /// from the stored outbox cursor; what the bus has received by then.
    async fn published_after_handover(&self, fed: &Federation) -> Vec<String> {
        fed.resign().await;
        let next = self
            .replica("b", Presence::new(StatusPolicy::default()))
            .await;
        next.campaign().await.unwrap();
        next.tick().await.unwrap();
        self.published(&next)
    }

    /// What the bus has received (flushed from each replica's recorder).
    fn published(&self, fed: &Federation) -> Vec<String> {
        fed.state.announce(&[]);
        self.published.lock().unwrap().clone()
    }

    fn history(&self, slug: &str) -> Vec<String> {
        self.store
            .transitions_of(slug)
            .iter()
            .map(|t| format!("{}->{}", t.from, t.to))
            .collect()
    }
}

fn beat(s: &str) -> Vec<u8> {
    format!(r#"{{"project_slug":"{s}"}}"#).into_bytes()
}

/// `p-0` … `p-(n-1)`.
fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("p-{i}")).collect()
}

/// A cluster with `slugs` registered and a leader that heard each of them once.
async fn all_beating(slugs: &[&str]) -> (Cluster, Federation) {
    let cluster = Cluster::new(slugs).await;
    let fed = cluster.leader().await;
    for s in slugs {
        fed.record_heartbeat(s, &beat(s)).unwrap();
    }
    (cluster, fed)
}

fn not_found<T: std::fmt::Debug>(r: Result<T, ServiceError>) -> String {
    match r {
        Err(ServiceError::NotFound(s)) => s,
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn status_of(fed: &Federation, slug: &str) -> Status {
    fed.get(slug).unwrap().0.status
}

mod flapping;
mod reads;
mod record_heartbeat;
mod register;
mod replicas;
mod tick;
