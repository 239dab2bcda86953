//! A migrated scratch database for the store tests of the domain crates: SQLite in a
//! temporary directory, or, when `TSUNAGU_TEST_DATABASE_URL` names a PostgreSQL server
//! where the user may create databases, a fresh database there, dropped afterwards. The
//! same switch as the black-box suite, so every store test runs on both.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::Db;

/// A scratch database, removed when dropped.
pub struct Scratch {
    /// The migrated platform database.
    pub db: Db,
    dir: std::path::PathBuf,
    pg: Option<(String, String)>,
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}_{}_{}",
        nanos / 1_000_000_000,
        std::process::id(),
        (nanos % 1_000_000_000) as u64 + N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Scratch {
    /// A fresh, migrated database (panics on failure: it is for tests).
    #[allow(clippy::unwrap_used, clippy::expect_used)]
    pub async fn new() -> Self {
        let id = unique();
        let dir = std::env::temp_dir().join(format!("tsunagu-store-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        match std::env::var("TSUNAGU_TEST_DATABASE_URL") {
            Ok(admin) if !admin.is_empty() => {
                use sqlx::Connection;
                let name = format!("tsunagu_t_{id}");
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let (base, _) = admin.rsplit_once('/').expect("a database URL has a path");
                let db = Db::connect(&format!("{base}/{name}"), 8).await.unwrap();
                db.migrate().await.unwrap();
                Self {
                    db,
                    dir,
                    pg: Some((admin, name)),
                }
            }
            _ => {
                let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
                let db = Db::connect(&url, 8).await.unwrap();
                db.migrate().await.unwrap();
                Self { db, dir, pg: None }
            }
        }
    }

    /// Whether this run is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((admin, name)) = self.pg.take() {
            // Drop cannot await: a small runtime on another thread drops the database.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        )))
                        .execute(&mut c)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}
