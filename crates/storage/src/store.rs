//! The connection pool, backend selection by URL, migrations, and the unit of work (`Store::write`
//! / `Store::read`) that hands a `Tx` to synchronous closures on a blocking thread.

use std::path::Path;
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::r2d2::{ManageConnection, Pool, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::StoreError;
use crate::writer::{Call, Job, Ran, Writer};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// An arbitrary constant that names Shiphold's migration lock among PostgreSQL advisory locks,
/// so that two replicas starting at once do not run the same migration twice.
const MIGRATION_LOCK_KEY: i64 = 0x5368_6970_686f_6c64;

/// One connection to either backend. Queries written once against diesel's DSL run on both;
/// where the dialects differ, code matches on the variant.
#[derive(diesel::MultiConnection)]
pub(crate) enum DbConnection {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// Embedded SQLite: one file, one process.
    Sqlite,
    /// PostgreSQL: shared by several replicas.
    Postgres,
}

impl Backend {
    /// The backend's name, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the pool behaves.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The most connections the pool opens.
    pub max_connections: u32,
    /// How long to wait for a connection (from the pool, or a new one) before `Unavailable`.
    pub connect_timeout: Duration,
    /// SQLite only: how long a statement waits for another writer before failing as busy.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// Where to connect, parsed from the URL's scheme.
#[derive(Debug, Clone)]
enum Target {
    Sqlite {
        path: String,
        busy_timeout: Duration,
    },
    Postgres {
        url: String,
    },
}

impl Target {
    fn parse(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if rest.is_empty() {
                return Err(StoreError::unavailable(
                    "a sqlite URL needs a file path: sqlite://path/to/file.db",
                ));
            }
            Ok(Target::Sqlite {
                path: rest.to_owned(),
                busy_timeout: options.busy_timeout,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Target::Postgres {
                url: url.to_owned(),
            })
        } else {
            // Only the scheme is repeated: whatever follows may hold a password.
            Err(StoreError::unavailable(match url.split_once("://") {
                Some((scheme, _)) => format!(
                    "unsupported database URL scheme '{scheme}': use sqlite://path or postgres://…"
                ),
                None => "the database URL is not a URL: use sqlite://path or postgres://…".into(),
            }))
        }
    }

    fn backend(&self) -> Backend {
        match self {
            Target::Sqlite { .. } => Backend::Sqlite,
            Target::Postgres { .. } => Backend::Postgres,
        }
    }
}

/// Opens connections for r2d2. Our own manager rather than diesel's `ConnectionManager`, because
/// the multi-connection's `establish` cannot tell the backends apart by the URL, and because
/// every SQLite connection needs its pragmas.
#[derive(Debug)]
pub(crate) struct Manager {
    target: Target,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = StoreError;

    fn connect(&self) -> Result<DbConnection, StoreError> {
        match &self.target {
            Target::Postgres { url } => Ok(DbConnection::Pg(PgConnection::establish(url)?)),
            Target::Sqlite { path, busy_timeout } => {
                let mut conn = SqliteConnection::establish(path)?;
                // busy_timeout first: switching to WAL itself may wait for another connection.
                // synchronous=NORMAL is durable across application crashes in WAL mode and
                // only risks the last commits on power loss, which the outbox tolerates.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {};
                     PRAGMA journal_mode = WAL;
                     PRAGMA synchronous = NORMAL;
                     PRAGMA foreign_keys = ON;",
                    busy_timeout.as_millis()
                ))?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), StoreError> {
        conn.batch_execute("SELECT 1").map_err(StoreError::from)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        // Also true while a transaction is open, e.g. after a closure panicked mid-transaction:
        // such a connection must not go back into the pool.
        R2D2Connection::is_broken(conn)
    }
}

/// The store: a pool of connections to SQLite or PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool<Manager>,
    backend: Backend,
    /// SQLite: the one writer thread that runs this process's write transactions, in arrival
    /// order and with group commit (see `writer`). Queued on SQLite's busy handler instead,
    /// which sleeps and retries in no order, writers could starve past the busy timeout while
    /// others went ahead; other processes on the same file still meet the busy timeout.
    writer: Option<Writer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Whether a transaction may write (and so must take SQLite's write lock up front).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    Read,
}

impl Store {
    /// Connects to `url`: `sqlite://path/to/file.db` (the file and its folder are created) or
    /// `postgres://…` / `postgresql://…`.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        let target = Target::parse(url, &options)?;
        if let Target::Sqlite { path, .. } = &target
            && let Some(parent) = Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::unavailable_from(format!("cannot create {}", parent.display()), e)
            })?;
        }
        let backend = target.backend();
        let max = options.max_connections.max(1);
        let timeout = options.connect_timeout;
        let pool = tokio::task::spawn_blocking(move || {
            Pool::builder()
                .max_size(max)
                // Idle connections are opened lazily so a server can start while the
                // database is still coming up; `ping` tells readiness.
                .min_idle(Some(0))
                .connection_timeout(timeout)
                .build(Manager { target })
        })
        .await
        .map_err(|e| StoreError::unavailable_from("connecting was interrupted", e))?
        .map_err(StoreError::from)?;
        let writer = match backend {
            Backend::Sqlite => Some(Writer::start(pool.clone(), backend)?),
            Backend::Postgres => None,
        };
        let store = Store {
            pool,
            backend,
            writer,
        };
        // Fail at once on a wrong URL or a database that is down, with the driver's reason.
        store.ping().await?;
        Ok(store)
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs the pending migrations and returns their names, oldest first.
    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.with_conn(|conn| match conn {
            DbConnection::Sqlite(c) => run_migrations(c, SQLITE_MIGRATIONS),
            DbConnection::Pg(c) => {
                use diesel::RunQueryDsl;
                diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                    .execute(c)?;
                let result = run_migrations(c, POSTGRES_MIGRATIONS);
                let unlocked =
                    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                        .execute(c);
                let names = result?;
                unlocked?;
                Ok(names)
            }
        })
        .await
    }

    /// Checks that a connection can be had and answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| conn.batch_execute("SELECT 1").map_err(StoreError::from))
            .await
    }

    /// Runs `f` in one write transaction and commits if it returns `Ok`, rolls back if `Err`.
    ///
    /// On SQLite one writer thread runs every write closure of the process in arrival order:
    /// closures that queued up together run in one `BEGIN IMMEDIATE` transaction, each in a
    /// savepoint of its own (an `Err` rolls back only its own changes), and each is answered
    /// after that transaction committed — group commit. On PostgreSQL it is one READ COMMITTED
    /// transaction per closure, serialized per object by the row locks that
    /// `Tx::order_for_update` and `Tx::settings_for_update` take. Either way the closure's
    /// changes are all kept or none, and the answer comes only once they are stored.
    /// Nothing slow (network calls) belongs inside `f`: on SQLite it holds up every write.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.transaction(Mode::Write, f).await
    }

    /// Runs `f` in one read transaction (a consistent view; takes no write lock).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.transaction(Mode::Read, f).await
    }

    async fn transaction<T, E, F>(&self, mode: Mode, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        if let (Some(writer), Mode::Write) = (&self.writer, mode) {
            return group_commit(writer, f).await;
        }
        let pool = self.pool.clone();
        let backend = self.backend;
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(StoreError::from)?;
            run_transaction(&mut conn, backend, mode, f)
        })
        .await
        .map_err(|e| {
            E::from(StoreError::Database {
                message: "the transaction task failed".into(),
                source: Some(Box::new(e)),
            })
        })?
    }

    /// Runs `f` on a pooled connection outside any transaction.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Database {
            message: "the database task failed".into(),
            source: Some(Box::new(e)),
        })?
    }
}

