//! Facility set-up: menu changes wait for the admin (B9), hours and closures shape the
//! slots, and maintenance stops online bookings (G1).

use crate::helpers::*;

pub(crate) async fn staff(app: &TestApp, login: &str) -> Browser {
    staff_at(app, "sapporo-hikari", login).await
}

/// A browser with `login` of `facility` signed in, its TOTP enrolled when its role needs it.
pub(crate) async fn staff_at(app: &TestApp, facility: &str, login: &str) -> Browser {
    let b = app.browser();
    let p = b
        .submit(
            "/staff/login",
            "/staff/login",
            &[
                ("facility", facility),
                ("login_id", login),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    if p.location.as_deref() == Some("/staff/totp/enrol") {
        let f = app.facility(facility).await;
        prove_enrol_code(&b, "/staff/totp/enrol").await;
        let secret = app
            .state
            .accounts
            .staff
            .find_login(f.id, login)
            .await
            .unwrap()
            .unwrap()
            .totp_secret
            .unwrap();
        let p = b
            .submit(
                "/staff/totp/enrol",
                "/staff/totp/enrol",
                &[("code", &totp_now(app, &secret))],
            )
            .await;
        assert_eq!(p.location.as_deref(), Some("/staff"));
        app.advance(jiff::SignedDuration::from_secs(30));
    } else {
        assert_eq!(p.location.as_deref(), Some("/staff"));
    }
    b
}

#[tokio::test]
async fn a_clerks_menu_change_waits_for_the_admin() {
    let app = TestApp::spawn().await;
    let f = app.facility("sapporo-hikari").await;
    let before = app
        .state
        .booker
        .menus
        .list(f.id, false)
        .await
        .unwrap()
        .len();
    let clerk = staff(&app, "clerk").await;
    let menu_fields = [
        ("name", "禁煙外来（オンライン）"),
        ("mode", "online"),
        ("first_minutes", "30"),
        ("return_minutes", "15"),
        ("booking_fee_yen", "1000"),
        ("questionnaire", "喫煙本数|10本未満,10本以上|必須\n既往歴||"),
    ];
    // Bad input names the field: an insured menu cannot carry a fee; 7 minutes is not a step.
    let mut bad = menu_fields.to_vec();
    bad.push(("insured", "true"));
    bad[2] = ("first_minutes", "7");
    let p = clerk.submit("/staff/menus", "/staff/menus", &bad).await;
    assert_eq!(p.status, 422);
    assert!(
        p.body
            .contains("保険診療のメニューには予約料を設定できません")
    );
    assert!(p.body.contains("5〜240分を5分単位"));
    let p = clerk
        .submit("/staff/menus", "/staff/menus", &menu_fields)
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff/menus?done=proposed"));
    assert_eq!(
        app.state
            .booker
            .menus
            .list(f.id, false)
            .await
            .unwrap()
            .len(),
        before,
        "not applied yet"
    );
    let page = clerk.get("/staff/menus").await;
    assert!(page.body.contains("管理者の承認待ち"));
    // The clerk cannot approve.
    let change = app.state.booker.menus.pending(f.id).await.unwrap()[0].0;
    let p = clerk
        .post(
            &format!("/staff/menus/changes/{change}"),
            &page.csrf(),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(p.status, 403);
    let admin = staff(&app, "admin").await;
    let page = admin.get("/staff/menus").await;
    let p = admin
        .post(
            &format!("/staff/menus/changes/{change}"),
            &page.csrf(),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff/menus?done=decided"));
    let menus = app.state.booker.menus.list(f.id, false).await.unwrap();
    assert_eq!(menus.len(), before + 1);
    let added = menus
        .iter()
        .find(|m| m.name.starts_with("禁煙外来"))
        .unwrap();
    assert_eq!(added.booking_fee_yen, 1000);
    assert_eq!(added.questionnaire.len(), 2);
    assert_eq!(
        added.questionnaire[0].choices,
        vec!["10本未満".to_string(), "10本以上".to_string()]
    );
    assert!(added.questionnaire[0].required && !added.questionnaire[1].required);
    // Deciding twice is refused.
    let p = admin
        .post(
            &format!("/staff/menus/changes/{change}"),
            &page.csrf(),
            &[("decision", "reject")],
        )
        .await;
    assert_eq!(p.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn hours_and_closures_shape_the_slots_and_maintenance_stops_bookings() {
    let app = TestApp::spawn().await;
    let f = app.facility("sapporo-hikari").await;
    let doctor = app.staff_id(f.id, "doctor").await;
    let admin = staff(&app, "admin").await;
    let page = admin
        .get(&format!("/staff/hours?doctor={}", doctor.0))
        .await;
    assert!(page.body.contains("09:00-12:00, 14:00-17:00"));
    let p = admin
        .post(
            "/staff/hours/weekly",
            &page.csrf(),
            &[
                ("doctor", &doctor.0.to_string()),
                ("d2", "10:00-11:00"),
                ("d3", "9時から"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("「09:00-12:00, 14:00-17:00」の形式"));
    // Only Tuesdays 10:00–11:00 now.
    let p = admin
        .post(
            "/staff/hours/weekly",
            &page.csrf(),
            &[("doctor", &doctor.0.to_string()), ("d2", "10:00-11:00")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let menu = app.state.booker.menus.list(f.id, true).await.unwrap()[0].clone();
    let from: jiff::civil::Date = "2026-11-20".parse().unwrap();
    let slots = app
        .state
        .booker
        .slots(&f, &menu, tsunagu_scheduling::VisitKind::First, from, 14)
        .await
        .unwrap();
    let doctor_slots: Vec<_> = slots.iter().filter(|s| s.doctor_id == doctor).collect();
    assert_eq!(doctor_slots.len(), 4, "two Tuesdays × two 30-minute slots");
    // Close the first Tuesday for everyone.
    let p = admin
        .post(
            "/staff/hours/exceptions",
            &page.csrf(),
            &[
                ("doctor", &doctor.0.to_string()),
                ("day", "2026-11-24"),
                ("kind", "closed"),
                ("all_doctors", "true"),
                ("start", "00:00"),
                ("end", "24:00"),
                ("note", "院内研修"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let slots = app
        .state
        .booker
        .slots(&f, &menu, tsunagu_scheduling::VisitKind::First, from, 14)
        .await
        .unwrap();
    assert_eq!(slots.iter().filter(|s| s.doctor_id == doctor).count(), 2);
    // Maintenance: the booking page says so and offers nothing.
    let settings = admin.get("/staff/settings").await;
    let p = admin
        .post(
            "/staff/settings/suspend",
            &settings.csrf(),
            &[("suspended", "1")],
        )
        .await;
    assert_eq!(p.status, 303);
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
    let bp = patient
        .get(&format!("/c/sapporo-hikari/book?menu={}", menu.id))
        .await;
    assert!(bp.body.contains("メンテナンスのため一時停止中"));
    assert!(!bp.body.contains("name=\"slot\""));
    // A nurse cannot change a doctor's hours.
    let nurse = staff(&app, "nurse").await;
    let p = nurse
        .submit(
            &format!("/staff/hours?doctor={}", doctor.0),
            "/staff/hours/weekly",
            &[("doctor", &doctor.0.to_string()), ("d1", "09:00-10:00")],
        )
        .await;
    assert_eq!(p.status, 403);
    app.stop().await;
}

/// A facility's admin links the facility's own eligibility account on the settings screen:
/// the login is tried before saving, the password is sealed in the database, and the link
/// replaces the configured one until removed.
#[tokio::test]
async fn admins_link_their_eligibility_account() {
    let app = TestApp::spawn().await;
    let admin = staff(&app, "admin").await;
    let page = admin.get("/staff/settings").await;
    assert!(page.body.contains("0110000033 / viewer"), "{}", page.body);
    assert!(page.body.contains("サーバーの設定ファイルによる連携"));
    let save = |fields: Vec<(&'static str, &'static str)>| {
        let admin = &admin;
        let csrf = page.csrf();
        async move {
            admin
                .post("/staff/settings/eligibility", &csrf, &fields)
                .await
        }
    };
    let p = save(vec![
        ("institution", "12345"),
        ("login_id", ""),
        ("password", ""),
    ])
    .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("医療機関コードは10桁の数字です"),
        "{}",
        p.body
    );
    // A wrong password is found out before anything is stored.
    let p = save(vec![
        ("institution", "0110000033"),
        ("login_id", "general"),
        ("password", "wrong-password-1"),
    ])
    .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("ログインできませんでした"), "{}", p.body);
    let p = save(vec![
        ("institution", "0110000033"),
        ("login_id", "general"),
        ("password", tsunagu_server::demo::DEMO_PASSWORD),
    ])
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let page = admin.get("/staff/settings").await;
    assert!(page.body.contains("0110000033 / general"), "{}", page.body);
    assert!(!page.body.contains(tsunagu_server::demo::DEMO_PASSWORD));
    let f = app.facility("sapporo-hikari").await;
    let sealed: String = sqlx::query_scalar(
        "SELECT password_sealed FROM facility_eligibility_links WHERE facility_id = $1",
    )
    .bind(f.id.0)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert!(!sealed.contains("tsunagu-demo"));
    let (link, from_config) = app.state.coverage.current_link(&f).await.unwrap().unwrap();
    assert!(!from_config);
    assert_eq!(link.password, tsunagu_server::demo::DEMO_PASSWORD);
    // Audited; other roles may not change it.
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'facility.eligibility_link'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(audited, 1);
    let clerk = staff(&app, "clerk").await;
    let cp = clerk.get("/staff").await;
    let p = clerk
        .post("/staff/settings/eligibility/remove", &cp.csrf(), &[])
        .await;
    assert_eq!(p.status, 403);
    // Removing it falls back to the configured link.
    let p = admin
        .post("/staff/settings/eligibility/remove", &page.csrf(), &[])
        .await;
    assert_eq!(p.status, 303);
    let page = admin.get("/staff/settings").await;
    assert!(page.body.contains("0110000033 / viewer"), "{}", page.body);
    app.stop().await;
}

/// The admin approves a menu change seeing every changed field as before → after, in
/// Japanese, fee included (it once read 「低用量ピル処方(自費) / online / 20-10」).
#[tokio::test]
async fn a_menu_change_shows_before_and_after_in_words() {
    let app = TestApp::spawn().await;
    let f = app.facility("sapporo-hikari").await;
    let m = app
        .state
        .booker
        .menus
        .list(f.id, false)
        .await
        .unwrap()
        .into_iter()
        .find(|m| !m.insured && m.booking_fee_yen > 0)
        .unwrap();
    let clerk = staff(&app, "clerk").await;
    let form = clerk.get(&format!("/staff/menus/{}", m.id)).await;
    let fee = (m.booking_fee_yen + 500).to_string();
    let first = m.first_minutes.to_string();
    let ret = (m.return_minutes + 5).to_string();
    let p = clerk
        .post(
            &format!("/staff/menus/{}", m.id),
            &form.csrf(),
            &[
                ("name", m.name.as_str()),
                ("description", m.description.as_str()),
                ("mode", "in_person"),
                ("first_minutes", first.as_str()),
                ("return_minutes", ret.as_str()),
                ("booking_fee_yen", fee.as_str()),
                ("active", "true"),
            ],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/staff/menus?done=proposed"),
        "{}",
        p.body
    );
    let admin = staff(&app, "admin").await;
    let page = admin.get("/staff/menus").await;
    let body = &page.body;
    assert!(
        body.contains(&format!(
            "予約料（円、自費診療のみ）</span>: <del>{}円</del> → <ins>{fee}円</ins>",
            m.booking_fee_yen
        )),
        "{body}"
    );
    assert!(body.contains("診察方法</span>: <del>オンライン診療</del> → <ins>対面診療</ins>"));
    assert!(body.contains(&format!("<ins>{ret}分</ins>")));
    // Unchanged fields are not listed.
    assert!(!body.contains("初診の1人あたり診察時間（分）</span>"));
    assert!(!body.contains("/ online /"));
    app.stop().await;
}

/// Patients can read what they agree to: the platform's terms and privacy policy are served
/// and linked at sign-up and on every page; a clinic may set its own, which its pages show
/// instead (audited, checked, kept as typed when refused), and empty goes back to the default.
#[tokio::test]
async fn terms_and_privacy_are_served_and_a_clinic_may_set_its_own() {
    let app = TestApp::spawn().await;
    let anon = app.browser();
    let terms = anon.get("/terms").await;
    assert_eq!(terms.status, 200);
    assert!(
        terms.body.contains("第1条（この規約について）"),
        "{}",
        terms.body
    );
    let privacy = anon.get("/privacy").await;
    assert!(privacy.body.contains("録音・録画せず"));
    let home = anon.get("/").await;
    assert!(home.body.contains("href=\"/terms\"") && home.body.contains("href=\"/privacy\""));
    let signup = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../web/templates/accounts/signup_profile.html"),
    )
    .unwrap();
    assert!(signup.contains("href=\"/terms\"") && signup.contains("href=\"/privacy\""));
    // A clinic without its own text shows the platform's, and says so.
    let c = anon.get("/c/sapporo-hikari/terms").await;
    assert!(c.body.contains("tsunagu の標準の文章を表示しています"));
    assert!(c.body.contains("第1条"));
    // The admin sets the clinic's own terms; a text that is too long is refused with both
    // texts kept as typed.
    let admin = staff(&app, "admin").await;
    let sp = admin.get("/staff/settings").await;
    assert_eq!(sp.status, 200, "{}", sp.body);
    let csrf = sp.csrf();
    let long = "あ".repeat(30_001);
    let p = admin
        .post(
            "/staff/settings/legal",
            &csrf,
            &[("terms", long.as_str()), ("privacy", "当院の方針")],
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("30,000文字以内"));
    assert!(p.body.contains("当院の方針"), "the other text is kept");
    let privacy = anon.get("/c/sapporo-hikari/privacy").await;
    assert!(!privacy.body.contains("当院の方針"), "nothing was saved");
    let p = admin
        .post(
            "/staff/settings/legal",
            &csrf,
            &[
                ("terms", "第1条 当院の規約\n二行目\n\n第2条 次の段落"),
                ("privacy", ""),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let c = anon.get("/c/sapporo-hikari/terms").await;
    assert!(
        c.body.contains("<p>第1条 当院の規約<br>二行目</p>"),
        "{}",
        c.body
    );
    assert!(!c.body.contains("標準の文章"));
    // Privacy left empty: the platform's default still applies; another clinic is unchanged.
    assert!(
        anon.get("/c/sapporo-hikari/privacy")
            .await
            .body
            .contains("録音・録画せず")
    );
    assert!(
        !anon
            .get("/c/tsunagu-central/terms")
            .await
            .body
            .contains("当院の規約")
    );
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'facility.legal_text'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(audited, 2, "one entry per text saved");
    // Clerks may not change them.
    let clerk = staff(&app, "clerk").await;
    let csrf = clerk.get("/staff/bookings/new").await.csrf();
    let p = clerk
        .post(
            "/staff/settings/legal",
            &csrf,
            &[("terms", "x"), ("privacy", "")],
        )
        .await;
    assert_eq!(p.status, 403);
    app.stop().await;
}

/// The questionnaire is edited as a form: each question its own row (text, free answer or
/// choices, required, position); rows are added, removed and reordered, questions keep their
/// ids (answers are keyed by them), and a bad row is named and kept as typed.
#[tokio::test]
async fn the_questionnaire_is_edited_question_by_question() {
    let app = TestApp::spawn().await;
    let f = app.facility("sapporo-hikari").await;
    let admin = staff(&app, "admin").await;
    let base = [
        ("name", "禁煙外来（オンライン）"),
        ("mode", "online"),
        ("first_minutes", "30"),
        ("return_minutes", "15"),
        ("booking_fee_yen", "0"),
    ];
    let with = |rows: &[(&'static str, &'static str)]| {
        let mut v = base.to_vec();
        v.extend_from_slice(rows);
        v
    };
    // A new menu with two questions typed in the editor's rows (a third row left empty).
    let p = admin
        .submit(
            "/staff/menus",
            "/staff/menus",
            &with(&[
                ("q0_id", ""),
                ("q0_label", "喫煙本数"),
                ("q0_kind", "choice"),
                ("q0_choices", "10本未満\r\n10本以上"),
                ("q0_required", "1"),
                ("q0_order", ""),
                ("q1_id", ""),
                ("q1_label", "既往歴"),
                ("q1_kind", "text"),
                ("q1_choices", ""),
                ("q1_order", ""),
                ("q2_id", ""),
                ("q2_label", ""),
                ("q2_kind", "text"),
                ("q2_choices", ""),
                ("q2_order", ""),
            ]),
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/staff/menus?done=saved"),
        "{}",
        p.body
    );
    let menu = app
        .state
        .booker
        .menus
        .list(f.id, false)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.name.starts_with("禁煙外来"))
        .unwrap();
    let first_ids: Vec<String> = menu.questionnaire.iter().map(|q| q.id.clone()).collect();
    assert_eq!(first_ids.len(), 2);
    let id0: &'static str = Box::leak(first_ids[0].clone().into_boxed_str());
    let id1: &'static str = Box::leak(first_ids[1].clone().into_boxed_str());
    assert_eq!(menu.questionnaire[0].choices, ["10本未満", "10本以上"]);
    assert!(menu.questionnaire[0].required && !menu.questionnaire[1].required);
    // The editor shows one row per question plus empty ones, not a developer syntax.
    let edit = admin.get(&format!("/staff/menus/{}", menu.id)).await;
    assert!(
        edit.body.contains("name=\"q0_label\" value=\"喫煙本数\""),
        "{}",
        edit.body
    );
    assert!(
        edit.body.contains("name=\"q4_label\""),
        "two questions + three empty rows"
    );
    assert!(
        !edit.body.contains("喫煙本数|"),
        "the text format is only the import, empty until used"
    );
    // A choice question with one choice is refused on its row, everything kept.
    let path = format!("/staff/menus/{}", menu.id);
    let p = admin
        .submit(
            &path,
            &path,
            &with(&[
                ("q0_id", id0),
                ("q0_label", "喫煙本数"),
                ("q0_kind", "choice"),
                ("q0_choices", "10本未満"),
                ("q0_order", "1"),
                ("q1_id", id1),
                ("q1_label", "既往歴（自由記述）"),
                ("q1_kind", "text"),
                ("q1_choices", ""),
                ("q1_order", "2"),
            ]),
        )
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("選択肢を2つ以上"));
    assert!(p.body.contains("value=\"既往歴（自由記述）\""));
    // Reorder (the new question to the top), remove one, reword another: ids stay.
    let p = admin
        .submit(
            &path,
            &path,
            &with(&[
                ("active", "true"),
                ("q0_id", id0),
                ("q0_label", "1日の喫煙本数"),
                ("q0_kind", "choice"),
                ("q0_choices", "10本未満、10本以上"),
                ("q0_required", "1"),
                ("q0_order", "1"),
                ("q1_id", id1),
                ("q1_label", "既往歴"),
                ("q1_kind", "text"),
                ("q1_choices", ""),
                ("q1_order", "2"),
                ("q1_delete", "1"),
                ("q2_id", ""),
                ("q2_label", "禁煙を始めたい理由"),
                ("q2_kind", "text"),
                ("q2_choices", ""),
                ("q2_order", "１"),
            ]),
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/staff/menus?done=saved"),
        "{}",
        p.body
    );
    let menu = app.state.booker.menus.get(f.id, menu.id).await.unwrap();
    let got: Vec<(&str, &str)> = menu
        .questionnaire
        .iter()
        .map(|q| (q.id.as_str(), q.label.as_str()))
        .collect();
    assert_eq!(got[0].1, "禁煙を始めたい理由");
    assert_eq!(
        got[1],
        (first_ids[0].as_str(), "1日の喫煙本数"),
        "reworded, same id"
    );
    assert!(
        !first_ids.contains(&got[0].0.to_string()),
        "the removed question's id is not handed to the new one"
    );
    app.stop().await;
}
