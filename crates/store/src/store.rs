//! The store handle: pools, connection set-up and migrations.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::backend::{Backend, Postgres, Sqlite, SqliteConn};
use crate::convert::{Conversion, ConversionOptions};
use crate::error::StoreError;
use crate::group::Group;
use crate::pgconn::PgConnector;
use crate::totals::Totals;
use crate::url::DatabaseUrl;

/// The PostgreSQL schema, compiled in.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// The SQLite schema, compiled in.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Set on every pooled SQLite connection. `busy_timeout` comes first: switching to WAL
/// needs a lock, and without the timeout a connection opened while another one (say,
/// a previous instance finishing its last flush) writes fails at once with "database
/// is locked".
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";

/// SQLite serialises writers anyway; a few connections serve concurrent readers.
const SQLITE_MAX_CONNECTIONS: usize = 4;

/// An arbitrary, fixed key for the advisory lock that keeps two replicas from migrating
/// the same PostgreSQL database at once.
const MIGRATION_LOCK_KEY: i64 = 0x6665_645f_6d69_6772; // "fed_migr"

/// Pool sizing and patience.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Most connections held at once (PostgreSQL; SQLite uses at most 4).
    pub max_connections: usize,
    /// How long opening one connection may take (TCP, authentication, session set-up).
    pub connect_timeout: Duration,
    /// How long an operation waits for a connection (a free pooled one, or a new one
    /// being opened) before it fails as unavailable.
    pub pool_timeout: Duration,
    /// How long an operation's statements may take once it holds a connection.
    /// PostgreSQL ends a single statement running longer (`statement_timeout`, set on
    /// every pooled connection), and the store stops waiting for the operation after it
    /// (a frozen server never answers, so the client side needs its own deadline); an
    /// abandoned transaction is rolled back and its connection discarded.
    pub statement_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            pool_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// A connected store: PostgreSQL or SQLite behind one pool. Cheap to clone (shares the
/// pool).
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    url: Arc<DatabaseUrl>,
    /// How long to wait for a pooled connection (each backend holds it too).
    pub(crate) timeout: Duration,
    /// Opens PostgreSQL connections outside the pool (migrations, the listener).
    pg: Option<Arc<PgConnector>>,
    /// How long to wait for a new connection to open.
    pub(crate) connect_timeout: Duration,
    /// How long an operation may take once it holds a connection.
    pub(crate) statement_timeout: Duration,
    /// Recent list totals (see [`crate::totals`]).
    pub(crate) totals: Arc<Totals>,
    /// Registrations waiting to be written together (see [`crate::group`]).
    pub(crate) group: Arc<Group>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("url", &self.url.redacted())
            .finish()
    }
}

