//! Converting a database the original Python service built (alembic migrations
//! `001_projects_table`, `002_heartbeat_idx`).
//!
//! Detected by its `alembic_version` table. In ONE transaction: every row of its
//! `projects` is validated by the domain (the rules of a POST), the table is renamed
//! away, our first migration is applied, the rows are written back with their ids,
//! statuses, tags (JSON → `project_tags`) and times, and the original's table, its
//! enum type `project_status` and `alembic_version` are dropped; our first migration is
//! then recorded as applied so the migration harness runs the others (the change log's
//! seeds one `registered` row per project). A row that breaks a rule refuses the whole
//! conversion (nothing changes) unless the caller asked to set such rows aside: they
//! are then kept as they were in `original_projects_set_aside`, with the reason.

use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamptz};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use federation_domain::{RegistrationInput, Status, ValidationError};

use crate::error::StoreError;

/// Our first PostgreSQL migration, applied inside the conversion's transaction.
const FIRST_MIGRATION_SQL: &str =
    include_str!("../../../migrations/postgres/2025-01-01-000000_create_catalog/up.sql");
/// The version the migration harness records for it.
const FIRST_MIGRATION_VERSION: &str = "20250101000000";
/// Where `--set-aside-invalid` keeps the rows it did not convert.
pub const SET_ASIDE_TABLE: &str = "original_projects_set_aside";

/// How to treat the original's rows that break one of our rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConversionOptions {
    /// Keep such rows, unchanged, in [`SET_ASIDE_TABLE`] and convert the rest, instead
    /// of refusing the conversion.
    pub set_aside_invalid: bool,
}

/// One project carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertedProject {
    /// Its id, the original's.
    pub id: i64,
    /// Its slug.
    pub slug: String,
    /// Its status, the original's.
    pub status: Status,
    /// How many tags.
    pub tags: usize,
}

/// A row not converted (only with [`ConversionOptions::set_aside_invalid`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAsideRow {
    /// The original's id.
    pub id: i64,
    /// The original's slug.
    pub slug: String,
    /// The field and the rule it breaks.
    pub reason: String,
}

/// What the conversion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conversion {
    /// The alembic revision the database was at.
    pub alembic_version: String,
    /// The projects converted, by id.
    pub converted: Vec<ConvertedProject>,
    /// The rows kept aside.
    pub set_aside: Vec<SetAsideRow>,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    present: bool,
}

#[derive(QueryableByName)]
struct AlembicVersion {
    #[diesel(sql_type = Text)]
    version_num: String,
}

#[derive(QueryableByName)]
pub(crate) struct OriginalRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    slug: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    hub_url: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    mesh_namespace: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tags: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_heartbeat_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    created_at: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    updated_at: DateTime<Utc>,
}

