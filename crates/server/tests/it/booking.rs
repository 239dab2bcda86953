//! Booking: the capacity constraint under 200 simultaneous bookings, the patient flow
//! through the pages, day rules in Asia/Tokyo, bad input, holidays, suspension, reminders.

use jiff::{SignedDuration, Timestamp};
use tsunagu_booking::{NewBooking, Source};
use tsunagu_kernel::{AccountId, StaffId};
use tsunagu_scheduling::{Mode, VisitKind};

use crate::helpers::*;

fn ms(s: &str) -> i64 {
    s.parse::<Timestamp>().unwrap().as_millisecond()
}

async fn demo_ids(
    app: &TestApp,
) -> (
    tsunagu_clinics::Facility,
    StaffId,
    i64,
    AccountId,
    Vec<tsunagu_kernel::PatientId>,
) {
    let f = app.facility("tsunagu-central").await;
    let doctor = app.staff_id(f.id, "doctor").await;
    let menu = app.state.booker.menus.list(f.id, true).await.unwrap()[0].id;
    let acct = app
        .state
        .accounts
        .patients
        .account_by_phone(&tsunagu_kernel::Phone::parse("p", "090-0000-0001").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let patients = app
        .state
        .accounts
        .patients
        .patients_of(acct)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    (f, doctor, menu, acct, patients)
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

async fn race(app: &TestApp, capacity: i64, starts_at: i64) -> (usize, usize) {
    let (f, doctor, menu, acct, patients) = demo_ids(app).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = app.state.booker.bookings.clone();
        let nb = NewBooking {
            facility_id: f.id,
            patient_id: patients[i % patients.len()],
            account_id: Some(acct),
            booked_by_staff: None,
            menu_id: menu,
            doctor_id: doctor,
            mode: Mode::Online,
            visit_kind: VisitKind::Return,
            starts_at,
            ends_at: starts_at + 15 * 60_000,
            source: Source::Web,
            booking_fee_yen: 0,
            staff_memo: String::new(),
        };
        tasks.push(tokio::spawn(
            async move { store.create(&nb, capacity).await },
        ));
    }
    let (mut ok, mut taken) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(tsunagu_kernel::DomainError::Conflict("error.slot.taken")) => taken += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    (ok, taken)
}

#[tokio::test]
async fn two_hundred_simultaneous_bookings_get_exactly_the_capacity() {
    let app = TestApp::spawn().await;
    let (ok, taken) = race(&app, 1, ms("2026-11-24T00:00:00Z")).await;
    assert_eq!((ok, taken), (1, 199));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM bookings").await,
        1,
        "losers left no booking row"
    );
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM slot_claims").await,
        3,
        "the winner holds its three 5-minute units"
    );
    // With three seats, exactly three win.
    let (ok, taken) = race(&app, 3, ms("2026-11-24T01:00:00Z")).await;
    assert_eq!((ok, taken), (3, 197));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM bookings").await, 4);
    app.stop().await;
}

