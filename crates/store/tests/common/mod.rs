//! What the store's test binaries share.

use federation_domain::{Lease, PresenceRecord, ProjectRepository, RepositoryError, Transition};
use federation_store::Store;

/// `write_presence` under the sweeper lease (taken for this test's writer).
pub async fn fenced_write(
    store: &Store,
    updates: &[PresenceRecord],
    transitions: &[Transition],
) -> Result<(), RepositoryError> {
    let term = store
        .acquire("store-tests", std::time::Duration::from_secs(3600))
        .await?
        .expect("the test's lease");
    store.write_presence(updates, transitions, term).await
}
