//! Objectives made over REST on the store: the domain's [`SloStore`] on both backends
//! (table `slos`, migrations `2026-12-02-150000_slos`).

use async_trait::async_trait;
use diesel::prelude::*;
use federation_domain::uptime::{Objective, ObjectiveInput, SloStore, SloWrite};
use federation_domain::RepositoryError;

use crate::backend::Backend;
use crate::error::StoreError;
use crate::rows::now_micros;
use crate::schema::DbTime;
use crate::store::Store;

diesel::table! {
    use diesel::sql_types::*;
    use crate::schema::UtcTime;

    slos (name) {
        name -> Text,
        kind -> Text,
        subject -> Text,
        objective -> Double,
        time_window -> Text,
        updated_at -> UtcTime,
    }
}

/// One `slos` row.
#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = slos)]
pub(crate) struct SloRow {
    pub name: String,
    pub kind: String,
    pub subject: String,
    pub objective: f64,
    pub time_window: String,
    pub updated_at: DbTime,
}

impl SloRow {
    fn new(o: &Objective, now: DbTime) -> Self {
        Self {
            name: o.name.clone(),
            kind: o.subject.kind().to_owned(),
            subject: o.subject.name().to_owned(),
            objective: o.percent,
            time_window: o.window.clone(),
            updated_at: now,
        }
    }

    /// The objective, validated again (a row that no longer validates is corrupt).
    fn into_objective(self) -> Result<Objective, StoreError> {
        let (project, tag) = match self.kind.as_str() {
            "project" => (Some(self.subject), None),
            _ => (None, Some(self.subject)),
        };
        ObjectiveInput {
            name: Some(self.name.clone()),
            project,
            tag,
            objective: Some(self.objective),
            window: Some(self.time_window),
        }
        .validate()
        .map_err(|e| StoreError::Corrupt(format!("slo {}: {e}", self.name)))
    }
}

/// Expands the statements for one connection type (`[async] [.await]` or `[] []`).
macro_rules! slo_ops {
    ($conn:ty, [$($async_kw:tt)*], [$($aw:tt)*]) => {
        use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};

        use super::{slos as t, SloRow};
        use crate::error::StoreError;

        pub(crate) $($async_kw)* fn list(conn: &mut $conn) -> Result<Vec<SloRow>, StoreError> {
            Ok(t::table
                .order(t::name.asc())
                .select(SloRow::as_select())
                .load(conn)$($aw)*?)
        }

        pub(crate) $($async_kw)* fn put(
            conn: &mut $conn,
            row: &SloRow,
        ) -> Result<federation_domain::uptime::SloWrite, StoreError> {
            use federation_domain::uptime::{SloWrite, SLOS_MAX};
            let exists: Option<String> = t::table
                .filter(t::name.eq(&row.name))
                .select(t::name)
                .first(conn)$($aw)*
                .optional()?;
            if exists.is_some() {
                diesel::update(t::table.filter(t::name.eq(&row.name)))
                    .set(row)
                    .execute(conn)$($aw)*?;
                return Ok(SloWrite::Replaced);
            }
            let count: i64 = t::table.count().get_result(conn)$($aw)*?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= SLOS_MAX {
                return Ok(SloWrite::Full);
            }
            diesel::insert_into(t::table).values(row).execute(conn)$($aw)*?;
            Ok(SloWrite::Created)
        }

        pub(crate) $($async_kw)* fn delete(conn: &mut $conn, name: &str) -> Result<bool, StoreError> {
            let n = diesel::delete(t::table.filter(t::name.eq(name))).execute(conn)$($aw)*?;
            Ok(n > 0)
        }
    };
}

mod pg {
    use diesel_async::{AsyncPgConnection, RunQueryDsl};
    slo_ops!(AsyncPgConnection, [async], [.await]);
}

mod sqlite {
    use diesel::{RunQueryDsl, SqliteConnection};
    slo_ops!(SqliteConnection, [], []);
}

impl Store {
    async fn list_slos_op(&self) -> Result<Vec<Objective>, StoreError> {
        let rows = match &self.backend {
            Backend::Postgres(pg) => pg::list(&mut *pg.conn().await?).await?,
            Backend::Sqlite(db) => db.run(sqlite::list).await?,
        };
        rows.into_iter().map(SloRow::into_objective).collect()
    }

    async fn put_slo_op(&self, objective: &Objective) -> Result<SloWrite, StoreError> {
        let row = SloRow::new(objective, DbTime(now_micros()));
        match &self.backend {
            Backend::Postgres(pg) => {
                use diesel_async::AsyncConnection;
                let mut conn = pg.conn().await?;
                conn.transaction(async |c| pg::put(c, &row).await).await
            }
            Backend::Sqlite(db) => db.write(move |c| sqlite::put(c, &row)).await,
        }
    }

    async fn delete_slo_op(&self, name: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Postgres(pg) => pg::delete(&mut *pg.conn().await?, name).await,
            Backend::Sqlite(db) => {
                let name = name.to_owned();
                db.write(move |c| sqlite::delete(c, &name)).await
            }
        }
    }
}

#[async_trait]
impl SloStore for Store {
    async fn list_slos(&self) -> Result<Vec<Objective>, RepositoryError> {
        self.bounded("list_slos", self.list_slos_op()).await
    }

    async fn put_slo(&self, objective: &Objective) -> Result<SloWrite, RepositoryError> {
        self.bounded("put_slo", self.put_slo_op(objective)).await
    }

    async fn delete_slo(&self, name: &str) -> Result<bool, RepositoryError> {
        self.bounded("delete_slo", self.delete_slo_op(name)).await
    }
}
