//! Staff login with TOTP, the facility policy, audited patient access and the patient's
//! view of it, audit verification.

use jiff::SignedDuration;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn doctors_must_enrol_totp_and_codes_cannot_be_replayed() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    let p = b
        .submit(
            "/staff/login",
            "/staff/login",
            &[
                ("facility", "tsunagu-central"),
                ("login_id", "doctor"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff/totp/enrol"));
    // Not signed in yet: the dashboard sends back to the login.
    assert_eq!(
        b.get("/staff").await.location.as_deref(),
        Some("/staff/login")
    );
    // The password alone does not show the secret: an enrolment code comes first.
    let enrol = b.get("/staff/totp/enrol").await;
    assert!(!enrol.body.contains("<svg") && enrol.body.contains("登録用コード"));
    assert_eq!(
        app.state
            .accounts
            .staff
            .totp_state(
                tsunagu_accounts::staff::LoginTable::Staff,
                app.staff_id(app.facility("tsunagu-central").await.id, "doctor")
                    .await
                    .0
            )
            .await
            .unwrap()
            .0,
        None
    );
    let p = b
        .post(
            "/staff/totp/enrol/code",
            &enrol.csrf(),
            &[("enrol_code", "WRONG-CODE2")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("登録用コードが正しくないか"));
    // Submitting a code from the app before proving the enrolment code goes nowhere.
    let p = b
        .post("/staff/totp/enrol", &enrol.csrf(), &[("code", "123456")])
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff/totp/enrol"));
    prove_enrol_code(&b, "/staff/totp/enrol").await;
    let enrol = b.get("/staff/totp/enrol").await;
    assert!(enrol.body.contains("<svg"), "QR code shown");
    let secret = stored_secret(&app, "tsunagu-central", "doctor").await;
    assert!(enrol.body.contains(&secret));
    let p = b
        .post("/staff/totp/enrol", &enrol.csrf(), &[("code", "000000")])
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("確認コードが正しくありません"));
    let code = totp_now(&app, &secret);
    let csrf = b.get("/staff/totp/enrol").await.csrf();
    let p = b.post("/staff/totp/enrol", &csrf, &[("code", &code)]).await;
    assert_eq!(p.location.as_deref(), Some("/staff"), "{}", p.body);
    let home = b.get("/staff").await;
    assert!(home.body.contains("つなぐ中央病院"));

    // Next login asks for the code; the same code again (same step) is refused.
    let b2 = app.browser();
    let p = b2
        .submit(
            "/staff/login",
            "/staff/login",
            &[
                ("facility", "tsunagu-central"),
                ("login_id", "doctor"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff/totp"));
    let p = b2
        .submit("/staff/totp", "/staff/totp", &[("code", &code)])
        .await;
    assert_eq!(p.status, 422, "replayed code refused");
    app.advance(SignedDuration::from_secs(30));
    let p = b2
        .submit(
            "/staff/totp",
            "/staff/totp",
            &[("code", &totp_now(&app, &secret))],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff"));
    app.stop().await;
}

#[tokio::test]
async fn clerks_skip_totp_until_the_admin_requires_it_for_all() {
    let app = TestApp::spawn().await;
    let (s, v) = app
        .api()
        .post("/staff/login", json!({"facility": "tsunagu-central", "login_id": "clerk", "password": tsunagu_server::demo::DEMO_PASSWORD}))
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["totp"], "none");
    // A wrong facility or login gives the same answer as a wrong password.
    for (f, l) in [("no-such-place", "clerk"), ("tsunagu-central", "nobody")] {
        let (s, v) = app
            .api()
            .post("/staff/login", json!({"facility": f, "login_id": l, "password": tsunagu_server::demo::DEMO_PASSWORD}))
            .await;
        assert_eq!(s, 401);
        assert_eq!(v["error"]["code"], "unauthorized");
    }

    let admin = app.staff_browser("tsunagu-central", "admin").await;
    let secret = stored_or_enrol(&app, &admin).await;
    let p = admin
        .submit(
            "/staff/totp/enrol",
            "/staff/totp/enrol",
            &[("code", &totp_now(&app, &secret))],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff"));
    // Non-admins cannot open the settings.
    let clerk_token = v_token(&app, "clerk").await;
    let (s, _) = app
        .api()
        .with_token(&clerk_token)
        .get("/staff/patients")
        .await;
    assert_eq!(s, 200);
    let p = admin
        .submit(
            "/staff/settings",
            "/staff/settings/totp",
            &[("require_all", "1")],
        )
        .await;
    assert_eq!(p.status, 303);
    let (_, v) = app
        .api()
        .post("/staff/login", json!({"facility": "tsunagu-central", "login_id": "clerk", "password": tsunagu_server::demo::DEMO_PASSWORD}))
        .await;
    assert_eq!(v["totp"], "enrol");
    // A limited token (TOTP pending) reaches no patient data.
    let (s, _) = app
        .api()
        .with_token(v["token"].as_str().unwrap())
        .get("/staff/patients")
        .await;
    assert_eq!(s, 401);
    app.stop().await;
}

async fn stored_or_enrol(app: &TestApp, b: &Browser) -> String {
    prove_enrol_code(b, "/staff/totp/enrol").await;
    stored_secret(app, "tsunagu-central", "admin").await
}

async fn v_token(app: &TestApp, login: &str) -> String {
    staff_token(app, "tsunagu-central", login).await
}

#[tokio::test]
async fn nurse_cannot_reach_admin_pages() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    let p = b
        .submit(
            "/staff/login",
            "/staff/login",
            &[
                ("facility", "tsunagu-central"),
                ("login_id", "nurse"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff"));
    assert_eq!(b.get("/staff/settings").await.status, 403);
    assert_eq!(b.get("/staff/audit").await.status, 403);
    let csrf = b.get("/staff").await.csrf();
    let p = b
        .post(
            "/staff/staff",
            &csrf,
            &[
                ("login_id", "evil"),
                ("display_name", "x"),
                ("role", "admin"),
                ("password", "pass-1234"),
            ],
        )
        .await;
    assert_eq!(p.status, 403);
    app.stop().await;
}

#[tokio::test]
async fn staff_access_is_audited_and_the_patient_sees_who_looked() {
    let app = TestApp::spawn().await;
    let token = staff_token(&app, "tsunagu-central", "doctor").await;
    let staff = app.api().with_token(&token);
    let (s, list) = staff.get("/staff/patients").await;
    assert_eq!(s, 200);
    let yamada = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["given_name"] == "太郎")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (s, v) = staff.get(&format!("/staff/patients/{yamada}")).await;
    assert_eq!(s, 200);
    assert_eq!(v["chart_number"], "C-00101");
    let (s, _) = staff
        .put(
            &format!("/staff/patients/{yamada}/chart-number"),
            json!({"chart_number": "C-99"}),
        )
        .await;
    assert_eq!(s, 204);
    let (s, v) = staff
        .put(
            &format!("/staff/patients/{yamada}/chart-number"),
            json!({"chart_number": "C-00102"}),
        )
        .await;
    assert_eq!(s, 409, "another patient's chart number: {v}");
    let (s, _) = staff
        .put(
            &format!("/staff/patients/{yamada}/chart-number"),
            json!({"chart_number": "カルテ"}),
        )
        .await;
    assert_eq!(s, 422);

    // The patient sees the view and the change, by whom, on the page and in the API.
    let me = app
        .api()
        .with_token(&patient_token(&app, "090-0000-0001").await);
    let (_, log) = me.get("/me/access-log").await;
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["patient.update", "patient.view"]);
    assert!(log[0]["staff"].as_str().unwrap().contains("医師 一郎"));
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
    let page = b.get("/my/access-log").await;
    assert!(page.body.contains("つなぐ中央病院"));
    assert!(page.body.contains("患者情報の閲覧"));
    assert!(page.body.contains("患者情報の変更"));
    app.stop().await;
}

#[tokio::test]
async fn audit_verify_detects_a_changed_or_deleted_row() {
    let app = TestApp::spawn().await;
    let token = staff_token(&app, "tsunagu-central", "doctor").await;
    let staff = app.api().with_token(&token);
    let (_, list) = staff.get("/staff/patients").await;
    for p in list.as_array().unwrap() {
        staff.get(&format!("/staff/patients/{}", p["id"])).await;
    }
    let verdict = app.state.audit.verify(None).await.unwrap();
    let tsunagu_audit::Verdict::Intact { rows, .. } = verdict else {
        panic!("{verdict:?}")
    };
    assert!(rows >= 3);

    // The application cannot change the log: the database refuses.
    let pool = app.state.db.pool();
    assert!(
        sqlx::query("UPDATE audit_events SET actor_label = 'x' WHERE seq = 2")
            .execute(pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("DELETE FROM audit_events WHERE seq = 2")
            .execute(pool)
            .await
            .is_err()
    );

    // Someone with the power to drop the guard changes a row: verify finds it.
    let drop_guard = if app.db.is_postgres() {
        "DROP TRIGGER audit_no_update ON audit_events"
    } else {
        "DROP TRIGGER audit_no_update"
    };
    sqlx::query(drop_guard).execute(pool).await.unwrap();
    if !app.db.is_postgres() {
        sqlx::query("DROP TRIGGER audit_no_delete")
            .execute(pool)
            .await
            .unwrap();
    }
    sqlx::query("UPDATE audit_events SET actor_label = 'someone else' WHERE seq = 2")
        .execute(pool)
        .await
        .unwrap();
    match app.state.audit.verify(None).await.unwrap() {
        tsunagu_audit::Verdict::Broken { seq, .. } => assert_eq!(seq, 2),
        v => panic!("{v:?}"),
    }
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(pool)
        .await
        .unwrap();
    match app.state.audit.verify(None).await.unwrap() {
        tsunagu_audit::Verdict::Broken { seq, reason } => {
            assert_eq!(seq, 2);
            assert!(reason.contains("missing"));
        }
        v => panic!("{v:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn concurrent_audit_appends_keep_one_chain() {
    let app = TestApp::spawn().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let log = app.state.audit.clone();
        tasks.push(tokio::spawn(async move {
            log.append(tsunagu_audit::Entry {
                actor: tsunagu_audit::Actor {
                    kind: "system",
                    id: None,
                    label: format!("t{i}"),
                },
                facility_id: None,
                patient_id: None,
                action: "test.append",
                detail: String::new(),
                ip: String::new(),
                request_id: String::new(),
            })
            .await
            .unwrap()
        }));
    }
    let mut seqs: Vec<i64> = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 40);
    assert!(matches!(
        app.state.audit.verify(None).await.unwrap(),
        tsunagu_audit::Verdict::Intact { .. }
    ));
    app.stop().await;
}

/// Staff sign in with a login ID, not a phone number: a wrong password says so.
#[tokio::test]
async fn a_wrong_staff_login_speaks_of_the_login_id() {
    let app = TestApp::spawn().await;
    let p = app
        .browser()
        .submit(
            "/staff/login",
            "/staff/login",
            &[
                ("facility", "sapporo-hikari"),
                ("login_id", "clerk"),
                ("password", "wrong-password-1"),
            ],
        )
        .await;
    assert!(
        p.body
            .contains("ログインIDまたはパスワードが正しくありません"),
        "{}",
        p.body
    );
    assert!(!p.body.contains("電話番号"), "{}", p.body);
    let (s, v) = app
        .api()
        .post(
            "/staff/login",
            serde_json::json!({"facility": "sapporo-hikari", "login_id": "nobody", "password": "wrong-password-1"}),
        )
        .await;
    assert_eq!(s, 401);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ログインID"),
        "{v}"
    );
    app.stop().await;
}