/// Queues `f` for the writer thread and waits until the transaction that holds it has committed
/// (or failed).
async fn group_commit<T, E, F>(writer: &Writer, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
    let job: Job = Box::new(move |call| match call {
        Call::Fail(error) => {
            let _ = answer.send(Err(E::from(error.for_another())));
            None
        }
        Call::Run(tx) => {
            let result = f(tx);
            Some(Ran {
                ok: result.is_ok(),
                answer: Box::new(move |failed: Option<&StoreError>| {
                    let result = match (result, failed) {
                        (Ok(_), Some(error)) => Err(E::from(error.for_another())),
                        (result, _) => result,
                    };
                    // The caller may have gone (its request was cancelled); the write stands.
                    let _ = answer.send(result);
                }),
            })
        }
    });
    writer.submit(job).map_err(E::from)?;
    answered
        .await
        .map_err(|_| E::from(StoreError::database("the write ended without an answer")))?
}

fn run_migrations<C>(
    conn: &mut C,
    migrations: EmbeddedMigrations,
) -> Result<Vec<String>, StoreError>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    // One at a time (as `run_pending_migrations` does) so that we can report their names.
    let pending = conn
        .pending_migrations(migrations)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    let mut names = Vec::with_capacity(pending.len());
    for migration in pending {
        conn.run_migration(&*migration)
            .map_err(|e| StoreError::Migration(format!("{}: {e}", migration.name())))?;
        names.push(migration.name().to_string());
    }
    Ok(names)
}