impl Store {
    /// Opens a pool and checks that one connection works. For SQLite, creates the file
    /// and its parent folder when missing. Does not migrate: see [`Store::run_migrations`].
    pub async fn connect(url: &DatabaseUrl, opts: StoreOptions) -> Result<Store, StoreError> {
        let max = opts.max_connections.max(1);
        let (connect_timeout, statement_timeout) = (opts.connect_timeout, opts.statement_timeout);
        let mut pg = None;
        let backend = match url {
            DatabaseUrl::Postgres(u) => {
                let connector = Arc::new(PgConnector::new(u)?);
                pg = Some(connector.clone());
                let mut config = ManagerConfig::<AsyncPgConnection>::default();
                config.recycling_method = RecyclingMethod::CustomFunction(Box::new(recycle_check));
                config.custom_setup = Box::new(move |_url| {
                    Box::pin(establish_postgres(
                        connector.clone(),
                        connect_timeout,
                        statement_timeout,
                    ))
                });
                let manager = AsyncDieselConnectionManager::new_with_config(
                    u.driver_url().to_owned(),
                    config,
                );
                let pool = Pool::builder(manager)
                    .max_size(max)
                    .build()
                    .map_err(|e| StoreError::Pool(e.to_string()))?;
                Backend::Postgres(Postgres::new(pool, opts.pool_timeout))
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                        context: format!("creating {}", parent.display()),
                        source,
                    })?;
                }
                let path = path.to_str().ok_or_else(|| {
                    StoreError::InvalidUrl("the SQLite path is not valid UTF-8".to_owned())
                })?;
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|url| Box::pin(establish_sqlite(url.to_owned())));
                let manager = AsyncDieselConnectionManager::new_with_config(path, config);
                let pool = Pool::builder(manager)
                    .max_size(max.min(SQLITE_MAX_CONNECTIONS))
                    .build()
                    .map_err(|e| StoreError::Pool(e.to_string()))?;
                Backend::Sqlite(Sqlite::new(pool, opts.pool_timeout))
            }
        };
        let store = Store {
            backend,
            url: Arc::new(url.clone()),
            pg,
            timeout: opts.pool_timeout,
            connect_timeout,
            statement_timeout,
            totals: Arc::default(),
            group: Arc::default(),
        };
        store.check().await?;
        Ok(store)
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// Whether several replicas can share this database (PostgreSQL; an embedded SQLite
    /// file belongs to one process).
    pub fn is_shared(&self) -> bool {
        matches!(*self.url, DatabaseUrl::Postgres(_))
    }

    /// The database this store uses, password masked.
    pub fn redacted_url(&self) -> String {
        self.url.redacted()
    }

    /// Applies every embedded migration not yet applied, in order; returns the versions
    /// applied now (empty when the schema was up to date). On PostgreSQL an advisory lock
    /// keeps concurrent replicas from migrating at the same time.
    ///
    /// Runs the migration harness on tokio's blocking pool, so it works on either
    /// runtime flavour.
    pub async fn run_migrations(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.migrate(true, ConversionOptions::default()).await?.1)
    }

    /// As [`Store::run_migrations`], first converting a database the Python original
    /// built (see [`crate::convert`]); returns what the conversion did, if it ran.
    pub async fn run_migrations_converting(
        &self,
        options: ConversionOptions,
    ) -> Result<(Option<Conversion>, Vec<String>), StoreError> {
        self.migrate(true, options).await
    }

    /// The versions of the embedded migrations not yet applied.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.migrate(false, ConversionOptions::default()).await?.1)
    }

    async fn migrate(
        &self,
        apply: bool,
        options: ConversionOptions,
    ) -> Result<(Option<Conversion>, Vec<String>), StoreError> {
        match &self.backend {
            Backend::Postgres(_) => {
                let Some(pg) = &self.pg else {
                    return Err(StoreError::Migration("backend and url disagree".into()));
                };
                let mut conn = pg.open(self.connect_timeout).await?;
                if apply {
                    diesel_async::RunQueryDsl::execute(
                        diesel::sql_query("SELECT pg_advisory_lock($1)")
                            .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY),
                        &mut conn,
                    )
                    .await?;
                }
                let conversion = if apply {
                    match crate::convert::convert(&mut conn, options).await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = diesel_async::RunQueryDsl::execute(
                                diesel::sql_query("SELECT pg_advisory_unlock($1)")
                                    .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY),
                                &mut conn,
                            )
                            .await;
                            return Err(e);
                        }
                    }
                } else {
                    None
                };
                // The harness drives the async connection with block_in_place/block_on,
                // which is only allowed off the async worker threads.
                let (conn, result) = tokio::task::spawn_blocking(move || {
                    let mut harness = AsyncMigrationHarness::new(conn);
                    let result = run_harness(&mut harness, POSTGRES_MIGRATIONS, apply);
                    (harness.into_inner(), result)
                })
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?;
                let mut conn = conn;
                if apply {
                    // Dropping the connection would release it too; unlock to be tidy.
                    let _ = diesel_async::RunQueryDsl::execute(
                        diesel::sql_query("SELECT pg_advisory_unlock($1)")
                            .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY),
                        &mut conn,
                    )
                    .await;
                }
                result.map(|applied| (conversion, applied))
            }
            Backend::Sqlite(sqlite) => {
                let _guard = sqlite.lock_writes().await;
                sqlite
                    .run(move |conn| run_harness(conn, SQLITE_MIGRATIONS, apply))
                    .await
                    .map(|applied| (None, applied))
            }
        }
    }

    /// Opens one connection and runs a trivial query.
    async fn check(&self) -> Result<(), StoreError> {
        self.backend.ops().ping().await
    }
}

/// Set on every pooled PostgreSQL connection: a session left idle inside a transaction
/// (a replica frozen mid-write, a SIGSTOP, a stalled VM) is ended by the server after
/// this long, so its locks (the log's advisory lock, the lease row) do not stop every
/// other replica from writing or taking over the sweep; and no statement runs longer
/// than the statement timeout.
fn postgres_session(statement_timeout: Duration) -> String {
    format!(
        "SET idle_in_transaction_session_timeout = '5s'; SET statement_timeout = '{}ms'",
        statement_timeout.as_millis().max(1)
    )
}

