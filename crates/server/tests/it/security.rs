//! Attacks from the security review, each replayed against the running service: second
//! factor guessing, parallel password guessing, memory under a login burst.

use jiff::SignedDuration;
use serde_json::json;

use crate::helpers::*;

/// A staff login through the API from `ip` (forwarded by a trusted proxy).
async fn staff_login_from(
    app: &TestApp,
    ip: &str,
    login: &str,
    password: &str,
) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/staff/login", app.base))
        .header("x-forwarded-for", ip)
        .json(&json!({"facility": "tsunagu-central", "login_id": login, "password": password}))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(serde_json::Value::Null))
}

async fn totp_from(app: &TestApp, ip: &str, token: &str, code: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/api/v1/staff/totp", app.base))
        .header("x-forwarded-for", ip)
        .bearer_auth(token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn proxied() -> Options {
    Options {
        trusted_proxies: vec!["127.0.0.0/8".into()],
        ..Options::default()
    }
}

/// A code that is not the current one (nor the neighbouring steps).
fn wrong_code(app: &TestApp, secret: &str, n: u32) -> String {
    let right = totp_now(app, secret);
    let mut c = format!("{:06}", (u64::from(n) * 7919 + 13) % 1_000_000);
    if c == right {
        c = format!("{:06}", (c.parse::<u64>().unwrap() + 1) % 1_000_000);
    }
    c
}

#[tokio::test]
async fn totp_guessing_ends_the_pending_token_and_locks_the_account() {
    let app = TestApp::spawn_with(proxied()).await;
    // Enrol the doctor's authenticator, so later logins ask for a code.
    staff_token(&app, "tsunagu-central", "doctor").await;
    let secret = stored_secret(&app, "tsunagu-central", "doctor").await;
    let pw = tsunagu_server::demo::DEMO_PASSWORD;

    // One pending token takes five codes, then it is gone: even the right code is refused.
    let (s, v) = staff_login_from(&app, "198.51.100.1", "doctor", pw).await;
    assert_eq!(s, 200, "{v}");
    let pending = v["token"].as_str().unwrap().to_string();
    let mut evaluated = 0;
    for i in 0..5 {
        // Past each delay the failures bring (5 s after the fourth).
        app.advance(SignedDuration::from_secs(6));
        let s = totp_from(
            &app,
            "198.51.100.1",
            &pending,
            &wrong_code(&app, &secret, i),
        )
        .await;
        assert_eq!(s, 422, "try {i}");
        evaluated += 1;
    }
    let s = totp_from(&app, "198.51.100.1", &pending, &totp_now(&app, &secret)).await;
    assert_eq!(s, 401, "the pending token ended after five wrong codes");

    // With the password known, fresh pending tokens from fresh addresses: every wrong code
    // counts toward the account's lock, and the password step does not wipe them.
    let start = tsunagu_kernel::Clock::now(&app.clock);
    let mut round = 0u32;
    let hour_over = |app: &TestApp| {
        tsunagu_kernel::Clock::now(&app.clock).duration_since(start)
            >= SignedDuration::from_hours(1)
    };
    while !hour_over(&app) {
        app.advance(SignedDuration::from_secs(200));
        round += 1;
        let ip = format!("203.0.113.{round}");
        let (s, v) = staff_login_from(&app, &ip, "doctor", pw).await;
        if s == 429 {
            continue;
        }
        assert_eq!(s, 200, "{v}");
        let t = v["token"].as_str().unwrap().to_string();
        match totp_from(&app, &ip, &t, &wrong_code(&app, &secret, 100 + round)).await {
            422 => evaluated += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        evaluated <= 10,
        "{evaluated} codes evaluated in the first hour"
    );
    let fid = app.facility("tsunagu-central").await.id;
    let failed = |app: &TestApp| {
        let app_state = app.state.clone();
        async move {
            app_state
                .accounts
                .staff
                .find_login(fid, "doctor")
                .await
                .unwrap()
                .unwrap()
                .failed_logins
        }
    };
    assert_eq!(failed(&app).await, evaluated, "every wrong code counted");

    // The tenth wrong code locks the login: then neither the password nor a code gets in.
    while failed(&app).await < 10 {
        app.advance(SignedDuration::from_mins(10));
        round += 1;
        let ip = format!("203.0.113.{round}");
        let (s, v) = staff_login_from(&app, &ip, "doctor", pw).await;
        assert_eq!(s, 200, "{v}");
        let t = v["token"].as_str().unwrap().to_string();
        let s = totp_from(&app, &ip, &t, &wrong_code(&app, &secret, 100 + round)).await;
        assert!(s == 422 || s == 429, "{s}");
    }
    let (s, v) = staff_login_from(&app, "192.0.2.9", "doctor", pw).await;
    assert_eq!(s, 429, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("一時的にログインできません")
    );
    app.stop().await;
}

#[tokio::test]
async fn parallel_wrong_passwords_are_counted_before_they_are_evaluated() {
    let app = TestApp::spawn_with(proxied()).await;
    let mut tasks = Vec::new();
    let http = reqwest::Client::new();
    for i in 0..150u32 {
        let base = app.base.clone();
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/api/v1/staff/login"))
                .header("x-forwarded-for", format!("10.9.{}.{}", i / 200, i % 200 + 1))
                .json(&json!({"facility": "tsunagu-central", "login_id": "clerk", "password": format!("wrong-{i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut unauthorized = 0;
    for t in tasks {
        match t.await.unwrap() {
            401 => unauthorized += 1,
            429 | 503 => {}
            other => panic!("unexpected {other}"),
        }
    }
    let fid = app.facility("tsunagu-central").await.id;
    let user = app
        .state
        .accounts
        .staff
        .find_login(fid, "clerk")
        .await
        .unwrap()
        .unwrap();
    // Three free failures, the fourth starts the delay: nothing after it is evaluated.
    assert!(unauthorized <= 4, "{unauthorized} passwords evaluated");
    assert_eq!(
        user.failed_logins, unauthorized,
        "every evaluated attempt counted"
    );
    app.stop().await;
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// 150 parallel logins to unknown numbers once took the server from 89 MB to 2.9 GB: each
/// argon2 hash holds 19 MiB. Hashing is now one per core; resident memory stays bounded.
#[tokio::test]
async fn a_login_burst_keeps_memory_bounded() {
    const BOUND_MIB: u64 = 200;
    let app = TestApp::spawn_with(proxied()).await;
    let before = resident_kib();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak.fetch_max(resident_kib(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    // One client for all: 150 clients would measure their own TLS set-up, not the server.
    let http = reqwest::Client::new();
    for i in 0..150u32 {
        let base = app.base.clone();
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            http.post(format!("{base}/api/v1/login"))
                .header("x-forwarded-for", format!("10.8.{}.{}", i / 200, i % 200 + 1))
                .json(&json!({"phone": format!("080-7{:03}-{:04}", i % 1000, i), "password": "wrong-pass-1"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();
    let growth_mib = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(before)
        / 1024;
    eprintln!("login burst: statuses {statuses:?}, resident growth {growth_mib} MiB");
    assert!(
        statuses.keys().all(|s| *s == 401 || *s == 503),
        "only 'wrong' or 'busy, retry': {statuses:?}"
    );
    assert!(
        growth_mib < BOUND_MIB,
        "resident memory grew {growth_mib} MiB"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_language_switch_returns_only_to_this_site() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    for (back, want) in [
        ("/%09/evil.example/x", "/"),
        ("//evil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("/%0a", "/"),
        ("/my?x=1", "/my?x=1"),
    ] {
        let p = b.get(&format!("/lang/en?back={back}")).await;
        assert_eq!(p.status, 303, "{back}: {}", p.body);
        assert_eq!(p.location.as_deref(), Some(want), "{back}");
    }
    // DEL is a control character: refused like any other, not a server error.
    assert_eq!(b.get("/lang/en?back=/%7f").await.status, 422);
    app.stop().await;
}

#[tokio::test]
async fn control_characters_and_absurd_dates_get_a_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let (s, v) = api.get("/facilities/a%00b").await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["fields"][0]["field"], "path");
    let (s, v) = api
        .post(
            "/staff/login",
            json!({"facility": "a\u{0000}", "login_id": "clerk", "password": "x"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["fields"][0]["field"], "facility");
    assert!(
        v["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("制御文字")
    );
    // A form post the same way, before the session or CSRF are even looked at.
    let b = app.browser();
    let csrf = b.get("/login").await.csrf();
    let p = b
        .post(
            "/login",
            &csrf,
            &[("phone", "090\u{0000}0000"), ("password", "x")],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("制御文字"));

    let menus = app.api().get("/facilities/tsunagu-central/menus").await.1;
    let menu = menus[0]["id"].as_i64().unwrap();
    let (s, v) = api
        .get(&format!(
            "/facilities/tsunagu-central/slots?menu={menu}&kind=first&from=9999-12-31"
        ))
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["fields"][0]["field"], "from");
    let token = staff_token(&app, "tsunagu-central", "clerk").await;
    let (s, v) = api
        .with_token(&token)
        .get("/staff/bookings?date=9999-12-31")
        .await;
    assert_eq!(s, 422, "{v}");
    let staff = app.staff_browser("tsunagu-central", "clerk").await;
    for page in [
        "/staff/schedule?date=9999-12-31",
        "/staff/reception?date=9999-12-31",
    ] {
        let p = staff.get(page).await;
        assert_eq!(p.status, 200, "{page}: {}", p.body);
    }
    app.stop().await;
}

/// Every table and column (as text) where `needle` stands as a whole token, not inside a
/// longer run of letters and digits (a digest or sealed value may contain any six digits).
async fn where_stored(app: &TestApp, needle: &str) -> Vec<String> {
    use sqlx::{Column, Row};
    let pool = app.state.db.pool();
    let tables: Vec<String> = if app.db.is_postgres() {
        sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    } else {
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(pool)
            .await
            .unwrap()
    };
    let token = |text: &str| {
        text.match_indices(needle).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + needle.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_alphanumeric())
                && !after.is_some_and(|c| c.is_ascii_alphanumeric())
        })
    };
    let mut found = Vec::new();
    // sqlx's own bookkeeping holds no data of ours (and types the Any driver cannot read).
    for t in tables
        .into_iter()
        .filter(|t| !t.starts_with("_sqlx") && !t.starts_with("sqlite_"))
    {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {t}")))
            .fetch_all(pool)
            .await
            .unwrap();
        for r in rows {
            for (i, c) in r.columns().iter().enumerate() {
                if let Ok(Some(text)) = r.try_get::<Option<String>, _>(i)
                    && token(&text)
                {
                    found.push(format!("{t}.{}", c.name()));
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn codes_and_links_are_not_kept_in_clear() {
    let app = TestApp::spawn().await;
    let api = app.api();
    // Sign-up code.
    let (s, _) = api
        .post("/signup/code", json!({"phone": "070-3333-4444"}))
        .await;
    assert_eq!(s, 202);
    let code = app.last_code_to("+817033334444").await;
    assert_eq!(
        where_stored(&app, &code).await,
        Vec::<String>::new(),
        "sign-up code {code}"
    );
    // Reset code.
    let (s, _) = api
        .post("/password/code", json!({"phone": "090-0000-0001"}))
        .await;
    assert_eq!(s, 202);
    let code = app.last_code_to("+819000000001").await;
    assert_eq!(
        where_stored(&app, &code).await,
        Vec::<String>::new(),
        "reset code {code}"
    );
    // It still works: the code as delivered resets the password.
    let (s, v) = api
        .post(
            "/password/reset",
            json!({"phone": "090-0000-0001", "code": code, "password": "new-pass-2026"}),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    // Email verification link.
    let token = patient_token(&app, "090-0000-0002").await;
    let (s, v) = api
        .with_token(&token)
        .post("/me/email", json!({"email": "hanako@example.jp"}))
        .await;
    assert!(s == 202 || s == 204, "{s} {v}");
    app.drain().await;
    let mail = app
        .state
        .outbox
        .recent(20)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.channel == "email")
        .unwrap();
    let link_token = mail
        .body
        .split("token=")
        .nth(1)
        .unwrap()
        .split(|c: char| c.is_whitespace())
        .next()
        .unwrap()
        .to_string();
    assert!(link_token.len() >= 40, "{link_token}");
    assert_eq!(where_stored(&app, &link_token).await, Vec::<String>::new());
    app.stop().await;
}

/// A clinic that knows only a member's phone number once booked them, then read their
/// profile and insurance photos. Now the caller must give the birth date of the person to
/// be seen, every miss answers alike, the member hears of the booking at once, and the
/// insurance stays theirs until they share it.
#[tokio::test]
async fn a_phone_booking_does_not_hand_a_new_clinic_the_patients_record() {
    let app = TestApp::spawn().await;
    // 山田 太郎 (090-0000-0001) registers insurance; he has never booked at sapporo-hikari.
    let patient = patient_token(&app, "090-0000-0001").await;
    let me = app.api().with_token(&patient);
    let holder = me.get("/me").await.1["patients"][0]["id"].as_i64().unwrap();
    let clerk = staff_token(&app, "sapporo-hikari", "clerk").await;
    let staff = app.api().with_token(&clerk);
    let f = app.facility("sapporo-hikari").await;
    let doctor = app.staff_id(f.id, "doctor").await;
    let menu = app.state.booker.menus.list(f.id, false).await.unwrap()[0].id;
    let book = |phone: &str, birth: &str| {
        json!({"member_phone": phone, "member_birth_date": birth, "menu_id": menu, "kind": "return",
               "doctor_id": doctor.0, "starts_at": "2026-11-24T01:00:00Z"})
    };
    // Unknown number, wrong birth date, an id instead of a birth date: one answer.
    let mut answers = Vec::new();
    for body in [
        book("090-9999-9999", "1985-04-12"),
        book("090-0000-0001", "1985-04-13"),
        json!({"member_phone": "090-0000-0001", "patient_id": holder, "menu_id": menu, "kind": "return",
               "doctor_id": doctor.0, "starts_at": "2026-11-24T01:00:00Z"}),
    ] {
        let (s, v) = staff.post("/staff/bookings", body).await;
        assert_eq!(s, 422, "{v}");
        answers.push(
            v["error"]["fields"][0]["field"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(answers[0], "member_phone");
    assert_eq!(answers[1], "member_phone");
    // Bodies refuse properties they do not define: the old `patient_id` is named as such.
    assert_eq!(answers[2], "patient_id");

    // The number and birth date the caller gives: booked, and the member is told at once.
    let (s, v) = staff
        .post("/staff/bookings", book("090-0000-0001", "1985-04-12"))
        .await;
    assert_eq!(s, 201, "{v}");
    let booking = v["id"].as_i64().unwrap();
    let sms = app.last_sms_to("+819000000001").await.unwrap();
    assert!(
        sms.contains("電話で登録しました") && sms.contains("共有する"),
        "{sms}"
    );

    // The clinic sees the booking and the name, not the record.
    let (s, v) = staff.get(&format!("/staff/patients/{holder}")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["shared"], false);
    let (s, v) = staff
        .post(
            &format!("/staff/bookings/{booking}/insurance/check"),
            json!({}),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let page = app.staff_browser("sapporo-hikari", "clerk").await;
    let detail = page.get(&format!("/staff/bookings/{booking}")).await;
    assert!(detail.body.contains("id=\"not-shared\""), "{}", detail.body);
    assert!(!detail.body.contains("/staff/files/"));

    // The patient shares from the booking; then the clinic sees it.
    let (s, v) = me
        .post(&format!("/me/bookings/{booking}/share"), json!({}))
        .await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(
        staff.get(&format!("/staff/patients/{holder}")).await.1["shared"],
        true
    );
    let detail = page.get(&format!("/staff/bookings/{booking}")).await;
    assert!(!detail.body.contains("id=\"not-shared\""));
    // Another account cannot share someone else's booking.
    let other = patient_token(&app, "090-0000-0002").await;
    let (s, _) = app
        .api()
        .with_token(&other)
        .post(&format!("/me/bookings/{booking}/share"), json!({}))
        .await;
    assert_eq!(s, 404);
    app.stop().await;
}

async fn drop_audit_guards(app: &TestApp) {
    let pool = app.state.db.pool();
    let drops: &[&str] = if app.db.is_postgres() {
        &[
            "DROP TRIGGER audit_no_update ON audit_events",
            "DROP TRIGGER audit_no_truncate ON audit_events",
        ]
    } else {
        &[
            "DROP TRIGGER audit_no_update",
            "DROP TRIGGER audit_no_delete",
        ]
    };
    for d in drops {
        sqlx::query(sqlx::AssertSqlSafe(*d))
            .execute(pool)
            .await
            .unwrap();
    }
}

fn broken_reason(v: tsunagu_audit::Verdict) -> String {
    match v {
        tsunagu_audit::Verdict::Broken { reason, .. } => reason,
        v => panic!("expected broken, got {v:?}"),
    }
}

/// Someone with the database but not the key: rewriting a row and every hash after it,
/// deleting the newest rows, emptying the table, or putting an old head back.
#[tokio::test]
async fn the_audit_chain_is_keyed_and_its_head_is_guarded() {
    use sha2::Digest;
    let app = TestApp::spawn().await;
    let token = staff_token(&app, "tsunagu-central", "doctor").await;
    let staff = app.api().with_token(&token);
    for _ in 0..3 {
        staff.get("/staff/patients").await;
    }
    let audit = &app.state.audit;
    let tsunagu_audit::Verdict::Intact { rows, head } = audit.verify(None).await.unwrap() else {
        panic!()
    };
    assert!(rows >= 4);
    let seen = tsunagu_audit::Head {
        seq: rows,
        hash: head,
    };
    assert!(matches!(
        audit.verify(Some(&seen)).await.unwrap(),
        tsunagu_audit::Verdict::Intact { .. }
    ));
    let pool = app.state.db.pool();
    if app.db.is_postgres() {
        assert!(
            sqlx::query("TRUNCATE audit_events")
                .execute(pool)
                .await
                .is_err(),
            "TRUNCATE is refused"
        );
    }
    drop_audit_guards(&app).await;

    // Rewrite the last row and recompute its hash the way the chain used to be made.
    let (seq, prev): (i64, String) =
        sqlx::query_as("SELECT seq, prev_hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_one(pool)
            .await
            .unwrap();
    let forged = hex::encode(sha2::Sha256::digest(format!("forged{prev}").as_bytes()));
    sqlx::query("UPDATE audit_events SET actor_label = 'x', hash = $2, keyed = 0 WHERE seq = $1")
        .bind(seq)
        .bind(&forged)
        .execute(pool)
        .await
        .unwrap();
    let reason = broken_reason(audit.verify(None).await.unwrap());
    assert!(
        reason.contains("forged") || reason.contains("changed"),
        "{reason}"
    );

    // Delete the newest row: the keyed head still points at it.
    sqlx::query("DELETE FROM audit_events WHERE seq = $1")
        .bind(seq)
        .execute(pool)
        .await
        .unwrap();
    let reason = broken_reason(audit.verify(None).await.unwrap());
    assert!(reason.contains("deleted"), "{reason}");

    // Put back a head copied earlier (it carries the key): the verifier that saw the
    // longer chain reports the head moved backwards.
    let (old_hash, old_mac): (String, String) = {
        let prev_hash: String = sqlx::query_scalar("SELECT hash FROM audit_events WHERE seq = $1")
            .bind(seq - 1)
            .fetch_one(pool)
            .await
            .unwrap();
        let mac = app
            .state
            .config
            .sealer
            .mac(&format!("audit-head:{}:{prev_hash}", seq - 1));
        (prev_hash, mac)
    };
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, mac = $3")
        .bind(seq - 1)
        .bind(&old_hash)
        .bind(&old_mac)
        .execute(pool)
        .await
        .unwrap();
    assert!(matches!(
        audit.verify(None).await.unwrap(),
        tsunagu_audit::Verdict::Intact { .. }
    ));
    let reason = broken_reason(audit.verify(Some(&seen)).await.unwrap());
    assert!(reason.contains("backwards"), "{reason}");

    // Empty the table: the head says rows are missing; without a head, that is reported.
    sqlx::query("DELETE FROM audit_events")
        .execute(pool)
        .await
        .unwrap();
    let reason = broken_reason(audit.verify(None).await.unwrap());
    assert!(reason.contains("deleted"), "{reason}");
    sqlx::query("DELETE FROM audit_head")
        .execute(pool)
        .await
        .unwrap();
    let reason = broken_reason(audit.verify(None).await.unwrap());
    assert!(reason.contains("missing"), "{reason}");
    app.stop().await;
}

#[tokio::test]
async fn smaller_holes_are_closed() {
    let app = TestApp::spawn().await;
    // Changing the password signs out every other session, not the one that changed it.
    let phone_a = patient_token(&app, "090-0000-0001").await;
    let phone_b = patient_token(&app, "090-0000-0001").await;
    let (s, v) = app
        .api()
        .with_token(&phone_a)
        .put(
            "/me/password",
            json!({"current_password": tsunagu_server::demo::DEMO_PASSWORD, "password": "another-pass-9"}),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(app.api().with_token(&phone_a).get("/me").await.0, 200);
    assert_eq!(app.api().with_token(&phone_b).get("/me").await.0, 401);

    // A body must be a JSON object: `[]` no longer clears a chart number.
    let clerk = staff_token(&app, "tsunagu-central", "clerk").await;
    let staff = app.api().with_token(&clerk);
    let (_, list) = staff.get("/staff/patients").await;
    let pid = list[0]["id"].as_i64().unwrap();
    let before = list[0]["chart_number"].clone();
    assert!(before.is_string());
    let (s, v) = staff
        .put(&format!("/staff/patients/{pid}/chart-number"), json!([]))
        .await;
    assert_eq!(s, 422, "{v}");
    let (_, after) = staff.get(&format!("/staff/patients/{pid}")).await;
    assert_eq!(after["chart_number"], before);

    // A memo over 500 characters is refused with the limit, not silently cut.
    let f = app.facility("tsunagu-central").await;
    let doctor = app.staff_id(f.id, "doctor2").await;
    let menu = app.state.booker.menus.list(f.id, false).await.unwrap()[0].id;
    let (s, v) = staff
        .post(
            "/staff/bookings",
            json!({"name": "来院 花子", "menu_id": menu, "kind": "return", "doctor_id": doctor.0,
                   "starts_at": "2026-11-24T02:00:00Z", "memo": "あ".repeat(501)}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["fields"][0]["field"], "memo");
    assert!(
        v["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("500")
    );
    app.stop().await;
}

/// Reading pages without a cookie stores nothing; a form still works, and a sign-up in
/// progress is stored once it holds something.
#[tokio::test]
async fn cookieless_visits_store_no_sessions() {
    let app = TestApp::spawn().await;
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM sessions")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap()
    };
    let before = count().await;
    let http = reqwest::Client::new();
    for path in [
        "/",
        "/login",
        "/signup",
        "/c/tsunagu-central",
        "/staff/login",
    ]
    .repeat(20)
    {
        let r = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    assert_eq!(
        count().await,
        before,
        "100 cookieless page views stored no session"
    );
    // The anonymous session's form token still works, and a login still succeeds.
    let b = app.browser();
    let p = b
        .submit(
            "/login",
            "/login",
            &[
                ("phone", "090-0000-0001"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    // A forged token for a made-up cookie is refused.
    let forged = reqwest::Client::new()
        .post(format!("{}/login", app.base))
        .header(
            "cookie",
            "tsunagu_patient=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .form(&[("csrf", "x"), ("phone", "090-0000-0001"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    app.stop().await;
}

/// `/metrics` was open to anyone: now, with no token set, only to this machine.
#[tokio::test]
async fn metrics_are_not_open_to_the_world() {
    let app = TestApp::spawn_with(proxied()).await;
    let http = reqwest::Client::new();
    let local = http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 200);
    let remote = http
        .get(format!("{}/metrics", app.base))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(remote.status(), 401);
    app.stop().await;
}

/// A clerk probing another facility's records gets the same 404 as for nothing, and the
/// attempt is now on the record.
#[tokio::test]
async fn denied_cross_facility_attempts_are_audited() {
    let app = TestApp::spawn().await;
    let central = staff_token(&app, "tsunagu-central", "clerk").await;
    let (_, list) = app.api().with_token(&central).get("/staff/patients").await;
    let theirs = list[0]["id"].as_i64().unwrap();
    let other = staff_token(&app, "sapporo-hikari", "clerk").await;
    let (s, _) = app
        .api()
        .with_token(&other)
        .get(&format!("/staff/patients/{theirs}"))
        .await;
    assert_eq!(s, 404);
    let page = app.staff_browser("sapporo-hikari", "clerk").await;
    assert_eq!(page.get("/staff/bookings/999999").await.status, 404);
    let hikari = app.facility("sapporo-hikari").await.id;
    let events = app.state.audit.recent(Some(hikari), 50).await.unwrap();
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e.action == "access.denied")
        .map(|e| e.detail.clone())
        .collect();
    assert!(
        denied.contains(&format!("GET /api/v1/staff/patients/{theirs} 404")),
        "{denied:?}"
    );
    assert!(
        denied.contains(&"GET /staff/bookings/999999 404".to_string()),
        "{denied:?}"
    );
    assert!(matches!(
        app.state.audit.verify(None).await.unwrap(),
        tsunagu_audit::Verdict::Intact { .. }
    ));
    app.stop().await;
}

/// The password alone no longer enrols an authenticator: the admin issues a one-time code.
#[tokio::test]
async fn a_first_enrolment_needs_the_code_an_admin_issued() {
    let app = TestApp::spawn().await;
    let admin = app.staff_browser("tsunagu-central", "admin").await;
    prove_enrol_code(&admin, "/staff/totp/enrol").await;
    let secret = stored_secret(&app, "tsunagu-central", "admin").await;
    let p = admin
        .submit(
            "/staff/totp/enrol",
            "/staff/totp/enrol",
            &[("code", &totp_now(&app, &secret))],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff"));
    // doctor2 lost their phone: the admin issues a code, shown once.
    let doctor2 = app
        .staff_id(app.facility("tsunagu-central").await.id, "doctor2")
        .await;
    let settings = admin.get("/staff/settings").await;
    let p = admin
        .post(
            &format!("/staff/staff/{}/enrol-code", doctor2.0),
            &settings.csrf(),
            &[],
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let shown = p.body.split("登録用コード: ").nth(1).unwrap();
    let code: String = shown.chars().take(11).collect();
    assert_eq!(code.len(), 11, "{code}");
    let login = || async {
        let (s, v) = app
            .api()
            .post(
                "/staff/login",
                json!({"facility": "tsunagu-central", "login_id": "doctor2", "password": tsunagu_server::demo::DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["totp"], "enrol");
        v["token"].as_str().unwrap().to_string()
    };
    let api = app.api().with_token(&login().await);
    // The demo's shared code no longer works for doctor2; their own does, once.
    let (s, _) = api
        .post(
            "/staff/totp/enrol",
            json!({"enrol_code": tsunagu_server::demo::DEMO_ENROL_CODE}),
        )
        .await;
    assert_eq!(s, 422);
    let (s, v) = api
        .post(
            "/staff/totp/enrol",
            json!({"enrol_code": code.to_lowercase()}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let api = app.api().with_token(&login().await);
    let (s, _) = api
        .post("/staff/totp/enrol", json!({"enrol_code": code}))
        .await;
    assert_eq!(s, 422, "a code works once");
    // The issue is on record.
    let events = app.state.audit.recent(None, 20).await.unwrap();
    assert!(events.iter().any(|e| e.action == "staff.enrol_code"));
    app.stop().await;
}

/// A staff change and its audit entry commit together: if the entry cannot be written, the
/// change is not made either. And the API's close now tells the screens, like the page's.
#[tokio::test]
async fn a_change_and_its_audit_entry_commit_together() {
    let app = TestApp::spawn().await;
    let clerk = staff_token(&app, "tsunagu-central", "clerk").await;
    let staff = app.api().with_token(&clerk);
    let f = app.facility("tsunagu-central").await;
    let doctor = app.staff_id(f.id, "doctor2").await;
    let menu = app.state.booker.menus.list(f.id, false).await.unwrap()[0].id;
    let (s, v) = staff
        .post(
            "/staff/bookings",
            json!({"name": "来院 花子", "menu_id": menu, "kind": "return", "doctor_id": doctor.0,
                   "starts_at": "2026-11-20T01:30:00Z"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_i64().unwrap();
    // The entry names the request that made the booking.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/staff/bookings/{id}/close", app.base))
        .bearer_auth(&clerk)
        .json(&json!({"status": "completed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let events = app.state.audit.recent(Some(f.id), 10).await.unwrap();
    let close = events.iter().find(|e| e.action == "booking.close").unwrap();
    assert_eq!(close.request_id, rid);
    assert_eq!(close.detail, format!("booking={id} status=completed"));

    // Break the audit log's head: the next change fails whole, nothing half-written.
    let (s, v) = staff
        .post(
            "/staff/bookings",
            json!({"name": "来院 次郎", "menu_id": menu, "kind": "return", "doctor_id": doctor.0,
                   "starts_at": "2026-11-20T02:30:00Z"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let second = v["id"].as_i64().unwrap();
    sqlx::query("DROP TABLE audit_head")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let (s, _) = staff
        .post(
            &format!("/staff/bookings/{second}/close"),
            json!({"status": "cancelled"}),
        )
        .await;
    assert_eq!(s, 500);
    let b = app
        .state
        .booker
        .bookings
        .get_at(f.id, second)
        .await
        .unwrap();
    assert_eq!(
        b.status,
        tsunagu_booking::BookingStatus::Booked,
        "not closed without its record"
    );
    app.stop().await;
}

/// The operator opens a facility: facility, first admin, the admin's enrolment code and
/// the audit entry in one transaction; the admin enrols with that code.
#[tokio::test]
async fn an_operator_opens_a_facility_and_hands_over_the_admins_code() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    let p = b
        .submit(
            "/ops/login",
            "/ops/login",
            &[
                ("login_id", "ops"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/ops/totp"));
    prove_enrol_code(&b, "/ops/totp").await;
    let op = app
        .state
        .accounts
        .staff
        .find_operator("ops")
        .await
        .unwrap()
        .unwrap();
    let p = b
        .submit(
            "/ops/totp",
            "/ops/totp",
            &[("code", &totp_now(&app, op.totp_secret.as_deref().unwrap()))],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/ops"));
    let fields = [
        ("organisation_id", ""),
        ("facility_name", "つなぐ新町診療所"),
        ("kind", "clinic"),
        ("prefecture", "13"),
        ("address", "東京都新宿区1-1"),
        ("phone", "03-1111-2222"),
        ("slug", "shinmachi"),
        ("admin_login", "admin"),
        ("admin_password", "first-admin-2026"),
    ];
    // A taken slug: nothing is half made (no admin without a facility, no stray code).
    let mut taken = fields;
    taken[6] = ("slug", "tsunagu-central");
    let p = b.submit("/ops", "/ops/facilities", &taken).await;
    assert_eq!(p.status, 422, "{}", p.body);
    let p = b.submit("/ops", "/ops/facilities", &fields).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let shown = p.body.split("管理者の登録用コード: ").nth(1).unwrap();
    let code: String = shown.chars().take(11).collect();
    // The new admin logs in and enrols with it.
    let (s, v) = app
        .api()
        .post(
            "/staff/login",
            json!({"facility": "shinmachi", "login_id": "admin", "password": "first-admin-2026"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app
        .api()
        .with_token(v["token"].as_str().unwrap())
        .post("/staff/totp/enrol", json!({"enrol_code": code}))
        .await;
    assert_eq!(s, 200, "{v}");
    let f = app.facility("shinmachi").await;
    let events = app.state.audit.recent(Some(f.id), 10).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "facility.create" && e.actor_kind == "operator")
    );
    app.stop().await;
}

/// The eligibility service's login had the platform's old race and no per-address limit.
#[tokio::test]
async fn the_eligibility_login_counts_before_it_checks_and_limits_each_address() {
    let app = TestApp::spawn().await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/login", app.eligibility);
    // 150 parallel wrong passwords on one account: only the first few are evaluated.
    let mut tasks = Vec::new();
    for i in 0..150 {
        let (http, url) = (http.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"institution": "1310000011", "login_id": "general", "password": format!("wrong-{i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut evaluated = 0;
    for t in tasks {
        match t.await.unwrap() {
            401 => evaluated += 1,
            429 | 503 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(evaluated <= 4, "{evaluated} passwords evaluated");
    // A spray over other accounts from the same address stops at ten wrong passwords.
    let mut statuses = Vec::new();
    for (inst, login) in [
        ("1110000022", "general"),
        ("1110000022", "viewer"),
        ("0110000033", "general"),
        ("0110000033", "viewer"),
        ("0110000033", "admin"),
        ("1110000022", "admin"),
    ]
    .repeat(3)
    {
        let r = http
            .post(&url)
            .json(&json!({"institution": inst, "login_id": login, "password": "spray-2026"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    let sprayed = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        evaluated + sprayed <= 10,
        "{evaluated} + {sprayed} wrong passwords evaluated from one address: {statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    app.stop().await;
}
