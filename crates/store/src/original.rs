//! The original Python service's databases: converting one in place when migrating
//! (see [`crate::Store::run_migrations_converting`]), or importing one's projects into
//! a new store ([`import`]).

use diesel::sql_types::BigInt;
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};

use crate::backend::Backend;
use crate::convert::{check_rows, is_original, read_original, summary, write_converted};
pub use crate::convert::{
    Conversion, ConversionOptions, ConvertedProject, SetAsideRow, SET_ASIDE_TABLE,
};
use crate::error::StoreError;
use crate::store::Store;

/// How `federation import` treats the original's rows that break one of our rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Import the rows that pass and leave the others (reported) in the original
    /// database only, instead of refusing the import.
    pub skip_invalid: bool,
}

/// Copies the projects of a database the original built (`source`, read only, left
/// as it is) into `target`, a migrated PostgreSQL store holding no project yet, in one
/// transaction: ids, statuses, tags and times kept, one `registered` change each.
/// `set_aside` of the answer lists the rows skipped.
pub async fn import(
    source: &str,
    target: &Store,
    options: ImportOptions,
) -> Result<Conversion, StoreError> {
    let Backend::Postgres(pg) = &target.backend else {
        return Err(StoreError::Migration(
            "import writes into PostgreSQL only: set DATABASE_URL (or --database-url) to a \
             postgres:// database"
                .into(),
        ));
    };
    let source_url = crate::DatabaseUrl::parse(source)?;
    let crate::DatabaseUrl::Postgres(source_pg) = &source_url else {
        return Err(StoreError::InvalidUrl(
            "--from must name the original's PostgreSQL database".into(),
        ));
    };
    let mut src = crate::pgconn::PgConnector::new(source_pg)?
        .open(target.connect_timeout)
        .await?;
    if !is_original(&mut src).await? {
        return Err(StoreError::Migration(format!(
            "{} is not a database of the original service (no alembic_version and projects)",
            source_url.redacted()
        )));
    }
    let (alembic_version, rows) = src
        .build_transaction()
        .read_only()
        .repeatable_read()
        .run(async |c| read_original(c).await)
        .await?;
    let (good, skipped) = match check_rows(&rows, options.skip_invalid) {
        Ok(sorted) => sorted,
        Err((id, slug, error)) => {
            return Err(StoreError::OriginalImportRow {
                id,
                slug,
                field: error.field,
                message: error.message,
            })
        }
    };
    let mut conn = pg.conn().await?;
    conn.transaction(async |c| {
        crate::pg::lock_log(c).await?;
        let held: Count = diesel::sql_query("SELECT count(*) AS n FROM projects")
            .get_result(c)
            .await?;
        if held.n > 0 {
            return Err(StoreError::Migration(format!(
                "the target already holds {} project(s): import into a database without any",
                held.n
            )));
        }
        write_converted(c, &good).await?;
        c.batch_execute(
            "SELECT setval(pg_get_serial_sequence('projects', 'id'), \
                           GREATEST((SELECT MAX(id) FROM projects), 1))",
        )
        .await?;
        let changes: Vec<crate::log::NewChange<'_>> = good
            .iter()
            .map(|conv| {
                crate::log::NewChange::catalog(
                    "registered",
                    conv.registration.slug.as_str(),
                    crate::schema::DbTime(conv.created_at),
                )
            })
            .collect();
        crate::pg::log_changes(c, &changes).await
    })
    .await?;
    Ok(Conversion {
        alembic_version,
        converted: summary(&good),
        set_aside: skipped,
    })
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}
