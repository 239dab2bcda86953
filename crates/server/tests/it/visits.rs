//! Video visits: video-call URLs (B8, C2–C5) created, sent, shown, resent, edited and
//! cancelled; their patient links' windows in the facility's zone; a member's
//! 「ビデオ通話画面へ進む」 timing (C1); the doctor starting and ending (C6).

use jiff::SignedDuration;

use crate::helpers::*;

/// The patient URL inside a captured message.
fn url_in(body: &str) -> String {
    let at = body.find("/v/").expect("a patient URL");
    body[at..]
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_video_call_url_is_created_sent_shown_resent_edited_and_cancelled() {
    let app = TestApp::spawn().await;
    let f = app.facility("sapporo-hikari").await;
    let doctor = app.staff_id(f.id, "doctor").await.0.to_string();
    let clerk = crate::setup::staff(&app, "clerk").await;
    let form = clerk.get("/staff/visits/new").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("現在時刻で作成"));
    // Bad input names each field and keeps what was typed: no time, a landline for SMS.
    let p = clerk
        .submit(
            "/staff/visits/new",
            "/staff/visits",
            &[
                ("date", "2026-11-20"),
                ("time", ""),
                ("title", "初診 佐藤様"),
                ("doctor", &doctor),
                ("send", "sms"),
                ("destination", "03-1234-5678"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("開始日と開始時刻を入力してください"),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"初診 佐藤様\""));
    assert!(p.body.contains("value=\"03-1234-5678\""));
    // A start in the past is refused: 「現在時刻で作成」 is the way to start now.
    let p = clerk
        .submit(
            "/staff/visits/new",
            "/staff/visits",
            &[
                ("date", "2026-11-20"),
                ("time", "08:00"),
                ("title", "x"),
                ("doctor", &doctor),
                ("send", "none"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("現在時刻で作成"));
    // Created now and sent by SMS.
    let p = clerk
        .submit(
            "/staff/visits/new",
            "/staff/visits",
            &[
                ("now", "1"),
                ("date", ""),
                ("time", ""),
                ("title", "初診 佐藤様"),
                ("doctor", &doctor),
                ("send", "sms"),
                ("destination", "090-1111-2222"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let id = p.id_after("/staff/visits/");
    let sms = app
        .last_sms_to("+819011112222")
        .await
        .expect("the URL was sent");
    assert!(sms.contains("ビデオ通話のURL"), "{sms}");
    let link = url_in(&sms);
    // The patient link opens the waiting room.
    let patient = app.browser();
    let room = patient.get(&link).await;
    assert_eq!(room.status, 200, "{}", room.body);
    assert!(
        room.body.contains("診察はまだ始まっていません"),
        "{}",
        room.body
    );
    assert!(
        !room.body.contains("初診 佐藤様"),
        "the title is for staff only"
    );
    // Staff show the same patient URL and its window; the clinic URL is another one.
    let page = clerk.get(&format!("/staff/visits/{id}?show=1")).await;
    assert!(page.body.contains(&link), "{}", page.body);
    assert!(page.body.contains("有効期間"));
    assert!(page.body.contains(&format!("/staff/visits/{id}\"")));
    assert!(page.body.contains("SMS +819011112222"));
    // Resend by email overwrites the recorded destination and time.
    let p = clerk
        .post(
            &format!("/staff/visits/{id}/send"),
            &page.csrf(),
            &[("send", "email"), ("destination", "not-an-address")],
        )
        .await;
    assert_eq!(p.status, 422);
    let p = clerk
        .post(
            &format!("/staff/visits/{id}/send"),
            &page.csrf(),
            &[("send", "email"), ("destination", "sato@example.jp")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let page = clerk.get(&format!("/staff/visits/{id}")).await;
    assert!(
        page.body.contains("メール sato@example.jp"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("SMS +819011112222"));
    // Title and doctor can be edited; the start cannot.
    let p = clerk
        .post(
            &format!("/staff/visits/{id}/edit"),
            &page.csrf(),
            &[("title", "再診 佐藤様"), ("doctor", &doctor)],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    // The schedule shows it; the reception list does not (B8).
    let sched = clerk
        .get(&format!("/staff/schedule?doctor={doctor}&date=2026-11-20"))
        .await;
    assert!(sched.body.contains("再診 佐藤様"), "{}", sched.body);
    assert!(sched.body.contains(&format!("/staff/visits/{id}")));
    let rec = clerk.get("/staff/reception?date=2026-11-20").await;
    assert!(!rec.body.contains("再診 佐藤様"));
    // Another facility's staff cannot open it.
    let other = app.staff_browser("tsunagu-central", "clerk").await;
    assert_eq!(other.get(&format!("/staff/visits/{id}")).await.status, 404);
    // Cancelled by the clinic: the patient is not told, and the link stops at once.
    let outbox_before = app.state.outbox.recent(200).await.unwrap().len();
    let p = clerk
        .post(&format!("/staff/visits/{id}/cancel"), &page.csrf(), &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    app.drain().await;
    assert_eq!(
        app.state.outbox.recent(200).await.unwrap().len(),
        outbox_before
    );
    let gone = patient.get(&link).await;
    assert_eq!(gone.status, 404);
    assert!(gone.body.contains("このURLではビデオ通話に入れません"));
    // A made-up link gets the same clear page, never a 500.
    for bad in ["/v/x", "/v/%00", &format!("/v/{}", "a".repeat(64))] {
        let r = patient.get(bad).await;
        assert!(matches!(r.status, 404 | 422), "{bad}: {}", r.status);
    }
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE action LIKE 'visit.%' ORDER BY seq",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            "visit.create",
            "visit.send",
            "visit.send",
            "visit.edit",
            "visit.cancel"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn a_patient_link_opens_an_hour_before_and_closes_the_same_time_next_day() {
    let app = TestApp::spawn().await;
    let f = app.facility("sapporo-hikari").await;
    let doctor = app.staff_id(f.id, "doctor").await.0.to_string();
    let clerk = crate::setup::staff(&app, "clerk").await;
    // 23:00 JST tonight (the clock is 10:00 JST; the server runs in UTC).
    let p = clerk
        .submit(
            "/staff/visits/new",
            "/staff/visits",
            &[
                ("date", "2026-11-20"),
                ("time", "23:00"),
                ("title", "夜間"),
                ("doctor", &doctor),
                ("send", "sms"),
                ("destination", "080-3333-4444"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let link = url_in(&app.last_sms_to("+818033334444").await.unwrap());
    let patient = app.browser();
    let early = patient.get(&link).await;
    assert!(
        early
            .body
            .contains("このビデオ通話は開始前です。開始1時間前より待機することができます。"),
        "{}",
        early.body
    );
    // 21:59 JST: still early; 22:00: open.
    app.advance(SignedDuration::from_mins(11 * 60 + 59));
    assert!(patient.get(&link).await.body.contains("開始前です"));
    app.advance(SignedDuration::from_mins(1));
    assert!(patient.get(&link).await.body.contains("待合室"));
    // 22:59 JST the next day: open (late); 23:00: expired.
    app.advance(SignedDuration::from_mins(25 * 60 - 1));
    let late = patient.get(&link).await;
    assert!(
        late.body.contains("遅れている可能性があります"),
        "{}",
        late.body
    );
    app.advance(SignedDuration::from_mins(1));
    let expired = patient.get(&link).await;
    assert_eq!(expired.status, 410);
    assert!(expired.body.contains("有効期限が切れています"));
    app.stop().await;
}

#[tokio::test]
async fn a_members_button_appears_the_facilitys_minutes_before_and_the_doctor_starts_and_ends() {
    let app = TestApp::spawn().await;
    let b = crate::documents::logged_in(&app, "090-0000-0002").await;
    let (id, _) = crate::documents::book_first_slot(&app, &b).await;
    let booking = app
        .state
        .booker
        .bookings
        .get_for_account(
            tsunagu_kernel::AccountId(
                sqlx::query_scalar("SELECT account_id FROM bookings WHERE id = $1")
                    .bind(id)
                    .fetch_one(app.state.db.pool())
                    .await
                    .unwrap(),
            ),
            id,
        )
        .await
        .unwrap();
    // The first slot is 10:15 and the clock 10:00: by default (15 minutes) the button shows.
    let page = b.get(&format!("/my/bookings/{id}")).await;
    assert!(page.body.contains("id=\"enter-visit\""), "{}", page.body);
    // A facility that opens the room 5 minutes before: the page says when, and the room
    // is not open yet.
    sqlx::query("UPDATE facilities SET video_entry_minutes = 5 WHERE slug = 'tsunagu-central'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let page = b.get(&format!("/my/bookings/{id}")).await;
    assert!(
        page.body.contains("id=\"enter-visit-later\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("2026/11/20 10:10 から表示されます"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"enter-visit\""));
    let early = b.get(&format!("/my/bookings/{id}/visit")).await;
    assert_eq!(early.status, 303);
    // 5 minutes before the start, it appears and opens the waiting room.
    let now = tsunagu_kernel::Clock::now_ms(&app.clock);
    app.advance(SignedDuration::from_millis(
        booking.starts_at - 5 * 60_000 - now,
    ));
    let page = b.get(&format!("/my/bookings/{id}")).await;
    assert!(page.body.contains("ビデオ通話画面へ進む"), "{}", page.body);
    let room = b.get(&format!("/my/bookings/{id}/visit")).await;
    assert_eq!(room.status, 200, "{}", room.body);
    assert!(room.body.contains("診察はまだ始まっていません"));
    // Entering twice is the same visit.
    b.get(&format!("/my/bookings/{id}/visit")).await;
    let visits: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM visits WHERE booking_id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(visits, 1);
    let visit: i64 = sqlx::query_scalar("SELECT id FROM visits WHERE booking_id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    // A clerk cannot start it; the doctor starts it and the patient's page follows.
    let clerk = app.staff_browser("tsunagu-central", "clerk").await;
    let sp = clerk.get(&format!("/staff/visits/{visit}")).await;
    assert_eq!(sp.status, 200);
    assert!(!sp.body.contains("ビデオ通話を開始する"));
    let p = clerk
        .post(&format!("/staff/visits/{visit}/start"), &sp.csrf(), &[])
        .await;
    assert_eq!(p.status, 403);
    let doctor = crate::setup::staff_at(&app, "tsunagu-central", "doctor").await;
    let dp = doctor.get(&format!("/staff/visits/{visit}")).await;
    assert!(dp.body.contains("ビデオ通話を開始する"), "{}", dp.body);
    let p = doctor
        .post(&format!("/staff/visits/{visit}/start"), &dp.csrf(), &[])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let room = b.get(&format!("/my/bookings/{id}/visit")).await;
    assert!(
        room.body.contains("医師が診察を開始しました"),
        "{}",
        room.body
    );
    // Starting twice is refused with a clear message; the doctor ends it.
    let p = doctor
        .post(&format!("/staff/visits/{visit}/start"), &dp.csrf(), &[])
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body
            .contains("画面を再読み込みして状態を確認してください")
    );
    let p = doctor
        .post(&format!("/staff/visits/{visit}/end"), &dp.csrf(), &[])
        .await;
    assert_eq!(p.status, 303);
    let room = b.get(&format!("/my/bookings/{id}/visit")).await;
    assert!(room.body.contains("この診察は終了しました"));
    app.stop().await;
}

/// A patient's session cookie, for a socket.
async fn patient_cookie(app: &TestApp, phone: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    let anon = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = Page {
        status: 200,
        location: None,
        body: page.text().await.unwrap(),
    }
    .csrf();
    let r = http
        .post(format!("{}/login", app.base))
        .header("cookie", &anon)
        .form(&[
            ("csrf", csrf.as_str()),
            ("phone", phone),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/my");
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

async fn settle() {
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
}

async fn audited(app: &TestApp, action: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = $1")
        .bind(action)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// Presence (C8): the patient's page puts them in the room; the reception list shows who
/// waits and for how long, and who left; a reload or a dropped connection rejoins the same
/// visit without a second arrival; the doctor's start reaches the patient's page at once.
#[tokio::test]
async fn the_reception_list_sees_a_patient_arrive_wait_and_leave_and_a_rejoin_is_the_same_visit() {
    use futures::{SinkExt, StreamExt};
    let app = TestApp::spawn().await;
    let b = crate::documents::logged_in(&app, "090-0000-0002").await;
    let (id, _) = crate::documents::book_first_slot(&app, &b).await;
    // 10:00, the visit at 10:15: the room is open (15 minutes before by default).
    assert_eq!(b.get(&format!("/my/bookings/{id}/visit")).await.status, 200);
    let staff = crate::live::staff_cookie(&app, "tsunagu-central", "clerk").await;
    let mut desk = crate::live::connect(&app, "/staff/ws", &staff).await;
    let cookie = patient_cookie(&app, "090-0000-0002").await;
    let path = format!("/my/bookings/{id}/visit/ws");
    let mut first = crate::live::connect(&app, &path, &cookie).await;
    settle().await;
    let visit: i64 = sqlx::query_scalar("SELECT id FROM visits WHERE booking_id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let f = app.facility("tsunagu-central").await;
    let state = || async { app.state.visits.get(f.id, visit).await.unwrap().state };
    assert_eq!(state().await, tsunagu_visits::VisitState::Waiting);
    // The reception screen hears of it and lists the patient as waiting.
    let msg = tokio::time::timeout(std::time::Duration::from_secs(5), desk.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(msg.to_text().unwrap().contains("visit.changed"));
    let clerk = app.staff_browser("tsunagu-central", "clerk").await;
    let rec = clerk.get("/staff/reception?date=2026-11-20").await;
    assert!(rec.body.contains("待合室 0分"), "{}", rec.body);
    // Three minutes on, its page's heartbeats keep it in the room.
    app.advance(SignedDuration::from_mins(3));
    first
        .send(tokio_tungstenite::tungstenite::Message::Text("beat".into()))
        .await
        .unwrap();
    settle().await;
    assert!(
        clerk
            .get("/staff/reception?date=2026-11-20")
            .await
            .body
            .contains("待合室 3分")
    );
    // A reload opens a second connection before the first closes: still one arrival.
    let mut second = crate::live::connect(&app, &path, &cookie).await;
    settle().await;
    first.close(None).await.unwrap();
    settle().await;
    assert_eq!(state().await, tsunagu_visits::VisitState::Waiting);
    assert_eq!(audited(&app, "visit.join").await, 1);
    assert_eq!(audited(&app, "visit.leave").await, 0);
    // The doctor starts: the patient's page hears it at once.
    let doctor = crate::setup::staff_at(&app, "tsunagu-central", "doctor").await;
    let dp = doctor.get(&format!("/staff/visits/{visit}")).await;
    assert!(dp.body.contains("data-room-ws"));
    let p = doctor
        .post(&format!("/staff/visits/{visit}/start"), &dp.csrf(), &[])
        .await;
    assert_eq!(p.status, 303);
    let msg = tokio::time::timeout(std::time::Duration::from_secs(5), second.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(msg.to_text().unwrap().contains("in_progress"), "{msg:?}");
    assert!(
        clerk
            .get("/staff/reception?date=2026-11-20")
            .await
            .body
            .contains("診察中")
    );
    // The patient's network drops (the socket closes) and comes back: the same visit goes
    // on, in progress; one more presence row, no new visit.
    second.close(None).await.unwrap();
    settle().await;
    let mut third = crate::live::connect(&app, &path, &cookie).await;
    settle().await;
    assert_eq!(state().await, tsunagu_visits::VisitState::InProgress);
    let visits: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM visits WHERE booking_id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(visits, 1);
    let rows: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM visit_presence WHERE visit_id = $1 AND role = 'patient'",
    )
    .bind(visit)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(rows, 3);
    third
        .send(tokio_tungstenite::tungstenite::Message::Text("beat".into()))
        .await
        .unwrap();
    third.close(None).await.unwrap();
    settle().await;
    assert!(audited(&app, "visit.leave").await >= 1);
    app.stop().await;
}

/// A patient who leaves the waiting room before the doctor starts shows as left.
#[tokio::test]
async fn a_url_call_patient_who_leaves_the_waiting_room_shows_as_left() {
    let app = TestApp::spawn().await;
    let f = app.facility("sapporo-hikari").await;
    let doctor = app.staff_id(f.id, "doctor").await.0.to_string();
    let clerk = crate::setup::staff(&app, "clerk").await;
    let p = clerk
        .submit(
            "/staff/visits/new",
            "/staff/visits",
            &[
                ("now", "1"),
                ("title", "URL 患者"),
                ("doctor", &doctor),
                ("send", "sms"),
                ("destination", "090-5555-6666"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let visit = p.id_after("/staff/visits/");
    let link = url_in(&app.last_sms_to("+819055556666").await.unwrap());
    let room = app.browser().get(&link).await;
    assert!(
        room.body.contains(&format!("data-room-ws=\"{link}/ws\"")),
        "{}",
        room.body
    );
    let mut ws = crate::live::connect(&app, &format!("{link}/ws"), "x=y").await;
    settle().await;
    assert_eq!(
        app.state.visits.get(f.id, visit).await.unwrap().state,
        tsunagu_visits::VisitState::Waiting
    );
    ws.close(None).await.unwrap();
    settle().await;
    assert_eq!(
        app.state.visits.get(f.id, visit).await.unwrap().state,
        tsunagu_visits::VisitState::Scheduled
    );
    assert_eq!(audited(&app, "visit.join").await, 1);
    assert_eq!(audited(&app, "visit.leave").await, 1);
    // A made-up link's socket is refused.
    let url = app.base.replace("http://", "ws://") + &format!("/v/{}/ws", "b".repeat(64));
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
    app.stop().await;
}
