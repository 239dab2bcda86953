//! The audit log against a real database (SQLite, or PostgreSQL with
//! `TSUNAGU_TEST_DATABASE_URL`): entries commit or vanish with the change they record, the
//! chain stays whole under parallel writers, and an investigator finds entries by patient,
//! actor, day and request id.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tsunagu_audit::{Actor, AuditLog, By, Filter, Verdict};
use tsunagu_db::testing::Scratch;
use tsunagu_kernel::seal::{Sealer, new_key};
use tsunagu_kernel::{FacilityId, ManualClock, PatientId};

fn by(id: i64, request: &str) -> By {
    By {
        actor: Actor {
            kind: "staff",
            id: Some(id),
            label: format!("staff {id}"),
        },
        facility_id: Some(FacilityId(1)),
        ip: "192.0.2.1".into(),
        request_id: request.into(),
    }
}

async fn log(s: &Scratch, clock: &ManualClock) -> AuditLog {
    let log = AuditLog::new(
        s.db.clone(),
        Arc::new(clock.clone()),
        Sealer::from_key(&new_key()).unwrap(),
    );
    log.ensure_head().await.unwrap();
    log
}

#[tokio::test]
async fn an_entry_commits_or_vanishes_with_its_transaction() {
    let s = Scratch::new().await;
    let clock = ManualClock::new("2026-11-20T01:00:00Z".parse().unwrap());
    let log = log(&s, &clock).await;
    let mut tx = s.db.begin_write().await.unwrap();
    log.append_in(
        &mut tx,
        by(1, "r-1").entry(Some(PatientId(7)), "patient.view", String::new()),
    )
    .await
    .unwrap();
    drop(tx); // rolled back: the change did not happen, so neither did its entry
    let mut tx = s.db.begin_write().await.unwrap();
    log.append_in(
        &mut tx,
        by(1, "r-2").entry(Some(PatientId(7)), "patient.update", "chart_number".into()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let all = log
        .search(&Filter {
            limit: 100,
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].request_id, "r-2");
    assert_eq!(
        all[0].seq, 1,
        "the rolled-back entry left no gap in the chain"
    );
    assert!(matches!(
        log.verify(None).await.unwrap(),
        Verdict::Intact { rows: 1, .. }
    ));
}

#[tokio::test]
async fn parallel_writers_keep_one_unbroken_chain() {
    let s = Scratch::new().await;
    let clock = ManualClock::new("2026-11-20T01:00:00Z".parse().unwrap());
    let log = log(&s, &clock).await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            log.append(by(i % 3, &format!("r-{i}")).entry(None, "patient.list", format!("n={i}")))
                .await
                .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=24).collect::<Vec<_>>());
    assert!(matches!(
        log.verify(None).await.unwrap(),
        Verdict::Intact { rows: 24, .. }
    ));
}

#[tokio::test]
async fn an_investigator_finds_entries_by_patient_actor_day_and_request() {
    let s = Scratch::new().await;
    let clock = ManualClock::new("2026-11-20T01:00:00Z".parse().unwrap());
    let log = log(&s, &clock).await;
    log.append(by(1, "req-a").entry(Some(PatientId(7)), "patient.view", String::new()))
        .await
        .unwrap();
    log.append(by(2, "req-b").entry(Some(PatientId(8)), "booking.view", String::new()))
        .await
        .unwrap();
    clock.advance(SignedDuration::from_hours(24));
    log.append(by(1, "req-c").entry(Some(PatientId(8)), "file.view", String::new()))
        .await
        .unwrap();
    let find = |f: Filter| {
        let log = log.clone();
        async move {
            log.search(&Filter { limit: 100, ..f })
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.request_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        find(Filter {
            patient: Some(PatientId(8)),
            ..Filter::default()
        })
        .await,
        vec!["req-c", "req-b"]
    );
    assert_eq!(
        find(Filter {
            actor: Some(("staff".into(), Some(1))),
            ..Filter::default()
        })
        .await,
        vec!["req-c", "req-a"]
    );
    assert_eq!(
        find(Filter {
            request_id: Some("req-b".into()),
            ..Filter::default()
        })
        .await,
        vec!["req-b"]
    );
    let day: Timestamp = "2026-11-20T00:00:00Z".parse().unwrap();
    let next = day + SignedDuration::from_hours(24);
    assert_eq!(
        find(Filter {
            from_ms: Some(day.as_millisecond()),
            to_ms: Some(next.as_millisecond()),
            ..Filter::default()
        })
        .await,
        vec!["req-b", "req-a"]
    );
    assert!(
        find(Filter {
            actor: Some(("operator".into(), None)),
            ..Filter::default()
        })
        .await
        .is_empty()
    );
}
