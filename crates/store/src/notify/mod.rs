//! Notifications on the store: the domain's [`ChannelStore`] on both backends.

mod ops;
mod rows;
mod schema;

use async_trait::async_trait;
use diesel_async::AsyncConnection;
use federation_domain::notify::{Channel, ChannelName, ChannelSpec, ChannelStore, ChannelWrite};
use federation_domain::RepositoryError;

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