fn run_transaction<T, E, F>(
    conn: &mut DbConnection,
    backend: Backend,
    mode: Mode,
    f: F,
) -> Result<T, E>
where
    F: FnOnce(&mut Tx<'_>) -> Result<T, E>,
    E: From<StoreError>,
{
    // The transaction is driven through the inner connection's manager so that SQLite can
    // begin IMMEDIATE; queries inside go through the enum, which delegates to the same manager,
    // so savepoints nest correctly.
    let begun = match (&mut *conn, mode) {
        (DbConnection::Sqlite(c), Mode::Write) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")
        }
        (DbConnection::Sqlite(c), Mode::Read) => AnsiTransactionManager::begin_transaction(c),
        (DbConnection::Pg(c), _) => AnsiTransactionManager::begin_transaction(c),
    };
    begun.map_err(|e| E::from(StoreError::from(e)))?;
    let result = f(&mut Tx { conn, backend });
    match result {
        Ok(value) => {
            let committed = match conn {
                DbConnection::Sqlite(c) => AnsiTransactionManager::commit_transaction(c),
                DbConnection::Pg(c) => AnsiTransactionManager::commit_transaction(c),
            };
            committed.map_err(|e| E::from(StoreError::from(e)))?;
            Ok(value)
        }
        Err(error) => {
            let rolled_back = match conn {
                DbConnection::Sqlite(c) => AnsiTransactionManager::rollback_transaction(c),
                DbConnection::Pg(c) => AnsiTransactionManager::rollback_transaction(c),
            };
            if let Err(e) = rolled_back {
                // The caller's error matters more; the pool discards the connection because
                // its transaction state is broken.
                tracing::warn!(error = %e, "rollback failed");
            }
            Err(error)
        }
    }
}

/// Runs an insert and gives back the generated id: `RETURNING` on PostgreSQL; on SQLite
/// (whose `RETURNING` diesel only offers behind a feature) `last_insert_rowid()`, which is
/// per connection and so safe inside our transaction.
macro_rules! insert_returning_id {
    ($tx:expr, $insert:expr, $id:expr) => {{
        use diesel::RunQueryDsl as _;
        let id: i64 = match &mut *$tx.conn {
            $crate::store::DbConnection::Pg(c) => $insert.returning($id).get_result::<i64>(c)?,
            $crate::store::DbConnection::Sqlite(c) => {
                $insert.execute(c)?;
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                    "last_insert_rowid()",
                ))
                .get_result::<i64>(c)?
            }
        };
        Ok(id)
    }};
}
pub(crate) use insert_returning_id;

/// One open transaction. Every method is synchronous and runs inside it; see [`Store::write`].
pub struct Tx<'a> {
    pub(crate) conn: &'a mut DbConnection,
    pub(crate) backend: Backend,
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Tx<'_> {
    /// Which backend the transaction runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection, for queries.
    pub(crate) fn db(&mut self) -> &mut DbConnection {
        self.conn
    }

    /// Runs a multi-row insert. Batch inserts are per backend (the multi-connection has no
    /// common form of them), so this hands the statement to the variant's own connection.
    pub(crate) fn insert_rows<Q>(&mut self, insert: Q) -> Result<(), StoreError>
    where
        Q: ExecuteDsl<SqliteConnection> + ExecuteDsl<PgConnection>,
    {
        match &mut *self.conn {
            DbConnection::Sqlite(c) => ExecuteDsl::<SqliteConnection>::execute(insert, c)?,
            DbConnection::Pg(c) => ExecuteDsl::<PgConnection>::execute(insert, c)?,
        };
        Ok(())
    }

    /// Runs `f` in a savepoint: if it fails, only its own changes are undone and the
    /// transaction goes on. PostgreSQL needs this around statements that may fail on purpose
    /// (a unique violation aborts the whole transaction otherwise).
    pub(crate) fn savepoint<T>(
        &mut self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, diesel::result::Error>,
    ) -> Result<T, diesel::result::Error> {
        self.conn.transaction(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target, StoreError> {
        Target::parse(url, &StoreOptions::default())
    }

    #[test]
    fn the_url_scheme_picks_the_backend() {
        match parse("sqlite://data/shiphold.db") {
            Ok(Target::Sqlite { path, .. }) => assert_eq!(path, "data/shiphold.db"),
            other => panic!("{other:?}"),
        }
        match parse("sqlite:///var/lib/shiphold/db.sqlite") {
            Ok(Target::Sqlite { path, .. }) => assert_eq!(path, "/var/lib/shiphold/db.sqlite"),
            other => panic!("{other:?}"),
        }
        for url in [
            "postgres://u@h/db",
            "postgresql://u@h:5432/db?sslmode=disable",
        ] {
            assert_eq!(
                parse(url).map(|t| t.backend()).ok(),
                Some(Backend::Postgres)
            );
        }
        assert!(matches!(
            parse("sqlite://"),
            Err(StoreError::Unavailable { .. })
        ));
        match parse("mysql://u@h/db") {
            Err(StoreError::Unavailable { message, .. }) => {
                assert!(message.contains("mysql"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
