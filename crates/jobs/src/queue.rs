//! Enqueue, claim, complete, fail: the queue's storage operations.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tsunagu_db::{Backend, Db, DbResultExt, Tx, sqlx};
use tsunagu_kernel::{Clock, DomainError, DomainResult, FacilityId, JobId};

/// A typed job payload. `KIND` is the unique name stored in the `jobs.kind` column.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    /// Unique, stable name of the job type.
    const KIND: &'static str;
    /// Attempts before the job is marked failed.
    const MAX_ATTEMPTS: i64 = 8;
}

/// A job about to be enqueued.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Job type.
    pub kind: &'static str,
    /// JSON payload.
    pub payload: String,
    /// Earliest run time (ms since epoch); `None` = now.
    pub run_at: Option<i64>,
    /// Attempts before giving up.
    pub max_attempts: i64,
    /// The facility whose staff should see a failure, if any.
    pub facility_id: Option<FacilityId>,
}

impl NewJob {
    /// Builds a job from a typed payload.
    pub fn of<J: Job>(job: &J) -> DomainResult<Self> {
        Ok(Self {
            kind: J::KIND,
            payload: serde_json::to_string(job).map_err(DomainError::internal)?,
            run_at: None,
            max_attempts: J::MAX_ATTEMPTS,
            facility_id: None,
        })
    }

    /// Runs no earlier than `at_ms`.
    #[must_use]
    pub fn at(mut self, at_ms: i64) -> Self {
        self.run_at = Some(at_ms);
        self
    }

    /// Shows failures to this facility's staff.
    #[must_use]
    pub fn for_facility(mut self, f: Option<FacilityId>) -> Self {
        self.facility_id = f;
        self
    }
}

/// Lifecycle of a job row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for its run time.
    Queued,
    /// Claimed by a worker.
    Running,
    /// Finished successfully.
    Done,
    /// Ran out of attempts.
    Failed,
}

