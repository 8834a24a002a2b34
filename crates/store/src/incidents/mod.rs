//! Incidents on the store: the domain's [`IncidentLog`] on both backends.

mod ops;
mod rows;
mod schema;

use async_trait::async_trait;
use diesel_async::AsyncConnection;
use federation_domain::incident::{Incident, IncidentEvent, IncidentLog, IncidentState};
use federation_domain::{RepositoryError, Term};

use crate::backend::Backend;
use crate::error::StoreError;
use crate::store::Store;

impl Store {
    async fn record_incident_events_op(
        &self,
        events: &[IncidentEvent],
        term: Term,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                conn.transaction(async |c| {
                    crate::pg::check_term(crate::pg::lease_row(c, false).await?, term)?;
                    ops::pg::record(c, events).await
                })
                .await
            }
            Backend::Sqlite(sqlite) => {
                let events = events.to_vec();
                sqlite
                    .write(move |c| {
                        crate::sqlite::check_term(crate::sqlite::lease_row(c)?, term)?;
                        ops::sqlite::record(c, &events)
                    })
                    .await
            }
        }
    }

    async fn list_incidents_op(
        &self,
        state: Option<IncidentState>,
        limit: u32,
    ) -> Result<Vec<Incident>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::list(&mut *pg.conn().await?, state, limit).await,
            Backend::Sqlite(sqlite) => {
                sqlite
                    .run(move |c| ops::sqlite::list(c, state, limit))
                    .await
            }
        }
    }

    async fn get_incident_op(&self, id: u64) -> Result<Option<Incident>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::get(&mut *pg.conn().await?, id).await,
            Backend::Sqlite(sqlite) => sqlite.run(move |c| ops::sqlite::get(c, id)).await,
        }
    }

    async fn incidents_after_op(&self, after: u64) -> Result<Vec<Incident>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::after(&mut *pg.conn().await?, after).await,
            Backend::Sqlite(sqlite) => sqlite.run(move |c| ops::sqlite::after(c, after)).await,
        }
    }
}

#[async_trait]
impl IncidentLog for Store {
    async fn record_incident_events(
        &self,
        events: &[IncidentEvent],
        term: Term,
    ) -> Result<(), RepositoryError> {
        self.bounded(
            "record_incident_events",
            self.record_incident_events_op(events, term),
        )
        .await
    }

    async fn list_incidents(
        &self,
        state: Option<IncidentState>,
        limit: u32,
    ) -> Result<Vec<Incident>, RepositoryError> {
        self.bounded("list_incidents", self.list_incidents_op(state, limit))
            .await
    }

    async fn get_incident(&self, id: u64) -> Result<Option<Incident>, RepositoryError> {
        self.bounded("get_incident", self.get_incident_op(id)).await
    }

    async fn incidents_after(&self, revision: u64) -> Result<Vec<Incident>, RepositoryError> {
        self.bounded("incidents_after", self.incidents_after_op(revision))
            .await
    }
}
