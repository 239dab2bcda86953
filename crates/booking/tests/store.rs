//! Booking against a real database (SQLite, or PostgreSQL with
//! `TSUNAGU_TEST_DATABASE_URL`): capacity holds under parallel bookings of one time, staff
//! close a visit only when the rules allow and undo a slip the same day, and the lists
//! staff open are audited only when they show something.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use jiff::Timestamp;
use tsunagu_accounts::{NewPatient, PatientStore, Role, StaffStore};
use tsunagu_audit::{Actor, AuditLog, By, Filter};
use tsunagu_booking::{Booker, BookingStatus, DayList, PatientBooking};
use tsunagu_clinics::{Facility, FacilityKind, FacilityStore, NewFacility};
use tsunagu_db::testing::Scratch;
use tsunagu_events::EventBus;
use tsunagu_i18n::Lang;
use tsunagu_jobs::JobQueue;
use tsunagu_kernel::seal::{Sealer, new_key};
use tsunagu_kernel::{AccountId, ManualClock, PatientId, Phone, StaffId};
use tsunagu_notifications::{Outbox, Transports};
use tsunagu_scheduling::{MenuInput, Mode, VisitKind, WeeklyHours};

struct World {
    booker: Booker,
    audit: AuditLog,
    clock: ManualClock,
    facility: Facility,
    doctor: StaffId,
    menu: i64,
    members: Vec<(AccountId, PatientId)>,
    _s: Scratch,
}

fn ms(s: &str) -> i64 {
    s.parse::<Timestamp>().unwrap().as_millisecond()
}

/// A clinic open 09:00–12:00 on weekdays with one doctor (one patient at a time), a
/// 15-minute return-visit menu and `members` accounts; now is Friday 2026-11-20 10:00 JST.
async fn world(members: usize) -> World {
    let s = Scratch::new().await;
    let db = s.db.clone();
    let clock = ManualClock::new("2026-11-20T01:00:00Z".parse().unwrap());
    let c: Arc<dyn tsunagu_kernel::Clock> = Arc::new(clock.clone());
    let sealer = Sealer::from_key(&new_key()).unwrap();
    let jobs = JobQueue::new(db.clone(), c.clone());
    let outbox = Outbox::new(
        db.clone(),
        c.clone(),
        jobs.clone(),
        Transports::default(),
        sealer.clone(),
    );
    let audit = AuditLog::new(db.clone(), c.clone(), sealer);
    audit.ensure_head().await.unwrap();
    let booker = Booker::new(
        db.clone(),
        c.clone(),
        outbox,
        jobs,
        audit.clone(),
        EventBus::new(db.clone()),
    );
    let facilities = FacilityStore::new(db.clone(), c.clone());
    let fid = facilities
        .create(&NewFacility {
            organisation_id: None,
            name: "ストア診療所".into(),
            kind: FacilityKind::Clinic,
            prefecture: 13,
            address: "東京都千代田区1-1".into(),
            phone: "03-0000-0000".into(),
            slug: "store-clinic".into(),
        })
        .await
        .unwrap();
    let facility = facilities.get(fid).await.unwrap();
    let doctor = StaffStore::new(db.clone(), c.clone())
        .create(
            fid,
            &tsunagu_accounts::staff::NewStaff {
                login_id: "doctor".into(),
                display_name: "医師 一郎".into(),
                role: Role::Doctor,
                medical_registration_year: Some(2010),
            },
            "not-a-real-hash",
        )
        .await
        .unwrap();
    let hours: Vec<WeeklyHours> = (1..=5)
        .map(|d| WeeklyHours {
            weekday: d,
            start_minute: 540,
            end_minute: 720,
        })
        .collect();
    booker
        .schedules
        .set_weekly(fid, doctor, &hours)
        .await
        .unwrap();
    let menu = booker
        .menus
        .create(
            fid,
            &MenuInput {
                name: "再診".into(),
                description: String::new(),
                mode: Mode::Online,
                first_minutes: 30,
                return_minutes: 15,
                insured: true,
                booking_fee_yen: 0,
                questionnaire: Vec::new(),
                consent_text: String::new(),
            },
        )
        .await
        .unwrap();
    let patients = PatientStore::new(db.clone(), c.clone());
    let today = jiff::civil::date(2026, 11, 20);
    let mut out = Vec::new();
    for i in 0..members {
        let phone = Phone::parse("phone", &format!("090-1000-{i:04}")).unwrap();
        let me = NewPatient::parse(
            "会員",
            "太郎",
            "カイイン",
            "タロウ",
            "1980-01-01",
            "1",
            today,
        )
        .unwrap();
        let mut tx = db.begin_write().await.unwrap();
        let ids = patients
            .create_account_in(&mut tx, &phone, "not-a-real-hash", &me)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        out.push(ids);
    }
    World {
        booker,
        audit,
        clock,
        facility,
        doctor,
        menu,
        members: out,
        _s: s,
    }
}