impl JobStatus {
    fn parse(s: &str) -> Self {
        match s {
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => Self::Queued,
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    /// Id.
    pub id: JobId,
    /// Job type.
    pub kind: String,
    /// JSON payload (never shown to staff: it may hold a destination).
    #[serde(skip)]
    pub payload: String,
    /// Current state.
    pub status: JobStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Next or last run time (ms).
    pub run_at: i64,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Facility whose staff see it.
    pub facility_id: Option<i64>,
    /// When it was enqueued (ms).
    pub created_at: i64,
}

const COLUMNS: &str = "id, kind, payload, status, attempts, max_attempts, run_at, last_error, \
                       facility_id, created_at";

fn row_to_job(r: &sqlx::any::AnyRow) -> Result<JobRow, sqlx::Error> {
    use sqlx::Row;
    Ok(JobRow {
        id: JobId(r.try_get("id")?),
        kind: r.try_get("kind")?,
        payload: r.try_get("payload")?,
        status: JobStatus::parse(&r.try_get::<String, _>("status")?),
        attempts: r.try_get("attempts")?,
        max_attempts: r.try_get("max_attempts")?,
        run_at: r.try_get("run_at")?,
        last_error: r.try_get("last_error")?,
        facility_id: r.try_get("facility_id")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Delay before retry `attempt` (1-based): 15 s doubling, capped at one hour, ±20 % jitter
/// so that a burst of failures does not retry in lock-step.
pub fn backoff_ms(attempt: i64) -> i64 {
    let exp = attempt.clamp(1, 20) - 1;
    let base = (15_000i64 << exp).min(3_600_000);
    let jitter = rand::Rng::random_range(&mut rand::rng(), -(base / 5)..=(base / 5));
    base + jitter
}

/// The queue.
#[derive(Clone, Debug)]
pub struct JobQueue {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl JobQueue {
    /// A queue on `db`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// The clock the queue reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Enqueues inside the caller's transaction: the job exists iff the transaction commits.
    pub async fn enqueue_in(&self, tx: &mut Tx, job: NewJob) -> DomainResult<JobId> {
        let now = self.clock.now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (kind, payload, status, attempts, max_attempts, run_at, facility_id, \
             created_at, updated_at) VALUES ($1, $2, 'queued', 0, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(job.kind)
        .bind(job.payload)
        .bind(job.max_attempts)
        .bind(job.run_at.unwrap_or(now))
        .bind(job.facility_id.map(|f| f.0))
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .or_internal()?;
        Ok(JobId(id))
    }

    /// Enqueues on its own.
    pub async fn enqueue(&self, job: NewJob) -> DomainResult<JobId> {
        let mut tx = self.db.begin().await?;
        let id = self.enqueue_in(&mut tx, job).await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// Claims the next due job (or one whose worker's lease ran out) for `lease_ms`.
    pub async fn claim(&self, lease_ms: i64) -> DomainResult<Option<JobRow>> {
        let now = self.clock.now_ms();
        let lock = match self.db.backend() {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = $1, \
             updated_at = $2 \
             WHERE id = (SELECT id FROM jobs \
                 WHERE (status = 'queued' AND run_at <= $2) \
                    OR (status = 'running' AND locked_until < $2) \
                 ORDER BY run_at, id LIMIT 1 {lock}) \
             AND (status = 'queued' OR (status = 'running' AND locked_until < $2)) \
             RETURNING {COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now + lease_ms)
            .bind(now)
            .fetch_optional(self.db.pool())
            .await
            .or_internal()?;
        row.as_ref().map(row_to_job).transpose().or_internal()
    }

    /// Marks a claimed job done.
    pub async fn complete(&self, id: JobId) -> DomainResult<()> {
        sqlx::query(
            "UPDATE jobs SET status = 'done', locked_until = NULL, last_error = NULL, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(id.0)
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(())
    }

    /// Records a failed attempt: requeued with backoff, or `failed` when attempts ran out.
    /// Returns the new status.
    pub async fn fail(
        &self,
        job: &JobRow,
        error: &str,
        permanent: bool,
    ) -> DomainResult<JobStatus> {
        let now = self.clock.now_ms();
        let error: String = error.chars().take(500).collect();
        let (status, run_at) = if permanent || job.attempts >= job.max_attempts {
            (JobStatus::Failed, now)
        } else {
            (JobStatus::Queued, now + backoff_ms(job.attempts))
        };
        let status_s = match status {
            JobStatus::Failed => "failed",
            _ => "queued",
        };
        sqlx::query(
            "UPDATE jobs SET status = $2, run_at = $3, last_error = $4, locked_until = NULL, \
             updated_at = $5 WHERE id = $1",
        )
        .bind(job.id.0)
        .bind(status_s)
        .bind(run_at)
        .bind(error)
        .bind(now)
        .execute(self.db.pool())
        .await
        .or_internal()?;
        Ok(status)
    }

    /// Failed jobs: of one facility, or all when `facility` is `None` (operators).
    pub async fn failed(&self, facility: Option<FacilityId>) -> DomainResult<Vec<JobRow>> {
        let rows =
            match facility {
                Some(f) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {COLUMNS} FROM jobs WHERE status = 'failed' AND facility_id = $1 \
                     ORDER BY id DESC LIMIT 200"
                    )))
                    .bind(f.0)
                    .fetch_all(self.db.pool())
                    .await
                }
                None => sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM jobs WHERE status = 'failed' ORDER BY id DESC LIMIT 200"
                )))
                .fetch_all(self.db.pool())
                .await,
            }
            .or_internal()?;
        rows.iter()
            .map(row_to_job)
            .collect::<Result<_, _>>()
            .or_internal()
    }

    /// One job by id.
    pub async fn get(&self, id: JobId) -> DomainResult<JobRow> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM jobs WHERE id = $1"
        )))
        .bind(id.0)
        .fetch_optional(self.db.pool())
        .await
        .or_internal()?
        .ok_or(DomainError::NotFound)?;
        row_to_job(&row).or_internal()
    }

    /// Puts a failed job back in the queue with fresh attempts. `facility` scopes staff to
    /// their own facility's jobs; operators pass `None`.
    pub async fn retry(&self, id: JobId, facility: Option<FacilityId>) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let res = sqlx::query(
            "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $2, updated_at = $2 \
             WHERE id = $1 AND status = 'failed' AND ($3 IS NULL OR facility_id = $3)",
        )
        .bind(id.0)
        .bind(now)
        .bind(facility.map(|f| f.0))
        .execute(self.db.pool())
        .await
        .or_internal()?;
        if res.rows_affected() == 0 {
            return Err(DomainError::NotFound);
        }
        Ok(())
    }

    /// Counts by status, for `/metrics`.
    pub async fn counts(&self) -> DomainResult<Vec<(String, i64)>> {
        sqlx::query_as::<_, (String, i64)>("SELECT status, COUNT(*) FROM jobs GROUP BY status")
            .fetch_all(self.db.pool())
            .await
            .or_internal()
    }
}