/// The pool's check of an idle connection before it hands it out again (in place of
/// `SELECT 1`, one round trip as well, the statement prepared once per connection): its
/// server answers and still takes writes. A connection whose server has turned
/// read-only (a demoted primary, a standby behind a stale DNS name or balancer,
/// `default_transaction_read_only` set to fence it) is dropped, not reused, and the pool
/// opens a new one, which goes to the host that takes writes
/// (`target_session_attrs=read-write`) or, through a name, to wherever it points now. A
/// write refused there (SQLSTATE 25006) is `unavailable`, never served again on that
/// connection.
fn recycle_check(
    conn: &mut AsyncPgConnection,
) -> futures::future::BoxFuture<'_, diesel::QueryResult<()>> {
    Box::pin(takes_writes(conn))
}

/// See [`recycle_check`].
async fn takes_writes(conn: &mut AsyncPgConnection) -> diesel::QueryResult<()> {
    #[derive(diesel::QueryableByName)]
    struct Session {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        read_only: bool,
    }
    let session: Session = diesel_async::RunQueryDsl::get_result(
        crate::prepared::Prepared::new(
            "SELECT current_setting('transaction_read_only')::bool AS read_only",
            Vec::new(),
        ),
        conn,
    )
    .await?;
    if session.read_only {
        return Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ReadOnlyTransaction,
            Box::new(
                "the server no longer takes writes (a standby, or a read-only primary)".to_owned(),
            ),
        ));
    }
    Ok(())
}

/// Opens a pooled PostgreSQL connection: at most `connect_timeout` for the connection
/// (TCP, TLS, authentication) and its session set-up together.
async fn establish_postgres(
    connector: Arc<PgConnector>,
    connect_timeout: Duration,
    statement_timeout: Duration,
) -> diesel::ConnectionResult<AsyncPgConnection> {
    let open = async {
        let mut conn = connector.open(connect_timeout).await.map_err(|e| {
            diesel::ConnectionError::BadConnection(match e {
                StoreError::Connect(why) => why,
                other => other.to_string(),
            })
        })?;
        conn.batch_execute(&postgres_session(statement_timeout))
            .await
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    };
    tokio::time::timeout(connect_timeout, open)
        .await
        .unwrap_or_else(|_| {
            Err(diesel::ConnectionError::BadConnection(format!(
                "the database did not answer within {connect_timeout:?}"
            )))
        })
}

async fn establish_sqlite(path: String) -> diesel::ConnectionResult<SqliteConn> {
    let mut conn = SqliteConn::establish(&path).await?;
    conn.batch_execute(SQLITE_PRAGMAS)
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

fn run_harness<DB, H>(
    harness: &mut H,
    migrations: EmbeddedMigrations,
    apply: bool,
) -> Result<Vec<String>, StoreError>
where
    DB: diesel::backend::Backend,
    H: MigrationHarness<DB>,
    EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    let versions = if apply {
        harness
            .run_pending_migrations(migrations)
            .map_err(|e| StoreError::Migration(e.to_string()))?
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    } else {
        harness
            .pending_migrations(migrations)
            .map_err(|e| StoreError::Migration(e.to_string()))?
            .into_iter()
            .map(|m| m.name().version().to_string())
            .collect()
    };
    Ok(versions)
}

/// Wakes a follower when another transaction appended to the change log (PostgreSQL
/// `LISTEN`, on a connection of its own outside the pool).
pub struct ChangeNotifications {
    conn: AsyncPgConnection,
}

impl std::fmt::Debug for ChangeNotifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeNotifications")
            .finish_non_exhaustive()
    }
}

impl ChangeNotifications {
    /// Waits for the next notification: the last revision the notifying write appended
    /// (`None` when the payload does not say). An error means the connection is gone:
    /// open a new listener, and read the log, as changes may have been missed meanwhile.
    pub async fn next(&mut self) -> Result<Option<u64>, StoreError> {
        use futures::StreamExt;
        let mut stream = std::pin::pin!(self.conn.notifications_stream());
        match stream.next().await {
            Some(Ok(n)) => Ok(n.payload.parse().ok()),
            Some(Err(e)) => Err(StoreError::Query(e)),
            None => Err(StoreError::Connect("the listener connection closed".into())),
        }
    }
}

impl Store {
    /// A listener for changes appended by any replica; `None` on SQLite (one process
    /// writes and reads, and it catches up after its own writes).
    pub async fn listen(&self) -> Result<Option<ChangeNotifications>, StoreError> {
        let Some(pg) = &self.pg else {
            return Ok(None);
        };
        let mut conn = pg.open(self.connect_timeout).await?;
        conn.batch_execute(&format!("LISTEN {}", crate::log::CHANGES_CHANNEL))
            .await?;
        Ok(Some(ChangeNotifications { conn }))
    }
}
