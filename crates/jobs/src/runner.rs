//! Workers that claim jobs and run their handlers until shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tsunagu_kernel::DomainResult;

use crate::queue::{JobQueue, JobRow, JobStatus};

/// What a handler is given: the payload and where this attempt stands.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job's id.
    pub id: tsunagu_kernel::JobId,
    /// JSON payload.
    pub payload: String,
    /// This attempt, from 1.
    pub attempt: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
}

impl JobContext {
    /// Whether a failure now is final.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Why a job attempt failed.
#[derive(Debug)]
pub enum JobError {
    /// Worth trying again later (network, a 5xx, a rate limit).
    Retry(anyhow::Error),
    /// Will never succeed (a rejected destination); fail the job now.
    Permanent(anyhow::Error),
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self::Retry(e)
    }
}

impl From<tsunagu_kernel::DomainError> for JobError {
    fn from(e: tsunagu_kernel::DomainError) -> Self {
        Self::Retry(e.into())
    }
}

/// Runs one job type's payload.
pub type Handler =
    Arc<dyn Fn(JobContext) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync>;

/// Called when a job runs out of attempts (to tell staff at once).
pub type FailureHook = Arc<dyn Fn(JobRow) -> BoxFuture<'static, ()> + Send + Sync>;

/// A pool of workers with a handler per job kind.
#[derive(Clone)]
pub struct Runner {
    queue: JobQueue,
    handlers: Arc<HashMap<&'static str, Handler>>,
    lease_ms: i64,
    on_failed: Option<FailureHook>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Runner {
    /// A runner over `queue` with `handlers` keyed by job kind.
    pub fn new(queue: JobQueue, handlers: HashMap<&'static str, Handler>) -> Self {
        Self {
            queue,
            handlers: Arc::new(handlers),
            lease_ms: 5 * 60 * 1000,
            on_failed: None,
        }
    }

    /// Calls `hook` with every job that fails for good.
    #[must_use]
    pub fn with_failure_hook(mut self, hook: FailureHook) -> Self {
        self.on_failed = Some(hook);
        self
    }

    /// Claims and runs one due job, if any. Returns whether one ran (tests drive the queue
    /// with this instead of waiting for workers).
    pub async fn run_once(&self) -> DomainResult<bool> {
        let Some(job) = self.queue.claim(self.lease_ms).await? else {
            return Ok(false);
        };
        self.execute(job).await?;
        Ok(true)
    }

    /// Runs every job that is due now, until none is left.
    pub async fn drain(&self) -> DomainResult<usize> {
        let mut n = 0;
        while self.run_once().await? {
            n += 1;
        }
        Ok(n)
    }

    async fn execute(&self, job: JobRow) -> DomainResult<()> {
        let outcome = match self.handlers.get(job.kind.as_str()) {
            Some(h) => {
                // A panicking handler must not take the worker down; it counts as a failure.
                let fut = h(JobContext {
                    id: job.id,
                    payload: job.payload.clone(),
                    attempt: job.attempts,
                    max_attempts: job.max_attempts,
                });
                match tokio::spawn(fut).await {
                    Ok(r) => r,
                    Err(e) => Err(JobError::Retry(anyhow::anyhow!(
                        "job handler panicked: {e}"
                    ))),
                }
            }
            None => Err(JobError::Retry(anyhow::anyhow!(
                "no handler for job kind {}",
                job.kind
            ))),
        };
        match outcome {
            Ok(()) => self.queue.complete(job.id).await,
            Err(e) => {
                let (e, permanent) = match e {
                    JobError::Retry(e) => (e, false),
                    JobError::Permanent(e) => (e, true),
                };
                let status = self.queue.fail(&job, &format!("{e:#}"), permanent).await?;
                if status == JobStatus::Failed {
                    tracing::error!(job = job.id.0, kind = %job.kind, "job failed for good");
                    if let Some(hook) = &self.on_failed {
                        hook(job.clone()).await;
                    }
                } else {
                    tracing::warn!(job = job.id.0, kind = %job.kind, attempt = job.attempts, "job attempt failed");
                }
                Ok(())
            }
        }
    }

    /// Runs `workers` loops until `shutdown` turns true; each finishes its current job first.
    pub async fn run(self, workers: usize, poll: Duration, shutdown: watch::Receiver<bool>) {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..workers.max(1) {
            let me = self.clone();
            let mut stop = shutdown.clone();
            set.spawn(async move {
                loop {
                    if *stop.borrow() {
                        break;
                    }
                    match me.run_once().await {
                        Ok(true) => continue,
                        Ok(false) => {}
                        Err(e) => tracing::error!(error = %e, "job queue unavailable"),
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = stop.changed() => {}
                    }
                }
            });
        }
        while set.join_next().await.is_some() {}
    }
}