#[tokio::test]
async fn a_patient_books_for_a_family_member_sees_it_and_cancels() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    b.submit(
        "/login",
        "/login",
        &[
            ("phone", "090-0000-0001"),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ],
    )
    .await;
    let list = b.get("/clinics?pref=13").await;
    assert!(list.body.contains("/c/tsunagu-central"));
    let clinic = b.get("/c/tsunagu-central").await;
    assert!(clinic.body.contains("内科 再診（オンライン）"));
    let (f, _, menu, acct, patients) = demo_ids(&app).await;
    let child = patients[1];
    let form = b
        .get(&format!(
            "/c/tsunagu-central/book?menu={menu}&kind=return&patient={}",
            child.0
        ))
        .await;
    assert_eq!(form.status, 200);
    // 2026-11-20 10:00 JST now: Friday 10:00 is past, so the first offer is 10:00? No:
    // slots before now are not offered; the first free return slot is 10:00 or later today.
    assert!(form.body.contains("11月20日（金）"), "today is offered");
    assert!(!form.body.contains("11月22日（日）"), "Sunday is closed");
    assert!(!form.body.contains("11月23日"), "勤労感謝の日 is a holiday");
    assert!(form.body.contains("11月24日（火）"));
    let first = form
        .body
        .split("name=\"slot\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let confirm = b
        .get(&format!(
            "/c/tsunagu-central/book/confirm?menu={menu}&kind=return&patient={}&slot={first}",
            child.0
        ))
        .await;
    assert!(confirm.body.contains("山田 花子"));
    assert!(confirm.body.contains("この内容で予約しますか？"));
    let p = b
        .post(
            "/c/tsunagu-central/book",
            &confirm.csrf(),
            &[
                ("menu", &menu.to_string()),
                ("kind", "return"),
                ("patient", &child.0.to_string()),
                ("slot", &first),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let detail_path = p.location.unwrap();
    let detail = b.get(&detail_path).await;
    assert!(detail.body.contains("予約が完了しました"));
    // The top page shows it under あなたの予約.
    let top = b.get("/").await;
    assert!(top.body.contains("あなたの予約"));
    assert!(top.body.contains("つなぐ中央病院"));
    // A confirmation went to the account holder's phone.
    let sms = app.last_sms_to("+819000000001").await.unwrap();
    assert!(sms.contains("予約を受け付けました"), "{sms}");
    // It says which family member the booking is for (the name only).
    assert!(sms.contains("山田 花子様"), "{sms}");
    // The facility now knows the child.
    assert!(
        app.state
            .accounts
            .patients
            .get_at(f.id, child)
            .await
            .is_ok()
    );
    // The same booking sent again (the back button) shows the booking made, saying so.
    let p = b
        .post(
            "/c/tsunagu-central/book",
            &confirm.csrf(),
            &[
                ("menu", &menu.to_string()),
                ("kind", "return"),
                ("patient", &child.0.to_string()),
                ("slot", &first),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert!(
        p.location
            .as_deref()
            .is_some_and(|l| l.ends_with("?done=already")),
        "{:?}",
        p.location
    );
    // Cancel online (the visit is not today… unless the first slot is today: then too late).
    let id: i64 = detail_path
        .trim_start_matches("/my/bookings/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let booking = app
        .state
        .booker
        .bookings
        .get_for_account(acct, id)
        .await
        .unwrap();
    let csrf = b.get(&format!("/my/bookings/{id}")).await.csrf();
    let p = b
        .post(&format!("/my/bookings/{id}/cancel"), &csrf, &[])
        .await;
    let deadline = tsunagu_booking::cancel_deadline(booking.starts_at, &f.tz());
    if app.state.clock.now_ms() < deadline {
        assert_eq!(
            p.location.as_deref(),
            Some(&*format!("/my/bookings/{id}?done=cancelled"))
        );
        assert_eq!(
            count(&app, "SELECT COUNT(*) FROM slot_claims").await,
            0,
            "time freed"
        );
    } else {
        assert_eq!(p.status, 422);
        assert!(p.body.contains("お電話"));
    }
    app.stop().await;
}

async fn book_api(app: &TestApp, starts_at: i64) -> Result<i64, tsunagu_kernel::DomainError> {
    let (f, doctor, menu, acct, patients) = demo_ids(app).await;
    app.state
        .booker
        .book_web(
            &f,
            &tsunagu_booking::PatientBooking {
                account: acct,
                patient: patients[0],
                menu_id: menu,
                visit_kind: VisitKind::Return,
                doctor_id: doctor,
                starts_at,
            },
            tsunagu_i18n::Lang::Ja,
        )
        .await
}

#[tokio::test]
async fn cancel_until_the_end_of_the_day_before_in_tokyo() {
    let app = TestApp::spawn().await;
    let (_, _, _, acct, _) = demo_ids(&app).await;
    // Tuesday 2026-11-24 09:00 JST.
    let id = book_api(&app, ms("2026-11-24T00:00:00Z")).await.unwrap();
    // Monday 23:59 JST (14:59 UTC): still the day before.
    app.clock.set("2026-11-23T14:59:00Z".parse().unwrap());
    let b = app
        .state
        .booker
        .view(
            app.state
                .booker
                .bookings
                .get_for_account(acct, id)
                .await
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(b.patient_can_cancel);
    // Tuesday 00:00 JST (Monday 15:00 UTC): the visit's day — online cancel closed.
    app.clock.set("2026-11-23T15:00:00Z".parse().unwrap());
    let err = app
        .state
        .booker
        .cancel_by_patient(acct, id, tsunagu_i18n::Lang::Ja)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        tsunagu_kernel::DomainError::Forbidden("error.cancel.too_late")
    ));
    app.clock.set("2026-11-23T14:59:59Z".parse().unwrap());
    app.state
        .booker
        .cancel_by_patient(acct, id, tsunagu_i18n::Lang::Ja)
        .await
        .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn bad_booking_input_changes_nothing() {
    let app = TestApp::spawn().await;
    let before = count(&app, "SELECT COUNT(*) FROM bookings").await;
    use tsunagu_kernel::DomainError::*;
    // In the past.
    assert!(matches!(
        book_api(&app, ms("2026-11-19T00:00:00Z")).await,
        Err(Invalid(_))
    ));
    // Misaligned (09:07).
    assert!(matches!(
        book_api(&app, ms("2026-11-24T00:07:00Z")).await,
        Err(Invalid(_))
    ));
    // Lunch break (12:30 JST).
    assert!(matches!(
        book_api(&app, ms("2026-11-24T03:30:00Z")).await,
        Err(Invalid(_))
    ));
    // A holiday (11/23 09:00 JST).
    assert!(matches!(
        book_api(&app, ms("2026-11-23T00:00:00Z")).await,
        Err(Invalid(_))
    ));
    // A doctor of another clinic.
    let (f, _, menu, acct, patients) = demo_ids(&app).await;
    let other = app.facility("sapporo-hikari").await;
    let other_doctor = app.staff_id(other.id, "doctor").await;
    let r = app
        .state
        .booker
        .book_web(
            &f,
            &tsunagu_booking::PatientBooking {
                account: acct,
                patient: patients[0],
                menu_id: menu,
                visit_kind: VisitKind::Return,
                doctor_id: other_doctor,
                starts_at: ms("2026-11-24T00:00:00Z"),
            },
            tsunagu_i18n::Lang::Ja,
        )
        .await;
    assert!(matches!(r, Err(Invalid(_))));
    // A menu of another clinic.
    let other_menu = app.state.booker.menus.list(other.id, true).await.unwrap()[0].id;
    let doctor = app.staff_id(f.id, "doctor").await;
    let r = app
        .state
        .booker
        .book_web(
            &f,
            &tsunagu_booking::PatientBooking {
                account: acct,
                patient: patients[0],
                menu_id: other_menu,
                visit_kind: VisitKind::Return,
                doctor_id: doctor,
                starts_at: ms("2026-11-24T00:00:00Z"),
            },
            tsunagu_i18n::Lang::Ja,
        )
        .await;
    assert!(matches!(r, Err(Invalid(_))));
    // Somebody else's patient.
    let sato = app
        .state
        .accounts
        .patients
        .account_by_phone(&tsunagu_kernel::Phone::parse("p", "090-0000-0002").unwrap())
        .await
        .unwrap()
        .unwrap()
        .id;
    let r = app
        .state
        .booker
        .book_web(
            &f,
            &tsunagu_booking::PatientBooking {
                account: sato,
                patient: patients[0],
                menu_id: menu,
                visit_kind: VisitKind::Return,
                doctor_id: doctor,
                starts_at: ms("2026-11-24T00:00:00Z"),
            },
            tsunagu_i18n::Lang::Ja,
        )
        .await;
    assert!(matches!(r, Err(Invalid(_))));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM bookings").await, before);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM slot_claims").await, 0);
    // Suspended for maintenance: refused (G1), and the booking page says so.
    let mut tx = app.state.db.begin_write().await.unwrap();
    app.state
        .facilities
        .set_online_suspended(&mut tx, f.id, true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let f = app.state.facilities.get(f.id).await.unwrap();
    assert!(matches!(
        book_api(&app, ms("2026-11-24T00:00:00Z")).await,
        Err(Conflict("error.facility.suspended"))
    ));
    let page = app.browser().get("/c/tsunagu-central").await;
    assert!(page.body.contains("メンテナンスのため一時停止中"));
    assert!(f.online_suspended);
    app.stop().await;
}

#[tokio::test]
async fn the_reminder_goes_out_the_day_before_unless_cancelled() {
    let app = TestApp::spawn().await;
    let (_, _, _, acct, _) = demo_ids(&app).await;
    let keep = book_api(&app, ms("2026-11-24T00:00:00Z")).await.unwrap();
    let drop = book_api(&app, ms("2026-11-24T01:00:00Z")).await.unwrap();
    app.state
        .booker
        .cancel_by_patient(acct, drop, tsunagu_i18n::Lang::Ja)
        .await
        .unwrap();
    app.drain().await;
    let reminders = |rows: Vec<tsunagu_notifications::OutboxRow>| {
        rows.into_iter()
            .filter(|m| m.purpose == "booking_reminder")
            .count()
    };
    assert_eq!(
        reminders(app.state.outbox.recent(100).await.unwrap()),
        0,
        "not before the day before"
    );
    // Monday 2026-11-23 10:00 JST.
    app.clock.set("2026-11-23T01:00:00Z".parse().unwrap());
    app.drain().await;
    let rows = app.state.outbox.recent(100).await.unwrap();
    assert_eq!(
        reminders(rows.clone()),
        1,
        "one reminder: the cancelled booking gets none"
    );
    let r = rows
        .into_iter()
        .find(|m| m.purpose == "booking_reminder")
        .unwrap();
    assert!(r.body.contains("明日2026/11/24 09:00"), "{}", r.body);
    assert!(
        r.body.contains("保険証（またはマイナ保険証）が未登録です"),
        "insured menu without insurance: {}",
        r.body
    );
    let _ = keep;
    app.advance(SignedDuration::from_hours(1));
    app.stop().await;
}

#[tokio::test]
async fn staff_book_a_walk_in_patient_in_a_closed_slot_and_see_it_everywhere() {
    let app = TestApp::spawn().await;
    let b = app.staff_browser("tsunagu-central", "clerk").await;
    let f = app.facility("tsunagu-central").await;
    let doctor = app.staff_id(f.id, "doctor").await;
    let menus = app.state.booker.menus.list(f.id, false).await.unwrap();
    let paid = menus.iter().find(|m| m.booking_fee_yen > 0).unwrap();
    let patients_before = count(&app, "SELECT COUNT(*) FROM patients").await;
    // Missing name: a clear message, nothing written.
    let fields = |name: &'static str, chart: &'static str, time: &'static str| {
        vec![
            ("who", "walk_in".to_string()),
            ("name", name.to_string()),
            ("chart_number", chart.to_string()),
            ("menu_id", paid.id.to_string()),
            ("mode", "online".to_string()),
            ("kind", "first".to_string()),
            ("doctor_id", doctor.0.to_string()),
            ("date", "2026-11-20".to_string()),
            ("time", time.to_string()),
            ("memo", "ご家族同席".to_string()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let b = &b;
        async move {
            let csrf = b.get("/staff/bookings/new").await.csrf();
            let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            b.post("/staff/bookings/new", &csrf, &refs).await
        }
    };
    let p = post(fields("", "", "13:00")).await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("入力してください"));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM patients").await,
        patients_before
    );
    // 13:00 is the lunch break: staff may still book it.
    let p = post(fields("新橋 次郎", "W-001", "13:00")).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let id: i64 = p.id_after("/staff/bookings/");
    let booking = app.state.booker.bookings.get_at(f.id, id).await.unwrap();
    assert_eq!(
        booking.booking_fee_yen, 0,
        "no booking fee for in-clinic bookings"
    );
    assert_eq!(booking.account_id, None);
    // Same time again: the doctor is taken (capacity 1); the failed walk-in left no patient.
    let before = count(&app, "SELECT COUNT(*) FROM patients").await;
    let p = post(fields("別の 患者", "", "13:00")).await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("すでに予約で埋まっています"),
        "the form says the time is full"
    );
    assert!(
        p.body.contains("value=\"別の 患者\""),
        "and keeps what was typed"
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM patients").await, before);
    // A 30-minute first visit of another menu.
    let long = menus.iter().find(|m| m.first_minutes == 30).unwrap();
    let mut f30 = fields("長い 診察", "", "15:00");
    f30[3].1 = long.id.to_string();
    f30[4].1 = if long.mode == tsunagu_scheduling::Mode::Online {
        "online".into()
    } else {
        "in_person".into()
    };
    let p = post(f30).await;
    assert_eq!(p.status, 303, "{}", p.body);
    // The schedule shows the booking in its closed slot; the reception list shows it with
    // the memo.
    let sched = b
        .get(&format!(
            "/staff/schedule?doctor={}&date=2026-11-20",
            doctor.0
        ))
        .await;
    assert!(sched.body.contains("新橋 次郎"));
    // A visit longer than one 15-minute row shows in each row it takes.
    assert!(sched.body.contains("長い 診察"), "{}", sched.body);
    assert_eq!(
        sched.body.matches("（続き）長い 診察").count(),
        1,
        "a 30-minute first visit takes two rows"
    );
    assert_eq!(sched.body.matches("（続き）新橋 次郎").count(), 0);
    // The week is one table of times by days that fits a PC screen, not seven stacked
    // lists: seven day headers, one row per time, and the long visit as one labelled block
    // with a continuation bar below it in its own day's column.
    let wk = b
        .get(&format!(
            "/staff/schedule?doctor={}&date=2026-11-20&view=week",
            doctor.0
        ))
        .await;
    assert_eq!(wk.status, 200);
    assert!(
        wk.body.contains("<table class=\"grid week\">"),
        "{}",
        wk.body
    );
    assert!(!wk.body.contains("day-col"), "no stacked day lists");
    let head = &wk.body[wk.body.find("<thead>").unwrap()..wk.body.find("</thead>").unwrap()];
    assert_eq!(
        head.matches("<th scope=\"col\"").count(),
        8,
        "time + 7 days"
    );
    assert_eq!(
        wk.body
            .matches("<th scope=\"row\" class=\"wk-time\">15:00</th>")
            .count(),
        1
    );
    assert_eq!(
        wk.body.matches("（続き）長い 診察").count(),
        2,
        "bar title + hidden label"
    );
    assert_eq!(wk.body.matches("bk bk-cont").count(), 1);
    let all = b
        .get(&format!(
            "/staff/schedule?doctor={}&date=2026-11-20&all=1",
            doctor.0
        ))
        .await;
    assert!(all.body.contains("03:00"), "all times are shown");
    assert!(
        !sched.body.contains(">03:00<"),
        "closed night hours are hidden by default"
    );
    let rec = b.get("/staff/reception?date=2026-11-20").await;
    assert!(rec.body.contains("新橋 次郎"));
    assert!(rec.body.contains("ご家族同席"));
    assert!(rec.body.contains("W-001"));
    // The same chart number with another name is a mix-up, refused.
    let p = post(fields("違う 名前", "W-001", "14:00")).await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("別の名前"));
    // Another facility's staff cannot open it.
    let other = app.staff_browser("tsunagu-north", "clerk").await;
    assert_eq!(
        other.get(&format!("/staff/bookings/{id}")).await.status,
        404
    );
    assert!(
        !other
            .get("/staff/reception?date=2026-11-20")
            .await
            .body
            .contains("新橋 次郎")
    );
    app.stop().await;
}

#[tokio::test]
async fn staff_book_by_phone_for_a_member_who_then_sees_it() {
    let app = TestApp::spawn().await;
    let b = app.staff_browser("tsunagu-central", "clerk").await;
    let f = app.facility("tsunagu-central").await;
    let doctor = app.staff_id(f.id, "doctor2").await;
    let menu = app.state.booker.menus.list(f.id, false).await.unwrap()[0].id;
    let csrf = b.get("/staff/bookings/new").await.csrf();
    let base = vec![
        ("who", "member".to_string()),
        ("member_phone", "090-0000-0002".to_string()),
        ("member_birth_date", "1992-11-03".to_string()),
        ("menu_id", menu.to_string()),
        ("kind", "return".to_string()),
        ("doctor_id", doctor.0.to_string()),
        ("date", "2026-11-24".to_string()),
        ("time", "10:00".to_string()),
    ];
    // The caller states the number and the birth date; the family is never listed.
    let mut wrong_birth = base.clone();
    wrong_birth[2] = ("member_birth_date", "1992-11-04".to_string());
    let refs: Vec<(&str, &str)> = wrong_birth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post("/staff/bookings/new", &csrf, &refs).await;
    assert_eq!(p.status, 422);
    assert!(
        p.body
            .contains("この電話番号と生年月日に一致する会員は見つかりません")
    );
    assert!(!p.body.contains("佐藤"), "no names of the account's people");
    let refs: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post("/staff/bookings/new", &csrf, &refs).await;
    assert_eq!(p.status, 303, "{}", p.body);
    // Unknown number: the same message as a wrong birth date.
    let mut unknown = base.clone();
    unknown[1] = ("member_phone", "090-9999-9999".to_string());
    let refs: Vec<(&str, &str)> = unknown.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let p = b.post("/staff/bookings/new", &csrf, &refs).await;
    assert!(
        p.body
            .contains("この電話番号と生年月日に一致する会員は見つかりません")
    );
    // The member sees it on the top page.
    let patient = app.browser();
    patient
        .submit(
            "/login",
            "/login",
            &[
                ("phone", "090-0000-0002"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    let top = patient.get("/").await;
    assert!(top.body.contains("2026/11/24 10:00"));
    app.stop().await;
}

#[tokio::test]
async fn a_patient_moves_a_booking_and_staff_close_them() {
    let app = TestApp::spawn().await;
    let (f, doctor, _, acct, _) = demo_ids(&app).await;
    let id = book_api(&app, ms("2026-11-24T00:00:00Z")).await.unwrap();
    // Move to 10:00 JST through the pages.
    let b = app.browser();
    b.submit(
        "/login",
        "/login",
        &[
            ("phone", "090-0000-0001"),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ],
    )
    .await;
    let page = b
        .get(&format!(
            "/c/tsunagu-central/book?change={id}&from=2026-11-24"
        ))
        .await;
    assert!(page.body.contains("予約の変更"));
    let target = format!("{}:{}", doctor.0, ms("2026-11-24T01:00:00Z"));
    assert!(page.body.contains(&target), "10:00 is offered");
    // The page says what is booked now; the confirmation shows the move as old → new.
    assert!(
        page.body.contains("現在の予約日時: 2026/11/24 09:00"),
        "{}",
        page.body
    );
    let confirm = b
        .get(&format!(
            "/c/tsunagu-central/book/confirm?change={id}&slot={target}"
        ))
        .await;
    assert!(confirm.body.contains("この日時に変更しますか"));
    assert!(
        confirm
            .body
            .contains("変更前の日時</dt><dd><del>2026/11/24 09:00</del>"),
        "{}",
        confirm.body
    );
    assert!(
        confirm
            .body
            .contains("変更後の日時</dt><dd><strong>2026/11/24 10:00</strong>")
    );
    let p = b
        .post(
            "/c/tsunagu-central/book",
            &confirm.csrf(),
            &[("change", &id.to_string()), ("slot", &target)],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some(&*format!("/my/bookings/{id}?done=changed")),
        "{}",
        p.body
    );
    let moved = app
        .state
        .booker
        .bookings
        .get_for_account(acct, id)
        .await
        .unwrap();
    assert_eq!(moved.starts_at, ms("2026-11-24T01:00:00Z"));
    // The old time is free again, the new one taken.
    let claims = app
        .state
        .booker
        .bookings
        .claims(
            doctor,
            ms("2026-11-24T00:00:00Z"),
            ms("2026-11-24T02:00:00Z"),
        )
        .await
        .unwrap();
    assert!(!claims.contains_key(&ms("2026-11-24T00:00:00Z")));
    assert!(claims.contains_key(&ms("2026-11-24T01:00:00Z")));
    // Someone else's booking id cannot be moved.
    let other = app.browser();
    other
        .submit(
            "/login",
            "/login",
            &[
                ("phone", "090-0000-0002"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        other
            .get(&format!("/c/tsunagu-central/book?change={id}"))
            .await
            .status,
        404
    );
    // On the day, staff cancel: flagged late, the member is told.
    app.clock.set("2026-11-23T23:00:00Z".parse().unwrap());
    let staff = app.staff_browser("tsunagu-central", "clerk").await;
    let d = staff.get(&format!("/staff/bookings/{id}")).await;
    let p = staff
        .post(
            &format!("/staff/bookings/{id}/close"),
            &d.csrf(),
            &[("status", "cancelled")],
        )
        .await;
    assert_eq!(p.status, 303);
    let b2 = app.state.booker.bookings.get_at(f.id, id).await.unwrap();
    assert_eq!(b2.status, tsunagu_booking::BookingStatus::Cancelled);
    assert!(b2.late_cancel);
    let sms = app.last_sms_to("+819000000001").await.unwrap();
    assert!(sms.contains("キャンセルされました"), "{sms}");
    // A no-show only once the visit's start has passed; then it is recorded and flagged.
    let id2 = {
        app.clock.set(start_time());
        book_api(&app, ms("2026-11-25T00:00:00Z")).await.unwrap()
    };
    app.clock.set("2026-11-24T23:30:00Z".parse().unwrap());
    let staff = app.staff_browser("tsunagu-central", "clerk").await;
    let d = staff.get(&format!("/staff/bookings/{id2}")).await;
    assert!(
        d.body.contains("受診済みにする"),
        "seen is offered an hour before"
    );
    assert!(
        !d.body.contains("value=\"no_show\""),
        "no-show is not offered before the start"
    );
    let close = |status: &'static str| {
        let staff = &staff;
        let csrf = d.csrf();
        async move {
            staff
                .post(
                    &format!("/staff/bookings/{id2}/close"),
                    &csrf,
                    &[("status", status)],
                )
                .await
        }
    };
    let p = close("no_show").await;
    assert_eq!(p.status, 422, "the page again, saying why: {}", p.body);
    assert!(
        p.body.contains("開始時刻を過ぎてから記録してください"),
        "{}",
        p.body
    );
    app.clock.set("2026-11-25T00:05:00Z".parse().unwrap());
    assert_eq!(close("no_show").await.status, 303);
    let b3 = app.state.booker.bookings.get_at(f.id, id2).await.unwrap();
    assert_eq!(b3.status, tsunagu_booking::BookingStatus::NoShow);
    assert!(b3.late_cancel);
    assert_eq!(
        close("completed").await.status,
        422,
        "a closed booking stays closed"
    );
    // A slip of the hand is undone the same day: booked again, fee flag gone, audited.
    let page = staff.get(&format!("/staff/bookings/{id2}")).await;
    assert!(page.body.contains("受付処理を取り消す"), "{}", page.body);
    let p = staff
        .post(&format!("/staff/bookings/{id2}/reopen"), &page.csrf(), &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let b4 = app.state.booker.bookings.get_at(f.id, id2).await.unwrap();
    assert_eq!(b4.status, tsunagu_booking::BookingStatus::Booked);
    assert!(!b4.late_cancel);
    let reopened: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'booking.reopen'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(reopened, 1);
    assert_eq!(close("completed").await.status, 303);
    // The next day the mark stands.
    app.clock.set("2026-11-25T15:30:00Z".parse().unwrap());
    let staff = app.staff_browser("tsunagu-central", "clerk").await;
    let page = staff.get(&format!("/staff/bookings/{id2}")).await;
    assert!(!page.body.contains("受付処理を取り消す"));
    let p = staff
        .post(&format!("/staff/bookings/{id2}/reopen"), &page.csrf(), &[])
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("記録した当日のうちだけ"), "{}", p.body);
    app.stop().await;
}

#[tokio::test]
async fn the_api_books_moves_cancels_and_staff_see_and_close() {
    let app = TestApp::spawn().await;
    let me = app
        .api()
        .with_token(&patient_token(&app, "090-0000-0002").await);
    let (_, menus) = app.api().get("/facilities/sapporo-hikari/menus").await;
    let menu = menus[0]["id"].as_i64().unwrap();
    let (s, slots) = app
        .api()
        .get(&format!(
            "/facilities/sapporo-hikari/slots?menu={menu}&kind=return&from=2026-11-24&days=1"
        ))
        .await;
    assert_eq!(s, 200, "{slots}");
    let first = slots[0].clone();
    let (_, who) = me.get("/me").await;
    let pid = who["patients"][0]["id"].as_i64().unwrap();
    let body = serde_json::json!({"facility": "sapporo-hikari", "patient_id": pid, "menu_id": menu, "kind": "return",
        "doctor_id": first["doctor_id"], "starts_at": first["starts_at"]});
    let (s, b) = me.post("/me/bookings", body.clone()).await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_i64().unwrap();
    assert_eq!(b["status"], "booked");
    // The same slot again: 409 with the message to pick another time.
    let (s, e) = me.post("/me/bookings", body.clone()).await;
    assert!(s == 409 || s == 422, "{s} {e}");
    // Bad input: a wrong kind and an unreadable time name their fields.
    let (s, e) = me.post("/me/bookings", serde_json::json!({"facility": "sapporo-hikari", "patient_id": pid, "menu_id": menu, "kind": "soon", "doctor_id": 1, "starts_at": "tomorrow"})).await;
    assert_eq!(s, 422);
    assert_eq!(e["error"]["fields"][0]["field"], "kind");
    // Move to the second slot, then cancel.
    let second = slots[1].clone();
    let (s, moved) = me
        .put(
            &format!("/me/bookings/{id}"),
            serde_json::json!({"doctor_id": second["doctor_id"], "starts_at": second["starts_at"]}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(moved["starts_at"], second["starts_at"]);
    let (_, list) = me.get("/me/bookings").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Staff of the clinic see it on the day's list; others do not.
    let staff = app
        .api()
        .with_token(&staff_token(&app, "sapporo-hikari", "clerk").await);
    let (_, day) = staff.get("/staff/bookings?date=2026-11-24").await;
    assert!(day.as_array().unwrap().iter().any(|x| x["id"] == id));
    let other = app
        .api()
        .with_token(&staff_token(&app, "tsunagu-north", "clerk").await);
    let (_, none) = other.get("/staff/bookings?date=2026-11-24").await;
    assert!(none.as_array().unwrap().is_empty());
    let (s, _) = other
        .post(
            &format!("/staff/bookings/{id}/close"),
            serde_json::json!({"status": "completed"}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = me.delete(&format!("/me/bookings/{id}")).await;
    assert_eq!(s, 204);
    // Staff book a walk-in through the API: no fee even on the paid menu.
    let paid = menus
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["booking_fee_yen"].as_i64().unwrap() > 0)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let doctor = first["doctor_id"].as_i64().unwrap();
    let (s, w) = staff
        .post("/staff/bookings", serde_json::json!({"name": "新橋 三郎", "menu_id": paid, "kind": "first", "doctor_id": doctor, "starts_at": "2026-11-24T04:00:00Z", "memo": "電話で受付"}))
        .await;
    assert_eq!(s, 201, "{w}");
    assert_eq!(w["booking_fee_yen"], 0);
    assert_eq!(w["source"], "in_clinic");
    // Seen only from an hour before the visit.
    let (s, e) = staff
        .post(
            &format!("/staff/bookings/{}/close", w["id"]),
            serde_json::json!({"status": "completed"}),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    app.clock.set("2026-11-24T03:30:00Z".parse().unwrap());
    let staff = app
        .api()
        .with_token(&staff_token(&app, "sapporo-hikari", "clerk").await);
    let (s, c) = staff
        .post(
            &format!("/staff/bookings/{}/close", w["id"]),
            serde_json::json!({"status": "completed"}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(c["status"], "completed");
    // The OpenAPI document describes the booking calls.
    let doc: serde_json::Value = reqwest::get(format!("{}/api/openapi.json", app.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/facilities/{slug}/slots",
        "/api/v1/me/bookings/{id}",
        "/api/v1/staff/bookings/{id}/close",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
    app.stop().await;
}

/// An in-person menu booked by staff without choosing a mode is an in-person visit: the
/// form's default once made it a video visit (the video icon showed at reception).
#[tokio::test]
async fn a_staff_booking_takes_the_menus_mode_unless_told_otherwise() {
    let app = TestApp::spawn().await;
    let token = staff_token(&app, "tsunagu-central", "clerk").await;
    let staff = app.api().with_token(&token);
    let f = app.facility("tsunagu-central").await;
    let doctor = app.staff_id(f.id, "doctor2").await;
    let menus = app.state.booker.menus.list(f.id, false).await.unwrap();
    let in_person = menus
        .iter()
        .find(|m| m.mode == tsunagu_scheduling::Mode::InPerson)
        .unwrap()
        .id;
    let book = |extra: serde_json::Value, at: &str| {
        let mut body = serde_json::json!({"name": "来院 花子", "menu_id": in_person, "kind": "return",
            "doctor_id": doctor.0, "starts_at": at});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };
    let (s, v) = staff
        .post(
            "/staff/bookings",
            book(serde_json::json!({}), "2026-11-24T01:00:00Z"),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["mode"], "in_person");
    // Staff may still say otherwise, on purpose.
    let (s, v) = staff
        .post(
            "/staff/bookings",
            book(
                serde_json::json!({"mode": "online"}),
                "2026-11-24T02:00:00Z",
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["mode"], "online");
    let reception = app
        .staff_browser("tsunagu-central", "clerk")
        .await
        .get("/staff/reception?date=2026-11-24")
        .await;
    assert_eq!(
        reception.body.matches("class=\"video\"").count(),
        1,
        "one video visit"
    );
    app.stop().await;
}