fn req(w: &World, who: usize, starts_at: i64) -> PatientBooking {
    PatientBooking {
        account: w.members[who].0,
        patient: w.members[who].1,
        menu_id: w.menu,
        visit_kind: VisitKind::Return,
        doctor_id: w.doctor,
        starts_at,
    }
}

fn staff(w: &World) -> By {
    By {
        actor: Actor {
            kind: "staff",
            id: Some(w.doctor.0),
            label: "医師 一郎".into(),
        },
        facility_id: Some(w.facility.id),
        ip: "192.0.2.1".into(),
        request_id: "req".into(),
    }
}

#[tokio::test]
async fn parallel_bookings_of_one_time_give_it_to_exactly_one() {
    let w = world(8).await;
    let at = ms("2026-11-24T01:00:00Z"); // Tuesday 10:00 JST
    let mut tasks = Vec::new();
    for who in 0..8 {
        let booker = w.booker.clone();
        let facility = w.facility.clone();
        let r = req(&w, who, at);
        tasks.push(tokio::spawn(async move {
            booker.book_web(&facility, &r, Lang::Ja).await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => won += 1,
            Err(tsunagu_kernel::DomainError::Conflict("error.slot.taken")) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    // The same member sending it again hears it is theirs already.
    let winner = w
        .booker
        .bookings
        .list_at(w.facility.id, at, at + 1)
        .await
        .unwrap()[0]
        .clone();
    let who = w
        .members
        .iter()
        .position(|m| m.1 == winner.patient_id)
        .unwrap();
    assert!(matches!(
        w.booker
            .book_web(&w.facility, &req(&w, who, at), Lang::Ja)
            .await,
        Err(tsunagu_kernel::DomainError::Conflict(
            "error.booking.already_yours"
        ))
    ));
}

#[tokio::test]
async fn staff_close_by_the_rules_and_undo_a_slip_the_same_day() {
    let w = world(1).await;
    let at = ms("2026-11-24T01:00:00Z");
    let id = w
        .booker
        .book_web(&w.facility, &req(&w, 0, at), Lang::Ja)
        .await
        .unwrap();
    let by = staff(&w);
    let close = |status| {
        w.booker
            .close_by_staff(&w.facility, id, status, Lang::Ja, &by)
    };
    assert!(
        close(BookingStatus::NoShow).await.is_err(),
        "not before the start"
    );
    assert!(
        close(BookingStatus::Completed).await.is_err(),
        "not days before"
    );
    w.clock.set("2026-11-24T01:05:00Z".parse().unwrap());
    assert_eq!(
        close(BookingStatus::NoShow).await.unwrap().status,
        BookingStatus::NoShow
    );
    // Undone the same day: booked again, its time claimed again.
    let back = w
        .booker
        .reopen_by_staff(&w.facility, id, &by)
        .await
        .unwrap();
    assert_eq!(back.status, BookingStatus::Booked);
    assert!(!back.late_cancel);
    assert!(
        !w.booker
            .bookings
            .claims(w.doctor, at, at + 1)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        close(BookingStatus::Completed).await.unwrap().status,
        BookingStatus::Completed
    );
    w.clock.set("2026-11-24T15:30:00Z".parse().unwrap()); // the next day in Tokyo
    assert!(
        w.booker
            .reopen_by_staff(&w.facility, id, &by)
            .await
            .is_err()
    );
    let actions: Vec<String> = w
        .audit
        .search(&Filter {
            limit: 100,
            ..Filter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .rev()
        .collect();
    assert_eq!(
        actions,
        ["booking.close", "booking.reopen", "booking.close"]
    );
}

#[tokio::test]
async fn lists_staff_open_are_audited_only_when_they_show_something() {
    let w = world(1).await;
    let by = staff(&w);
    let day = jiff::civil::date(2026, 11, 24);
    let empty = w
        .booker
        .day_list_seen_by(&by, &w.facility, day, 1, DayList::Reception)
        .await
        .unwrap();
    assert!(empty.is_empty());
    assert!(
        w.audit
            .search(&Filter {
                limit: 10,
                ..Filter::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
    w.booker
        .book_web(
            &w.facility,
            &req(&w, 0, ms("2026-11-24T01:00:00Z")),
            Lang::Ja,
        )
        .await
        .unwrap();
    let list = w
        .booker
        .day_list_seen_by(&by, &w.facility, day, 7, DayList::Schedule(w.doctor))
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let seen = w
        .audit
        .search(&Filter {
            limit: 10,
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].action, "booking.schedule");
    assert_eq!(seen[0].detail, "date=2026-11-24 count=1");
}
