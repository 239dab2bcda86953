//! A job queue in the platform's own database.
//!
//! Why not a broker or a queue crate: a job is enqueued in the same transaction as the
//! domain write that needs it (a booking and its reminder, an outbox row and its send), so
//! there is no window where one exists without the other. Both engines are supported:
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED`; SQLite claims with one atomic
//! `UPDATE … RETURNING` (SQLite has a single writer, so no two workers get the same row).
//!
//! A claimed job holds a lease; if its worker dies (crash, restart) the lease runs out and
//! another worker takes it again. Failures are retried with exponential backoff; a job
//! that runs out of attempts stays in the table as `failed`, where staff and operators
//! see it and can retry it. Nothing is silently dropped.

mod queue;
mod runner;

pub use queue::{Job, JobQueue, JobRow, JobStatus, NewJob, backoff_ms};
pub use runner::{FailureHook, Handler, JobContext, JobError, Runner};
