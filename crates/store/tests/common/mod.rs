//! What the store's test binaries share.

use federation_domain::{Lease, PresenceRecord, ProjectRepository, RepositoryError, Transition};

/// `write_presence` under the sweeper lease (taken for this test's writer).
pub async fn fenced_write<S: ProjectRepository + Lease + ?Sized>(
    store: &S,
    updates: &[PresenceRecord],
    transitions: &[Transition],
) -> Result<(), RepositoryError> {
    let term = store
        .acquire("store-tests", std::time::Duration::from_secs(3600))
        .await?
        .expect("the test's lease");
    store.write_presence(updates, transitions, term).await
}
