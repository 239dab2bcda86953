//! Sliding-window rate limits kept in the database.
//!
//! In the database rather than in memory so that limits hold across restarts and across
//! several `serve` nodes. A check and its record happen under one lock (SQLite: the write
//! lock of `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock on the bucket) so concurrent
//! requests cannot all slip under the limit.

use std::sync::Arc;

use tsunagu_db::{Backend, Db, DbResultExt, sqlx};
use tsunagu_kernel::{Clock, DomainError, DomainResult};

/// A limit: at most `max` events per `window_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    /// Events allowed in the window.
    pub max: i64,
    /// Window length in milliseconds.
    pub window_ms: i64,
    /// Message key shown when the limit is hit.
    pub key: &'static str,
}

/// The limiter.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    /// A limiter on `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Records one event in `bucket`, or fails with `TooManyRequests` if `limit` is reached.
    pub async fn hit(&self, bucket: &str, limit: Limit) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        if self.db.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(bucket)
                .execute(&mut *tx)
                .await
                .or_internal()?;
        }
        refuse_if_full(&mut *tx, bucket, limit, now).await?;
        sqlx::query("INSERT INTO rate_events (bucket, at) VALUES ($1, $2)")
            .bind(bucket)
            .bind(now)
            .execute(&mut *tx)
            .await
            .or_internal()?;
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// Fails with `TooManyRequests` if `limit` is already reached in `bucket`, recording
    /// nothing (for limits on failures, which are recorded only when they happen).
    pub async fn check(&self, bucket: &str, limit: Limit) -> DomainResult<()> {
        refuse_if_full(self.db.pool(), bucket, limit, self.clock.now_ms()).await
    }

    /// Deletes events older than a day (run periodically).
    pub async fn purge(&self) -> DomainResult<u64> {
        let cutoff = self.clock.now_ms() - 24 * 3600 * 1000;
        let r = sqlx::query("DELETE FROM rate_events WHERE at < $1")
            .bind(cutoff)
            .execute(self.db.pool())
            .await
            .or_internal()?;
        Ok(r.rows_affected())
    }
}

/// `TooManyRequests` (with the wait until the oldest event leaves the window) when
/// `bucket` already holds `limit.max` events in the window ending at `now`.
async fn refuse_if_full<'e, E>(ex: E, bucket: &str, limit: Limit, now: i64) -> DomainResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let (count, oldest): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MIN(at) FROM rate_events WHERE bucket = $1 AND at > $2")
            .bind(bucket)
            .bind(now - limit.window_ms)
            .fetch_one(ex)
            .await
            .or_internal()?;
    if count >= limit.max {
        let retry_ms = oldest.map_or(limit.window_ms, |o| o + limit.window_ms - now);
        return Err(DomainError::TooManyRequests {
            key: limit.key,
            retry_after_secs: u64::try_from(retry_ms.max(1000) / 1000).unwrap_or(1),
        });
    }
    Ok(())
}
