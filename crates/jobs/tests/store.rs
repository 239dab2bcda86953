//! The job queue against a real database (SQLite, or PostgreSQL with
//! `TSUNAGU_TEST_DATABASE_URL`): a job enqueued in a rolled-back transaction never runs,
//! each due job is claimed by exactly one of many parallel workers, a crashed worker's
//! lease expires, and failures retry with backoff until they are marked failed.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};
use tsunagu_db::testing::Scratch;
use tsunagu_jobs::{Job, JobQueue, JobStatus, NewJob};
use tsunagu_kernel::ManualClock;

#[derive(Serialize, Deserialize)]
struct Ping {
    n: i64,
}

impl Job for Ping {
    const KIND: &'static str = "test.ping";
    const MAX_ATTEMPTS: i64 = 2;
}

fn queue(s: &Scratch) -> (JobQueue, ManualClock) {
    let clock = ManualClock::new("2026-11-20T01:00:00Z".parse().unwrap());
    (JobQueue::new(s.db.clone(), Arc::new(clock.clone())), clock)
}

#[tokio::test]
async fn a_job_of_a_rolled_back_transaction_never_runs() {
    let s = Scratch::new().await;
    let (q, _) = queue(&s);
    let mut tx = s.db.begin_write().await.unwrap();
    q.enqueue_in(&mut tx, NewJob::of(&Ping { n: 1 }).unwrap())
        .await
        .unwrap();
    drop(tx);
    assert!(q.claim(60_000).await.unwrap().is_none());
}

#[tokio::test]
async fn each_job_goes_to_exactly_one_of_many_workers() {
    let s = Scratch::new().await;
    let (q, _) = queue(&s);
    for n in 0..20 {
        q.enqueue(NewJob::of(&Ping { n }).unwrap()).await.unwrap();
    }
    let mut workers = Vec::new();
    for _ in 0..6 {
        let q = q.clone();
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(j) = q.claim(60_000).await.unwrap() {
                got.push(j.id.0);
                q.complete(j.id).await.unwrap();
            }
            got
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap());
    }
    all.sort_unstable();
    let before = all.len();
    all.dedup();
    assert_eq!(before, 20, "every job ran");
    assert_eq!(all.len(), 20, "no job ran twice");
}

#[tokio::test]
async fn a_lost_lease_is_taken_over_and_failures_end_as_failed() {
    let s = Scratch::new().await;
    let (q, clock) = queue(&s);
    let id = q
        .enqueue(NewJob::of(&Ping { n: 7 }).unwrap())
        .await
        .unwrap();
    let first = q.claim(60_000).await.unwrap().unwrap();
    assert_eq!(first.id, id);
    // The worker died: nobody may take it before the lease ends, anyone after.
    assert!(q.claim(60_000).await.unwrap().is_none());
    clock.advance(SignedDuration::from_secs(61));
    let again = q.claim(60_000).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (id, 2));
    // The second attempt fails and it was the last: failed, and staff see it.
    assert_eq!(
        q.fail(&again, "gateway 500", false).await.unwrap(),
        JobStatus::Failed
    );
    assert_eq!(q.failed(None).await.unwrap().len(), 1);
    q.retry(id, None).await.unwrap();
    assert!(q.claim(60_000).await.unwrap().is_some());
}
