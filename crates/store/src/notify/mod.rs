//! Notifications on the store: the domain's [`ChannelStore`] on both backends.

mod ops;
pub(crate) mod rows;
pub(crate) mod schema;

use async_trait::async_trait;
use diesel_async::AsyncConnection;
use federation_domain::notify::{
    Channel, ChannelName, ChannelSpec, ChannelStore, ChannelWrite, Delivery, DeliveryLog,
};
use federation_domain::{RepositoryError, Term};

use crate::backend::Backend;
use crate::error::StoreError;
use crate::rows::now_micros;
use crate::schema::DbTime;
use crate::store::Store;

impl Store {
    async fn create_channel_op(&self, spec: &ChannelSpec) -> Result<ChannelWrite, StoreError> {
        let now = DbTime(now_micros());
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                conn.transaction(async |c| ops::pg::create(c, spec, now).await)
                    .await
            }
            Backend::Sqlite(sqlite) => {
                let spec = spec.clone();
                sqlite
                    .write(move |c| ops::sqlite::create(c, &spec, now))
                    .await
            }
        }
    }

    async fn list_channels_op(&self) -> Result<Vec<Channel>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::list(&mut *pg.conn().await?).await,
            Backend::Sqlite(sqlite) => sqlite.run(ops::sqlite::list).await,
        }
    }

    async fn get_channel_op(&self, name: &ChannelName) -> Result<Option<Channel>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::get(&mut *pg.conn().await?, name.as_str()).await,
            Backend::Sqlite(sqlite) => {
                let name = name.clone();
                sqlite
                    .run(move |c| ops::sqlite::get(c, name.as_str()))
                    .await
            }
        }
    }

    async fn replace_channel_op(&self, spec: &ChannelSpec) -> Result<Option<Channel>, StoreError> {
        let now = DbTime(now_micros());
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                conn.transaction(async |c| ops::pg::replace(c, spec, now).await)
                    .await
            }
            Backend::Sqlite(sqlite) => {
                let spec = spec.clone();
                sqlite
                    .write(move |c| ops::sqlite::replace(c, &spec, now))
                    .await
            }
        }
    }

    async fn delete_channel_op(&self, name: &ChannelName) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                conn.transaction(async |c| ops::pg::delete(c, name.as_str()).await)
                    .await
            }
            Backend::Sqlite(sqlite) => {
                let name = name.clone();
                sqlite
                    .write(move |c| ops::sqlite::delete(c, name.as_str()))
                    .await
            }
        }
    }
}

impl Store {
    async fn record_delivery_op(&self, d: &Delivery) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => ops::pg::record_delivery(&mut *pg.conn().await?, d).await,
            Backend::Sqlite(sqlite) => {
                let d = d.clone();
                sqlite
                    .write(move |c| ops::sqlite::record_delivery(c, &d))
                    .await
            }
        }
    }

    async fn list_deliveries_op(
        &self,
        channel: Option<&ChannelName>,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let channel = channel.map(|c| c.as_str().to_owned());
        match &self.backend {
            Backend::Postgres(pg) => {
                ops::pg::list_deliveries(&mut *pg.conn().await?, channel.as_deref(), after, limit)
                    .await
            }
            Backend::Sqlite(sqlite) => {
                sqlite
                    .run(move |c| ops::sqlite::list_deliveries(c, channel.as_deref(), after, limit))
                    .await
            }
        }
    }

    async fn failures_since_op(
        &self,
        channel: &ChannelName,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        let since = crate::schema::DbTime(since);
        match &self.backend {
            Backend::Postgres(pg) => {
                ops::pg::failures_since(&mut *pg.conn().await?, channel.as_str(), since).await
            }
            Backend::Sqlite(sqlite) => {
                let channel = channel.clone();
                sqlite
                    .run(move |c| ops::sqlite::failures_since(c, channel.as_str(), since))
                    .await
            }
        }
    }

    async fn cursor_op(&self, channel: &ChannelName) -> Result<Option<u64>, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => {
                ops::pg::cursor(&mut *pg.conn().await?, channel.as_str()).await
            }
            Backend::Sqlite(sqlite) => {
                let channel = channel.clone();
                sqlite
                    .run(move |c| ops::sqlite::cursor(c, channel.as_str()))
                    .await
            }
        }
    }

    async fn advance_cursor_op(
        &self,
        channel: &ChannelName,
        revision: u64,
        term: Term,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => {
                let mut conn = pg.conn().await?;
                conn.transaction(async |c| {
                    crate::pg::check_term(crate::pg::lease_row(c, false).await?, term)?;
                    ops::pg::advance_cursor(c, channel.as_str(), revision).await
                })
                .await
            }
            Backend::Sqlite(sqlite) => {
                let channel = channel.clone();
                sqlite
                    .write(move |c| {
                        crate::sqlite::check_term(crate::sqlite::lease_row(c)?, term)?;
                        ops::sqlite::advance_cursor(c, channel.as_str(), revision)
                    })
                    .await
            }
        }
    }
}

#[async_trait]
impl DeliveryLog for Store {
    async fn record_delivery(&self, delivery: &Delivery) -> Result<(), RepositoryError> {
        self.bounded("record_delivery", self.record_delivery_op(delivery))
            .await
    }

    async fn list_deliveries(
        &self,
        channel: Option<ChannelName>,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError> {
        self.bounded(
            "list_deliveries",
            self.list_deliveries_op(channel.as_ref(), None, limit),
        )
        .await
    }

    async fn deliveries_after(
        &self,
        channel: &ChannelName,
        revision: u64,
        limit: u32,
    ) -> Result<Vec<Delivery>, RepositoryError> {
        self.bounded(
            "deliveries_after",
            self.list_deliveries_op(Some(channel), Some(revision), limit),
        )
        .await
    }

    async fn failures_since(
        &self,
        channel: &ChannelName,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, RepositoryError> {
        self.bounded("failures_since", self.failures_since_op(channel, since))
            .await
    }

    async fn cursor(&self, channel: &ChannelName) -> Result<Option<u64>, RepositoryError> {
        self.bounded("cursor", self.cursor_op(channel)).await
    }

    async fn advance_cursor(
        &self,
        channel: &ChannelName,
        revision: u64,
        term: Term,
    ) -> Result<(), RepositoryError> {
        self.bounded(
            "advance_cursor",
            self.advance_cursor_op(channel, revision, term),
        )
        .await
    }
}

#[async_trait]
impl ChannelStore for Store {
    async fn create_channel(&self, spec: &ChannelSpec) -> Result<ChannelWrite, RepositoryError> {
        self.bounded("create_channel", self.create_channel_op(spec))
            .await
    }

    async fn list_channels(&self) -> Result<Vec<Channel>, RepositoryError> {
        self.bounded("list_channels", self.list_channels_op()).await
    }

    async fn get_channel(&self, name: &ChannelName) -> Result<Option<Channel>, RepositoryError> {
        self.bounded("get_channel", self.get_channel_op(name)).await
    }

    async fn replace_channel(
        &self,
        spec: &ChannelSpec,
    ) -> Result<Option<Channel>, RepositoryError> {
        self.bounded("replace_channel", self.replace_channel_op(spec))
            .await
    }

    async fn delete_channel(&self, name: &ChannelName) -> Result<bool, RepositoryError> {
        self.bounded("delete_channel", self.delete_channel_op(name))
            .await
    }
}
