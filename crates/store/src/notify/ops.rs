//! The notification statements, written once for both backends (expanded like
//! [`crate::reads`]: `[async] [.await]` or `[] []`). Each runs inside the caller's
//! transaction or on its connection.

/// Expands the notification operations for one connection type.
macro_rules! notify_ops {
    ($conn:ty, [$($async_kw:tt)*], [$($aw:tt)*]) => {
        use diesel::prelude::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
        use federation_domain::notify::{ChannelSpec, ChannelWrite, CHANNELS_MAX};

        use crate::error::StoreError;
        use crate::notify::rows::ChannelRow;
        use crate::notify::schema::notify_channels as ch;
        use crate::schema::DbTime;

        pub(crate) $($async_kw)* fn create(
            conn: &mut $conn,
            spec: &ChannelSpec,
            now: DbTime,
        ) -> Result<ChannelWrite, StoreError> {
            let row = ChannelRow::new(spec, now)?;
            let exists: Option<String> = ch::table
                .filter(ch::name.eq(&row.name))
                .select(ch::name)
                .first(conn)$($aw)*
                .optional()?;
            if exists.is_some() {
                return Ok(ChannelWrite::Exists);
            }
            let count: i64 = ch::table.count().get_result(conn)$($aw)*?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= CHANNELS_MAX {
                return Ok(ChannelWrite::Full);
            }
            diesel::insert_into(ch::table).values(&row).execute(conn)$($aw)*?;
            Ok(ChannelWrite::Created(Box::new(row.into_channel()?)))
        }

        pub(crate) $($async_kw)* fn list(
            conn: &mut $conn,
        ) -> Result<Vec<federation_domain::notify::Channel>, StoreError> {
            let rows: Vec<ChannelRow> = ch::table
                .order(ch::name.asc())
                .select(ChannelRow::as_select())
                .load(conn)$($aw)*?;
            rows.into_iter().map(ChannelRow::into_channel).collect()
        }

        pub(crate) $($async_kw)* fn get(
            conn: &mut $conn,
            name: &str,
        ) -> Result<Option<federation_domain::notify::Channel>, StoreError> {
            let row: Option<ChannelRow> = ch::table
                .filter(ch::name.eq(name))
                .select(ChannelRow::as_select())
                .first(conn)$($aw)*
                .optional()?;
            row.map(ChannelRow::into_channel).transpose()
        }

        pub(crate) $($async_kw)* fn replace(
            conn: &mut $conn,
            spec: &ChannelSpec,
            now: DbTime,
        ) -> Result<Option<federation_domain::notify::Channel>, StoreError> {
            let row = ChannelRow::new(spec, now)?;
            let n = diesel::update(ch::table.filter(ch::name.eq(&row.name)))
                .set((
                    ch::kind.eq(&row.kind),
                    ch::url.eq(&row.url),
                    ch::secret.eq(&row.secret),
                    ch::rules.eq(&row.rules),
                    ch::enabled.eq(row.enabled),
                    ch::email.eq(&row.email),
                    ch::updated_at.eq(now),
                ))
                .execute(conn)$($aw)*?;
            if n == 0 {
                return Ok(None);
            }
            get(conn, &row.name)$($aw)*
        }

        pub(crate) $($async_kw)* fn delete(conn: &mut $conn, name: &str) -> Result<bool, StoreError> {
            use crate::notify::schema::{notify_cursors as cu, notify_deliveries as d};
            // Children first: SQLite enforces the foreign keys only with the pragma on.
            diesel::delete(d::table.filter(d::channel.eq(name))).execute(conn)$($aw)*?;
            diesel::delete(cu::table.filter(cu::channel.eq(name))).execute(conn)$($aw)*?;
            let n = diesel::delete(ch::table.filter(ch::name.eq(name))).execute(conn)$($aw)*?;
            Ok(n > 0)
        }

        pub(crate) $($async_kw)* fn record_delivery(
            conn: &mut $conn,
            d: &federation_domain::notify::Delivery,
        ) -> Result<(), StoreError> {
            use crate::notify::rows::NewDeliveryRow;
            use crate::notify::schema::notify_deliveries as d;
            diesel::insert_into(d::table)
                .values(NewDeliveryRow::new(d))
                .execute(conn)$($aw)*?;
            Ok(())
        }

        pub(crate) $($async_kw)* fn failures_since(
            conn: &mut $conn,
            channel: &str,
            since: DbTime,
        ) -> Result<u64, StoreError> {
            use crate::notify::schema::notify_deliveries as d;
            let n: i64 = d::table
                .filter(d::channel.eq(channel))
                .filter(d::status.eq("failed"))
                .filter(d::at.ge(since))
                .count()
                .get_result(conn)$($aw)*?;
            Ok(u64::try_from(n).unwrap_or_default())
        }

        pub(crate) $($async_kw)* fn list_deliveries(
            conn: &mut $conn,
            channel: Option<&str>,
            after: Option<u64>,
            limit: u32,
        ) -> Result<Vec<federation_domain::notify::Delivery>, StoreError> {
            use crate::notify::rows::DeliveryRow;
            use crate::notify::schema::notify_deliveries as d;
            let mut q = d::table.into_boxed();
            if let Some(channel) = channel {
                q = q.filter(d::channel.eq(channel.to_owned()));
            }
            if let Some(after) = after {
                q = q.filter(d::revision.gt(i64::try_from(after).unwrap_or(i64::MAX)));
            }
            let rows: Vec<DeliveryRow> = q
                .order(d::id.desc())
                .limit(i64::from(limit))
                .select(DeliveryRow::as_select())
                .load(conn)$($aw)*?;
            rows.into_iter().map(DeliveryRow::into_delivery).collect()
        }

        pub(crate) $($async_kw)* fn cursor(
            conn: &mut $conn,
            channel: &str,
        ) -> Result<Option<u64>, StoreError> {
            use crate::notify::schema::notify_cursors as cu;
            let r: Option<i64> = cu::table
                .filter(cu::channel.eq(channel))
                .select(cu::revision)
                .first(conn)$($aw)*
                .optional()?;
            Ok(r.map(|r| u64::try_from(r).unwrap_or_default()))
        }

        /// Moves the cursor forward (never back); the caller has checked the term.
        /// Nothing is written for a channel that no longer exists.
        pub(crate) $($async_kw)* fn advance_cursor(
            conn: &mut $conn,
            channel: &str,
            revision: u64,
        ) -> Result<(), StoreError> {
            use crate::notify::schema::notify_cursors as cu;
            let revision = i64::try_from(revision).unwrap_or(i64::MAX);
            let n = diesel::update(
                cu::table
                    .filter(cu::channel.eq(channel))
                    .filter(cu::revision.lt(revision)),
            )
            .set(cu::revision.eq(revision))
            .execute(conn)$($aw)*?;
            if n > 0 || cursor(conn, channel)$($aw)*?.is_some() {
                return Ok(());
            }
            let exists: Option<String> = ch::table
                .filter(ch::name.eq(channel))
                .select(ch::name)
                .first(conn)$($aw)*
                .optional()?;
            if exists.is_some() {
                diesel::insert_into(cu::table)
                    .values((cu::channel.eq(channel), cu::revision.eq(revision)))
                    .execute(conn)$($aw)*?;
            }
            Ok(())
        }
    };
}

/// PostgreSQL.
pub(crate) mod pg {
    use diesel_async::{AsyncPgConnection, RunQueryDsl};
    notify_ops!(AsyncPgConnection, [async], [.await]);
}

/// SQLite.
pub(crate) mod sqlite {
    use diesel::{RunQueryDsl, SqliteConnection};
    notify_ops!(SqliteConnection, [], []);
}