/// A row validated, ready to write.
pub(crate) struct Converted {
    row_id: i64,
    pub(crate) registration: federation_domain::Registration,
    status: Status,
    last_heartbeat_at: Option<DateTime<Utc>>,
    pub(crate) created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Validates one of the original's rows by our rules.
fn validate(row: &OriginalRow) -> Result<Converted, ValidationError> {
    let tags = match row.tags.as_deref() {
        None => None,
        Some(json) => serde_json::from_str::<Option<Vec<String>>>(json).map_err(|e| {
            ValidationError::new("tags", format!("must be a JSON list of strings ({e})"))
        })?,
    };
    let registration = RegistrationInput {
        slug: row.slug.clone(),
        name: row.name.clone(),
        hub_url: row.hub_url.clone(),
        mesh_namespace: row.mesh_namespace.clone(),
        tags,
        metadata: None,
        heartbeat_interval: None,
    }
    .validate()?;
    let status = Status::parse(row.status.as_deref().unwrap_or_default())?;
    Ok(Converted {
        row_id: row.id,
        registration,
        status,
        last_heartbeat_at: row.last_heartbeat_at,
        created_at: row.created_at,
        updated_at: row.updated_at.max(row.created_at),
    })
}

/// Whether `conn`'s database was built by the original (it has `alembic_version` and
/// the original's `projects`).
pub async fn is_original(conn: &mut AsyncPgConnection) -> Result<bool, StoreError> {
    let flag: Flag = diesel::sql_query(
        "SELECT to_regclass('public.alembic_version') IS NOT NULL \
                AND to_regclass('public.projects') IS NOT NULL AS present",
    )
    .get_result(conn)
    .await?;
    Ok(flag.present)
}

/// Converts the original's database in place (see the module docs); `None` when `conn`'s
/// database is not one the original built. Take the migration lock first.
pub async fn convert(
    conn: &mut AsyncPgConnection,
    options: ConversionOptions,
) -> Result<Option<Conversion>, StoreError> {
    if !is_original(conn).await? {
        return Ok(None);
    }
    conn.transaction(async |c| convert_in(c, options).await.map(Some))
        .await
}

async fn convert_in(
    c: &mut AsyncPgConnection,
    options: ConversionOptions,
) -> Result<Conversion, StoreError> {
    c.batch_execute("LOCK TABLE public.projects, public.alembic_version IN ACCESS EXCLUSIVE MODE")
        .await?;
    let (alembic_version, rows) = read_original(c).await?;
    let (good, set_aside) = match check_rows(&rows, options.set_aside_invalid) {
        Ok(sorted) => sorted,
        Err((id, slug, error)) => {
            return Err(StoreError::OriginalRow {
                id,
                slug,
                field: error.field,
                message: error.message,
            })
        }
    };
    convert_checked(c, alembic_version, good, set_aside).await
}

/// The original's alembic revision and its `projects` rows, by id.
pub(crate) async fn read_original(
    c: &mut AsyncPgConnection,
) -> Result<(String, Vec<OriginalRow>), StoreError> {
    let alembic_version = diesel::sql_query("SELECT version_num::text FROM public.alembic_version")
        .load::<AlembicVersion>(c)
        .await?
        .into_iter()
        .map(|v| v.version_num)
        .collect::<Vec<_>>()
        .join(",");
    let rows: Vec<OriginalRow> = diesel::sql_query(
        "SELECT id::bigint AS id, slug::text AS slug, name::text AS name, \
                hub_url::text AS hub_url, mesh_namespace::text AS mesh_namespace, \
                status::text AS status, tags::text AS tags, last_heartbeat_at, \
                COALESCE(created_at, updated_at, now()) AS created_at, \
                COALESCE(updated_at, created_at, now()) AS updated_at \
         FROM public.projects ORDER BY id",
    )
    .load(c)
    .await?;
    Ok((alembic_version, rows))
}

/// A row that breaks a rule: its id, its slug and the rule.
pub(crate) type RowRefusal = (i64, String, ValidationError);

/// Validates every row by our rules: those that pass, and (with `keep_going`) those
/// that do not, with the reason; without it, the first that does not.
pub(crate) fn check_rows(
    rows: &[OriginalRow],
    keep_going: bool,
) -> Result<(Vec<Converted>, Vec<SetAsideRow>), RowRefusal> {
    let mut good = Vec::with_capacity(rows.len());
    let mut set_aside = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for row in rows {
        let slug = row.slug.clone().unwrap_or_default();
        let checked = validate(row).and_then(|conv| {
            match seen.insert(conv.registration.slug.clone(), row.id) {
                Some(first) => Err(ValidationError::new(
                    "slug",
                    format!("is the same slug, ignoring case, as project id {first}"),
                )),
                None => Ok(conv),
            }
        });
        match checked {
            Ok(conv) => good.push(conv),
            Err(error) if keep_going => set_aside.push(SetAsideRow {
                id: row.id,
                slug,
                reason: error.to_string(),
            }),
            Err(error) => return Err((row.id, slug, error)),
        }
    }
    Ok((good, set_aside))
}

/// Writes converted rows into our `projects` and `project_tags`, with their ids.
pub(crate) async fn write_converted(
    c: &mut AsyncPgConnection,
    good: &[Converted],
) -> Result<(), StoreError> {
    for conv in good {
        let reg = &conv.registration;
        diesel::sql_query(
            "INSERT INTO projects (id, slug, name, hub_url, mesh_namespace, status, \
                                   last_heartbeat_at, created_at, updated_at) \
             OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind::<BigInt, _>(conv.row_id)
        .bind::<Text, _>(reg.slug.as_str())
        .bind::<Text, _>(reg.name.as_str())
        .bind::<Text, _>(reg.hub_url.as_str())
        .bind::<Text, _>(reg.mesh_namespace.as_str())
        .bind::<Text, _>(conv.status.as_str())
        .bind::<Nullable<Timestamptz>, _>(conv.last_heartbeat_at)
        .bind::<Timestamptz, _>(conv.created_at)
        .bind::<Timestamptz, _>(conv.updated_at)
        .execute(c)
        .await?;
        for (position, tag) in reg.tags.iter().enumerate() {
            diesel::sql_query(
                "INSERT INTO project_tags (project_id, tag, position) VALUES ($1, $2, $3)",
            )
            .bind::<BigInt, _>(conv.row_id)
            .bind::<Text, _>(tag.as_str())
            .bind::<Integer, _>(i32::try_from(position).unwrap_or(i32::MAX))
            .execute(c)
            .await?;
        }
    }
    Ok(())
}

pub(crate) fn summary(good: &[Converted]) -> Vec<ConvertedProject> {
    good.iter()
        .map(|conv| ConvertedProject {
            id: conv.row_id,
            slug: conv.registration.slug.to_string(),
            status: conv.status,
            tags: conv.registration.tags.len(),
        })
        .collect()
}

async fn convert_checked(
    c: &mut AsyncPgConnection,
    alembic_version: String,
    good: Vec<Converted>,
    set_aside: Vec<SetAsideRow>,
) -> Result<Conversion, StoreError> {
    // The original's table moves aside (its constraint name would collide with ours).
    c.batch_execute(
        "ALTER TABLE public.projects RENAME TO original_projects; \
         ALTER TABLE public.original_projects RENAME CONSTRAINT projects_pkey TO original_projects_pkey; \
         ALTER SEQUENCE IF EXISTS public.projects_id_seq RENAME TO original_projects_id_seq; \
         DROP INDEX IF EXISTS public.ix_projects_slug; \
         DROP INDEX IF EXISTS public.ix_projects_status; \
         DROP INDEX IF EXISTS public.idx_projects_status_last_heartbeat;",
    )
    .await?;
    c.batch_execute(FIRST_MIGRATION_SQL).await?;
    write_converted(c, &good).await?;
    // New registrations continue after the original's highest id.
    c.batch_execute(
        "SELECT setval(pg_get_serial_sequence('projects', 'id'), \
                       GREATEST((SELECT MAX(id) FROM original_projects), \
                                (SELECT MAX(id) FROM projects), 1))",
    )
    .await?;
    if set_aside.is_empty() {
        c.batch_execute("DROP TABLE public.original_projects")
            .await?;
    } else {
        c.batch_execute(&format!(
            "ALTER TABLE public.original_projects RENAME TO {SET_ASIDE_TABLE}; \
             ALTER TABLE public.{SET_ASIDE_TABLE} ALTER COLUMN status TYPE TEXT USING status::text; \
             ALTER TABLE public.{SET_ASIDE_TABLE} ALTER COLUMN id DROP DEFAULT; \
             ALTER TABLE public.{SET_ASIDE_TABLE} ADD COLUMN set_aside_because TEXT;"
        ))
        .await?;
        let kept: Vec<i64> = set_aside.iter().map(|r| r.id).collect();
        diesel::sql_query(format!("DELETE FROM {SET_ASIDE_TABLE} WHERE id <> ALL($1)"))
            .bind::<diesel::sql_types::Array<BigInt>, _>(&kept)
            .execute(c)
            .await?;
        for row in &set_aside {
            diesel::sql_query(format!(
                "UPDATE {SET_ASIDE_TABLE} SET set_aside_because = $2 WHERE id = $1"
            ))
            .bind::<BigInt, _>(row.id)
            .bind::<Text, _>(&row.reason)
            .execute(c)
            .await?;
        }
    }
    c.batch_execute(
        "DROP SEQUENCE IF EXISTS public.original_projects_id_seq; \
         DROP TABLE public.alembic_version; \
         DROP TYPE IF EXISTS public.project_status; \
         CREATE TABLE IF NOT EXISTS __diesel_schema_migrations ( \
             version VARCHAR(50) PRIMARY KEY NOT NULL, \
             run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP);",
    )
    .await?;
    diesel::sql_query(
        "INSERT INTO __diesel_schema_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind::<Text, _>(FIRST_MIGRATION_VERSION)
    .execute(c)
    .await?;
    Ok(Conversion {
        alembic_version,
        converted: summary(&good),
        set_aside,
    })
}
