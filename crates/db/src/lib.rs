//! The database handle shared by every store.
//!
//! One [`Db`] wraps an `sqlx::AnyPool` plus the [`Backend`] it talks to. Queries are
//! written once in portable SQL with `$N` placeholders; stores branch on
//! [`Db::backend`] only where the dialects really differ (locking, upserts). Because the
//! `Any` driver cannot decode booleans on SQLite nor timestamps on PostgreSQL, the schema
//! stores flags as INTEGER 0/1 and instants as INTEGER milliseconds since the epoch.
//!
//! SQLite runs in WAL mode with a busy timeout, foreign keys on. Write transactions that
//! read before they write begin with `BEGIN IMMEDIATE` on SQLite ([`Db::begin_write`]) so
//! two writers queue on the lock instead of failing with `SQLITE_BUSY` mid-transaction.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tsunagu_kernel::DomainError;

pub use sqlx;

#[cfg(feature = "testing")]
pub mod testing;

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (the embedded default).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// A pooled connection to the platform's database.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    // Kept for connections the pool cannot give (PostgreSQL LISTEN); never printed.
    url: std::sync::Arc<str>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// A transaction on the platform database.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

impl Db {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://…`).
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL scheme (use sqlite: or postgres:)");
        };
        let opts = AnyConnectOptions::from_str(url).context("parsing the database URL")?;
        let pool_opts = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30));
        let pool_opts = match backend {
            Backend::Sqlite => pool_opts.after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;",
                    )
                    .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => pool_opts,
        };
        let pool = pool_opts
            .connect_with(opts)
            .await
            .context("connecting to the database")?;
        Ok(Self {
            pool,
            backend,
            url: url.into(),
        })
    }

    /// Applies every pending migration of this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("running migrations")?;
        Ok(())
    }

    /// Applies another set of migrations (the eligibility service's own database).
    pub async fn migrate_with(
        &self,
        sqlite: &sqlx::migrate::Migrator,
        postgres: &sqlx::migrate::Migrator,
    ) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        };
        migrator
            .run(&self.pool)
            .await
            .context("running migrations")?;
        Ok(())
    }

    /// The pool, for queries that need no transaction.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The connection URL (holds credentials: never log it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The engine behind this handle.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that only reads, or writes without reading first.
    pub async fn begin(&self) -> Result<Tx, DomainError> {
        self.pool.begin().await.map_err(internal)
    }

    /// Starts a transaction that reads and then writes: SQLite takes the write lock at
    /// once (`BEGIN IMMEDIATE`) so concurrent writers wait instead of failing.
    pub async fn begin_write(&self) -> Result<Tx, DomainError> {
        match self.backend {
            Backend::Sqlite => self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(internal),
            Backend::Postgres => self.pool.begin().await.map_err(internal),
        }
    }

    /// Answers whether the database responds (for `/healthz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes every connection (at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Wraps a database error as an internal domain error.
pub fn internal(e: sqlx::Error) -> DomainError {
    DomainError::Internal(anyhow::Error::new(e))
}

/// Turns a unique violation into a domain conflict with `key`, anything else into internal.
///
/// Both engines report unique violations (SQLite 2067, PostgreSQL 23505); only PostgreSQL
/// names the constraint, so callers give the conflict's meaning themselves.
pub fn on_unique(key: &'static str) -> impl FnOnce(sqlx::Error) -> DomainError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => DomainError::Conflict(key),
        _ => internal(e),
    }
}

/// Extension for results of sqlx calls.
pub trait DbResultExt<T> {
    /// Maps the error to an internal domain error.
    fn or_internal(self) -> Result<T, DomainError>;
}

impl<T> DbResultExt<T> for Result<T, sqlx::Error> {
    fn or_internal(self) -> Result<T, DomainError> {
        self.map_err(internal)
    }
}

/// Converts a flag column (INTEGER 0/1) to a bool.
pub fn flag(v: i64) -> bool {
    v != 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    /// The migration files of one folder, by name.
    fn names(dir: &str) -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations");
        let mut v: Vec<String> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        v.sort();
        v
    }

    /// SQL is written once for both databases: every migration exists for each, under the
    /// same version and name, so a database never misses a step the other took.
    #[test]
    fn both_dialects_have_the_same_migrations() {
        for (sqlite, postgres) in [
            ("sqlite", "postgres"),
            ("eligibility/sqlite", "eligibility/postgres"),
        ] {
            let (a, b) = (names(sqlite), names(postgres));
            assert!(!a.is_empty());
            assert_eq!(a, b, "{sqlite} and {postgres} differ");
            let versions: Vec<&str> = a.iter().map(|n| &n[..4]).collect();
            let mut unique = versions.clone();
            unique.dedup();
            assert_eq!(versions, unique, "a version used twice in {sqlite}");
        }
    }
}
