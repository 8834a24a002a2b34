//! What the store's test binaries share.

use std::time::Duration;

use federation_domain::{Lease, PresenceRecord, ProjectRepository, RepositoryError, Transition};
use federation_store::{DatabaseUrl, Store, StoreOptions};

/// A small pool with patient timeouts (two busy cores).
fn opts() -> StoreOptions {
    StoreOptions {
        max_connections: 4,
        connect_timeout: Duration::from_secs(10),
        pool_timeout: Duration::from_secs(10),
        ..StoreOptions::default()
    }
}

/// A migrated store on a fresh database of the test kit's PostgreSQL, with what keeps
/// the database alive.
pub async fn postgres() -> (Store, Box<dyn std::any::Any + Send>) {
    let db = tokio::task::spawn_blocking(federation_testkit::postgres_database)
        .await
        .unwrap()
        .expect("test PostgreSQL");
    let url = DatabaseUrl::parse(&db.url).unwrap();
    let store = Store::connect(&url, opts()).await.expect("connect");
    store.run_migrations().await.expect("migrate");
    (store, Box::new(db))
}

/// A migrated store on a fresh SQLite file, with the directory that holds it.
pub async fn sqlite() -> (Store, Box<dyn std::any::Any + Send>) {
    let dir = tempfile::tempdir().unwrap();
    let url = DatabaseUrl::parse(&format!("sqlite://{}/fed.db", dir.path().display())).unwrap();
    let store = Store::connect(&url, opts()).await.expect("connect");
    store.run_migrations().await.expect("migrate");
    (store, Box::new(dir))
}

/// `write_presence` under the sweeper lease (taken for this test's writer).
pub async fn fenced_write<S: ProjectRepository + Lease + ?Sized>(
    store: &S,
    updates: &[PresenceRecord],
    transitions: &[Transition],
) -> Result<federation_domain::LoggedSteps, RepositoryError> {
    let term = store
        .acquire("store-tests", std::time::Duration::from_secs(3600))
        .await?
        .expect("the test's lease");
    store.write_presence(updates, transitions, term).await
}
