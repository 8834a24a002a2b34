//! Where incidents are kept (both store backends).

use async_trait::async_trait;

use super::model::{Incident, IncidentEvent, IncidentState};
use crate::error::RepositoryError;
use crate::replication::Term;

/// The record of incidents. Written only by the leader.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IncidentLog: Send + Sync + 'static {
    /// Records the tracker's events in one transaction, fenced by the sweeper lease's
    /// `term` like every leader write ([`RepositoryError::Fenced`] once another
    /// replica leads). Recording an event twice changes nothing (a new leader may
    /// decide again what its predecessor recorded).
    async fn record_incident_events(
        &self,
        events: &[IncidentEvent],
        term: Term,
    ) -> Result<(), RepositoryError>;

    /// The newest incidents first (by id), of one state or both, at most `limit`.
    async fn list_incidents(
        &self,
        state: Option<IncidentState>,
        limit: u32,
    ) -> Result<Vec<Incident>, RepositoryError>;

    /// One incident.
    async fn get_incident(&self, id: u64) -> Result<Option<Incident>, RepositoryError>;

    /// The incidents a replay of the log after `revision` meets: open ones, and those
    /// resolved by a later change (oldest first).
    async fn incidents_after(&self, revision: u64) -> Result<Vec<Incident>, RepositoryError>;
}
