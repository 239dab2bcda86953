//! Insurance registration (A4), images shared with a booking (B5), questionnaire and
//! consent (B6): validation, storage, and who can see what.

use reqwest::multipart::{Form, Part};

use crate::helpers::*;

/// A PNG header and a little body: enough for content sniffing.
fn png() -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    v.extend_from_slice(&[
        0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0,
    ]);
    v
}

pub(crate) async fn logged_in(app: &TestApp, phone: &str) -> Browser {
    let b = app.browser();
    let p = b
        .submit(
            "/login",
            "/login",
            &[
                ("phone", phone),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/my"));
    b
}

/// Posts a multipart form with its CSRF token as a form field (never in the URL).
async fn post_multipart(b: &Browser, path: &str, csrf: &str, form: Form) -> Page {
    let r = b
        .http
        .post(format!("{}{path}", b.base))
        .multipart(form.text("csrf", csrf.to_string()))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Page {
        status,
        location,
        body: r.text().await.unwrap(),
    }
}

fn card_form(insurer: &str, with_photos: bool) -> Form {
    let mut f = Form::new()
        .text("kind", "card")
        .text("insurer_number", insurer.to_string())
        .text("symbol", "札あ10")
        .text("number", "12345")
        .text("branch", "1");
    if with_photos {
        f = f
            .part("front", Part::bytes(png()).file_name("front.png"))
            .part("back", Part::bytes(png()).file_name("back.png"));
    }
    f
}

#[tokio::test]
async fn insurance_is_validated_stored_and_seen_only_where_allowed() {
    let app = TestApp::spawn().await;
    let b = logged_in(&app, "090-0000-0001").await;
    let me = app
        .state
        .accounts
        .patients
        .account_by_phone(&tsunagu_kernel::Phone::parse("p", "090-0000-0001").unwrap())
        .await
        .unwrap()
        .unwrap();
    let pid = app
        .state
        .accounts
        .patients
        .patients_of(me.id)
        .await
        .unwrap()[0]
        .id
        .0;
    let page = b.get(&format!("/my/insurance/{pid}")).await;
    let csrf = page.csrf();
    // 019904 fails the check digit; photos are missing.
    let p = post_multipart(
        &b,
        &format!("/my/insurance/{pid}"),
        &csrf,
        card_form("019904", false),
    )
    .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("保険者番号が正しくありません"));
    assert!(
        p.body
            .contains("保険証の写真（表面・裏面）を選んでください")
    );
    assert!(
        p.body.contains("value=\"019904\""),
        "what was typed is kept"
    );
    // A PDF is not a photo.
    let f = card_form("06139000", false)
        .part(
            "front",
            Part::bytes(b"%PDF-1.7 x".to_vec()).file_name("front.jpg"),
        )
        .part("back", Part::bytes(png()).file_name("back.png"));
    let p = post_multipart(&b, &format!("/my/insurance/{pid}"), &csrf, f).await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("画像ファイル"));
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM files")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap(),
        0
    );
    // Without the right CSRF token in the form: refused, and in the URL it does not count.
    let p = post_multipart(
        &b,
        &format!("/my/insurance/{pid}"),
        "wrong-token",
        card_form("06139000", true),
    )
    .await;
    assert_eq!(p.status, 403);
    let p = post_multipart(
        &b,
        &format!("/my/insurance/{pid}?csrf={csrf}"),
        "",
        card_form("06139000", true),
    )
    .await;
    assert_eq!(p.status, 403, "a token in the query string is not accepted");
    let p = post_multipart(
        &b,
        &format!("/my/insurance/{pid}"),
        &csrf,
        card_form("０６１３９０００", true),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let reg = app
        .state
        .insurance
        .get(tsunagu_kernel::PatientId(pid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.insurer_number.as_deref(), Some("06139000"));
    assert_eq!(reg.branch.as_deref(), Some("01"));
    let page = b.get(&format!("/my/insurance/{pid}")).await;
    let key = page
        .body
        .split("/my/files/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(b.get(&format!("/my/files/{key}")).await.status, 200);
    // Served as an attachment in a sandbox: never run as a page, whatever else it is.
    let r = b
        .http
        .get(format!("{}/my/files/{key}", b.base))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["content-disposition"], "attachment");
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(h["x-content-type-options"], "nosniff");
    // Another patient, and staff of a facility that does not know the patient: nothing.
    let other = logged_in(&app, "090-0000-0002").await;
    assert_eq!(other.get(&format!("/my/files/{key}")).await.status, 404);
    assert_eq!(other.get(&format!("/my/insurance/{pid}")).await.status, 404);
    let north = app.staff_browser("tsunagu-north", "clerk").await;
    assert_eq!(north.get(&format!("/staff/files/{key}")).await.status, 404);
    // Staff of つなぐ中央病院, which knows the patient, may see it; the view is audited.
    let central = app.staff_browser("tsunagu-central", "clerk").await;
    assert_eq!(
        central.get(&format!("/staff/files/{key}")).await.status,
        200
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'file.view'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(audited, 1);
    app.stop().await;
}

#[tokio::test]
async fn images_and_questionnaire_reach_the_clinic_of_the_booking() {
    let app = TestApp::spawn().await;
    let b = logged_in(&app, "090-0000-0002").await;
    let (id, _) = book_first_slot(&app, &b).await;
    let page = b.get(&format!("/my/bookings/{id}")).await;
    assert!(
        page.body
            .contains("保険証またはマイナ保険証を登録してください"),
        "insured menu without insurance is flagged"
    );
    assert!(page.body.contains("問診票へのご回答"));
    let csrf = page.csrf();
    // Images: a non-image is refused; two PNGs are shared.
    let bad = Form::new().part(
        "images",
        Part::bytes(b"<svg onload=alert(1)>".to_vec()).file_name("x.png"),
    );
    let p = post_multipart(&b, &format!("/my/bookings/{id}/images"), &csrf, bad).await;
    assert_eq!(p.status, 422);
    let good = Form::new()
        .part("images", Part::bytes(png()).file_name("a.png"))
        .part("images", Part::bytes(png()).file_name("b.png"));
    let p = post_multipart(&b, &format!("/my/bookings/{id}/images"), &csrf, good).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(app.state.files.for_booking(id).await.unwrap().len(), 2);
    // Questionnaire: required answers and the signature are enforced.
    let q = b.get(&format!("/my/bookings/{id}/questionnaire")).await;
    assert!(q.body.contains("お薬の受け取り方法"));
    let p = b
        .post(
            &format!("/my/bookings/{id}/questionnaire"),
            &q.csrf(),
            &[("q_symptoms", "")],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("同意書への同意が必要です"));
    let p = b
        .post(
            &format!("/my/bookings/{id}/questionnaire"),
            &q.csrf(),
            &[
                ("q_symptoms", "頭痛が続く"),
                ("q_medicine", "指定の薬局で受け取る"),
                ("consent_name", "佐藤 美咲"),
                ("agree", "true"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = b
        .post(
            &format!("/my/bookings/{id}/questionnaire"),
            &q.csrf(),
            &[
                ("q_symptoms", "x"),
                ("q_medicine", "ドローン"),
                ("consent_name", "佐藤"),
                ("agree", "true"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "a choice that is not offered is refused");
    // The clinic's staff see the answers, the signature and the images.
    let staff = app.staff_browser("tsunagu-central", "clerk").await;
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(sp.body.contains("頭痛が続く"));
    assert!(sp.body.contains("指定の薬局で受け取る"));
    assert!(sp.body.contains("佐藤 美咲 ("));
    let img = sp
        .body
        .split("/staff/files/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(staff.get(&format!("/staff/files/{img}")).await.status, 200);
    app.stop().await;
}

#[tokio::test]
async fn the_api_carries_insurance_images_answers_and_setup() {
    let app = TestApp::spawn().await;
    let token = patient_token(&app, "090-0000-0001").await;
    let me = app.api().with_token(&token);
    let (_, who) = me.get("/me").await;
    let pid = who["patients"][0]["id"].as_i64().unwrap();
    let http = reqwest::Client::new();
    let put = |form: Form| {
        http.put(format!("{}/api/v1/me/patients/{pid}/insurance", app.base))
            .bearer_auth(&token)
            .multipart(form)
            .send()
    };
    let r = put(card_form("019904", true)).await.unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["fields"][0]["field"], "insurer_number");
    let r = put(card_form("06139000", true)).await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (s, ins) = me.get(&format!("/me/patients/{pid}/insurance")).await;
    assert_eq!(s, 200);
    assert_eq!(ins["insurer_number"], "06139000");
    assert_eq!(ins["photos"], true);
    // A booking, images, answers.
    let (_, slots) = app
        .api()
        .get("/facilities/tsunagu-central/slots?menu=1&kind=return&from=2026-11-24&days=1")
        .await;
    let (s, b) = me
        .post("/me/bookings", serde_json::json!({"facility": "tsunagu-central", "patient_id": pid, "menu_id": 1, "kind": "return", "doctor_id": slots[0]["doctor_id"], "starts_at": slots[0]["starts_at"]}))
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["id"].as_i64().unwrap();
    let r = http
        .post(format!("{}/api/v1/me/bookings/{id}/images", app.base))
        .bearer_auth(&token)
        .multipart(Form::new().part("images", Part::bytes(png()).file_name("a.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (s, e) = me
        .put(
            &format!("/me/bookings/{id}/answers"),
            serde_json::json!({"answers": {"symptoms": "咳"}}),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    // An answer over 2,000 characters is refused with the limit, not saved cut.
    let (s, e) = me
        .put(&format!("/me/bookings/{id}/answers"), serde_json::json!({"answers": {"symptoms": "咳".repeat(2500), "medicine": "医療機関から配送"}, "consent_name": "山田 太郎", "agree": true}))
        .await;
    assert_eq!(s, 422, "{e}");
    assert!(
        e["error"]["fields"][0]["message"]
            .as_str()
            .unwrap()
            .contains("2000"),
        "{e}"
    );
    let (s, _) = me
        .put(&format!("/me/bookings/{id}/answers"), serde_json::json!({"answers": {"symptoms": "咳", "medicine": "医療機関から配送"}, "consent_name": "山田 太郎", "agree": true}))
        .await;
    assert_eq!(s, 204);
    let (_, a) = me.get(&format!("/me/bookings/{id}/answers")).await;
    assert_eq!(a["answers"]["medicine"], "医療機関から配送");
    // Staff set-up: a clerk proposes, the admin approves; hours; maintenance (admins only).
    let clerk = app
        .api()
        .with_token(&staff_token(&app, "tsunagu-central", "clerk").await);
    let (s, v) = clerk.post("/staff/menus", serde_json::json!({"name": "花粉症（オンライン）", "mode": "online", "first_minutes": 20, "return_minutes": 10, "insured": true})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "proposed");
    let (s, _) = clerk
        .put(
            "/staff/facility/online-suspended",
            serde_json::json!({"suspended": true}),
        )
        .await;
    assert_eq!(s, 403);
    let admin = app
        .api()
        .with_token(&staff_token(&app, "tsunagu-central", "admin").await);
    let f = app.facility("tsunagu-central").await;
    let change = app.state.booker.menus.pending(f.id).await.unwrap()[0].0;
    let (s, _) = admin
        .post(
            &format!("/staff/menus/changes/{change}"),
            serde_json::json!({"decision": "approve"}),
        )
        .await;
    assert_eq!(s, 204);
    let doctor = app.staff_id(f.id, "doctor").await.0;
    let (s, e) = admin
        .put(
            &format!("/staff/doctors/{doctor}/hours"),
            serde_json::json!({"weekly": {"1": "9時"}}),
        )
        .await;
    assert_eq!(s, 422, "{e}");
    let (s, _) = admin
        .put(
            &format!("/staff/doctors/{doctor}/hours"),
            serde_json::json!({"weekly": {"1": "09:00-12:00", "3": "14:00-18:00"}}),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = admin
        .put(
            "/staff/facility/online-suspended",
            serde_json::json!({"suspended": true}),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .api()
        .get("/facilities/tsunagu-central/slots?menu=1&kind=return")
        .await;
    assert_eq!(s, 409, "suspended facilities offer no slots");
    app.stop().await;
}

/// Books the first free return visit at the demo hospital for the account's own patient;
/// answers (booking id, patient id).
pub(crate) async fn book_first_slot(app: &TestApp, b: &Browser) -> (i64, String) {
    let f = app.facility("tsunagu-central").await;
    let menu = app.state.booker.menus.list(f.id, true).await.unwrap()[0].clone();
    let form = b
        .get(&format!(
            "/c/tsunagu-central/book?menu={}&kind=return",
            menu.id
        ))
        .await;
    let field = |name: &str, nth: usize| {
        form.body
            .split(&format!("name=\"{name}\" value=\""))
            .nth(nth)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    let (slot, patient) = (field("slot", 1), field("patient", 1));
    let p = b
        .post(
            "/c/tsunagu-central/book",
            &form.csrf(),
            &[
                ("menu", &menu.id.to_string()),
                ("kind", "return"),
                ("patient", &patient),
                ("slot", &slot),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let id = p.id_after("/my/bookings/");
    (id, patient)
}

#[tokio::test]
async fn staff_confirm_registered_insurance_with_the_eligibility_service() {
    let app = TestApp::spawn().await;
    let b = logged_in(&app, "090-0000-0002").await;
    let (id, pid) = book_first_slot(&app, &b).await;
    let register = |number: &'static str| {
        Form::new()
            .text("kind", "card")
            .text("insurer_number", "06139000")
            .text("symbol", "9000")
            .text("number", number)
            .text("branch", "01")
            .part("front", Part::bytes(png()).file_name("front.png"))
            .part("back", Part::bytes(png()).file_name("back.png"))
    };
    // The reception list says what the desk must still do: no card yet, questionnaire open.
    let staff = app.staff_browser("tsunagu-central", "clerk").await;
    let reception = format!("/staff/reception?date={}", booking_day(&app, id).await);
    let row = reception_row(&staff.get(&reception).await.body, id);
    assert!(row.contains("保険証未登録"), "{row}");
    assert!(row.contains("未回答"), "{row}");
    let csrf = b.get(&format!("/my/insurance/{pid}")).await.csrf();
    // The seed's 新橋 太郎 card, valid since 2020 in the demo eligibility data.
    let p = post_multipart(
        &b,
        &format!("/my/insurance/{pid}"),
        &csrf,
        register("10001"),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let row = reception_row(&staff.get(&reception).await.body, id);
    assert!(row.contains("未確認"), "registered, not yet checked: {row}");
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(sp.body.contains("オンライン資格確認で確認する"));
    assert!(!sp.body.contains("資格確認の結果"));
    // Without the CSRF token nothing happens.
    let p = staff
        .post(&format!("/staff/bookings/{id}/insurance/check"), "x", &[])
        .await;
    assert_eq!(p.status, 403);
    let p = staff
        .post(
            &format!("/staff/bookings/{id}/insurance/check"),
            &sp.csrf(),
            &[],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let row = reception_row(&staff.get(&reception).await.body, id);
    assert!(
        row.contains(">有効<"),
        "the answer shows at the desk: {row}"
    );
    assert!(!row.contains("attention\">有効"), "{row}");
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(
        sp.body
            .contains("資格確認の結果: 有効（資格確認日 2026-11-20）"),
        "{}",
        sp.body
    );
    // 有効, but not Sato's: the card is the seed's 新橋 太郎's. The page says whose it is
    // beside the patient's own details, and flags the difference prominently.
    assert!(sp.body.contains("資格確認で見つかった方"), "{}", sp.body);
    assert!(sp.body.contains("<td>新橋　太郎</td>"), "{}", sp.body);
    assert!(sp.body.contains("予約の患者と一致しません"), "{}", sp.body);
    assert!(sp.body.contains("患者と不一致"));
    // The patient sees that the clinic confirmed it, in the page and in the API.
    let mine = b.get(&format!("/my/insurance/{pid}")).await;
    assert!(
        mine.body
            .contains("2026-11-20時点の保険資格が医療機関により確認されました"),
        "{}",
        mine.body
    );
    // The check was asked as the clinic's own institution account and audited.
    let audited: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'insurance.check' AND detail LIKE '%validity=1%'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(audited, 1);
    // The booking keeps its own record of the answer and the method.
    assert!(
        sp.body.contains("保険証の記号・番号等（方法2）"),
        "{}",
        sp.body
    );
    // A new registration drops the old answer; a number the service does not know is
    // answered 該当資格なし, which the patient is told about.
    let p = post_multipart(
        &b,
        &format!("/my/insurance/{pid}"),
        &csrf,
        register("99999"),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(
        !sp.body.contains("資格確認の結果"),
        "the old answer is gone"
    );
    let p = staff
        .post(
            &format!("/staff/bookings/{id}/insurance/check"),
            &sp.csrf(),
            &[],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(
        sp.body.contains("資格確認の結果: 該当資格なし"),
        "{}",
        sp.body
    );
    let mine = b.get(&format!("/my/insurance/{pid}")).await;
    assert!(mine.body.contains("有効と確認できませんでした"));
    // The same through the staff API.
    let token = staff_token(&app, "tsunagu-central", "clerk").await;
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/staff/bookings/{id}/insurance/check",
            app.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["validity"], "4", "{v}");
    assert_eq!(v["institution"], tsunagu_server::demo::ELIGIBILITY_CODES[0]);
    // While the eligibility service is down (F8) the clinic is told so and the last
    // answer stays.
    let svc = app.eligibility_access().await;
    let op = svc.find_account(None, "jisshi").await.unwrap().unwrap();
    svc.set_outage(&op, true).await.unwrap();
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    let p = staff
        .post(
            &format!("/staff/bookings/{id}/insurance/check"),
            &sp.csrf(),
            &[],
        )
        .await;
    // The booking's page comes back with the message; nothing is stored.
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("障害中のため確認できません"), "{}", p.body);
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(sp.body.contains("資格確認の結果: 該当資格なし"));
    // Staff of another facility cannot ask about this booking.
    let other = app.staff_browser("tsunagu-north", "clerk").await;
    let op = other.get("/staff").await;
    let p = other
        .post(
            &format!("/staff/bookings/{id}/insurance/check"),
            &op.csrf(),
            &[],
        )
        .await;
    assert_eq!(p.status, 404);
    app.stop().await;
}

/// Seed 004's outage-time flow from the clinic's side (A4, F8): the visit is recorded while
/// the eligibility system is down, with the four facts the patient states; after recovery,
/// in the operating body's period, the qualification is confirmed by those facts at the
/// visit date, with a list to pick from when several records match.
#[tokio::test]
async fn outage_time_visits_are_confirmed_by_four_facts_after_recovery() {
    let app = TestApp::spawn().await;
    let b = logged_in(&app, "090-0000-0002").await;
    let (id, pid) = book_first_slot(&app, &b).await;
    // The patient chose マイナ保険証: no numbers to ask by.
    let csrf = b.get(&format!("/my/insurance/{pid}")).await.csrf();
    let p = post_multipart(
        &b,
        &format!("/my/insurance/{pid}"),
        &csrf,
        Form::new().text("kind", "myna"),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let staff = app.staff_browser("tsunagu-central", "clerk").await;
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(sp.body.contains("障害時来院として記録する"), "{}", sp.body);
    let facts = [
        ("name", "新橋　太郎"),
        ("kana", ""),
        ("birth_date", "1954-03-26"),
        ("sex", "1"),
        ("address", "東京都"),
        ("insurer_name", ""),
    ];
    let record = |csrf: String, facts: Vec<(&'static str, &'static str)>| {
        let staff = &staff;
        async move {
            staff
                .post(
                    &format!("/staff/bookings/{id}/insurance/outage-visit"),
                    &csrf,
                    &facts,
                )
                .await
        }
    };
    // Normally a マイナ保険証 is checked with the card (method 1): the identity the clinic's
    // reader returns. The demo's card is bound to the seed's 新橋 太郎.
    let myna = format!("/staff/bookings/{id}/insurance/my-number-card");
    let p = staff.post(&myna, &sp.csrf(), &[("card", " ")]).await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("識別情報を入力してください"), "{}", p.body);
    let p = staff
        .post(
            &myna,
            &sp.csrf(),
            &[("card", tsunagu_server::demo::DEMO_MYNA_CARD)],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(
        sp.body.contains("マイナンバーカード（方法1）"),
        "{}",
        sp.body
    );
    assert!(sp.body.contains("資格確認の結果: 有効"), "{}", sp.body);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1{myna}", app.base))
        .bearer_auth(staff_token(&app, "tsunagu-central", "clerk").await)
        .json(&serde_json::json!({"card": "MYNA-UNKNOWN"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["validity"], "4", "{v}");
    // An answer about a registration that changed meanwhile is not kept anywhere: not on
    // the registration, not on the booking.
    let checks = |app: &TestApp| {
        let pool = app.state.db.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM booking_insurance_checks")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let before = checks(&app).await;
    let clerk = app
        .staff_id(app.facility("tsunagu-central").await.id, "clerk")
        .await;
    let stale = app
        .state
        .insurance
        .record_answer(
            id,
            tsunagu_kernel::PatientId(pid.parse().unwrap()),
            tsunagu_insurance::outage::Method::MyNumberCard,
            &tsunagu_insurance::check::Outcome {
                validity: "2".into(),
                validity_name: "無効".into(),
                confirmation_date: "2026-11-20".into(),
                institution: "1310000011".into(),
                holder: None,
                differences: Vec::new(),
            },
            &tsunagu_audit::By {
                actor: tsunagu_audit::Actor {
                    kind: "staff",
                    id: Some(clerk.0),
                    label: "clerk".into(),
                },
                facility_id: None,
                ip: String::new(),
                request_id: String::new(),
            },
            Some((tsunagu_kernel::PatientId(pid.parse().unwrap()), 0)),
        )
        .await
        .unwrap();
    assert!(!stale);
    assert_eq!(checks(&app).await, before);
    // A booking of another day is not today's visit.
    let f = app.facility("tsunagu-central").await;
    let menu = app.state.booker.menus.list(f.id, false).await.unwrap()[0].id;
    let doctor = app.staff_id(f.id, "doctor").await;
    let p = staff
        .post(
            "/staff/bookings/new",
            &sp.csrf(),
            &[
                ("who", "walk_in"),
                ("name", "明日 来院"),
                ("menu_id", &menu.to_string()),
                ("mode", "online"),
                ("kind", "return"),
                ("doctor_id", &doctor.0.to_string()),
                ("date", "2026-11-21"),
                ("time", "07:00"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let tomorrow: i64 = p.id_after("/staff/bookings/");
    let p = staff
        .post(
            &format!("/staff/bookings/{tomorrow}/insurance/outage-visit"),
            &sp.csrf(),
            &facts,
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("本日の予約のみ"), "{}", p.body);
    // A cancelled booking is no visit.
    let (other, _) = book_first_slot(&app, &b).await;
    let p = staff
        .post(
            &format!("/staff/bookings/{other}/close"),
            &sp.csrf(),
            &[("status", "cancelled")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = staff
        .post(
            &format!("/staff/bookings/{other}/insurance/outage-visit"),
            &sp.csrf(),
            &facts,
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("キャンセル・未受診の予約は"), "{}", p.body);
    // Not while the system works.
    let p = record(sp.csrf(), facts.to_vec()).await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("障害中ではありません"), "{}", p.body);
    let svc = app.eligibility_access().await;
    let op = svc.find_account(None, "jisshi").await.unwrap().unwrap();
    svc.set_outage(&op, true).await.unwrap();
    // Each missing fact is named, and what was typed stays in the form.
    let p = record(
        sp.csrf(),
        vec![
            ("name", ""),
            ("kana", ""),
            ("birth_date", "1954-02-30"),
            ("sex", ""),
            ("address", "横浜市"),
        ],
    )
    .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body
            .contains("氏名、氏名（カナ）のどちらか一方は入力してください"),
        "{}",
        p.body
    );
    assert!(p.body.contains("value=\"横浜市\""), "{}", p.body);
    let p = record(sp.csrf(), facts.to_vec()).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(
        sp.body
            .contains("障害時来院（2026-11-20）として記録されています"),
        "{}",
        sp.body
    );
    assert!(sp.body.contains("新橋 太郎"));
    // Recorded once only.
    let p = record(sp.csrf(), facts.to_vec()).await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("記録済みです"));
    // Method 3 is not open during the outage itself.
    let confirm = |csrf: String, path: String| {
        let staff = &staff;
        async move { staff.post(&path, &csrf, &[]).await }
    };
    let four = format!("/staff/bookings/{id}/insurance/four-facts");
    let p = confirm(sp.csrf(), four.clone()).await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("システム復旧後に実施機関が定めた期間のみ"),
        "{}",
        p.body
    );
    // Recovered, but before the operating body opens a period: still closed.
    svc.set_outage(&op, false).await.unwrap();
    let p = confirm(sp.csrf(), four.clone()).await;
    assert!(p.body.contains("実施機関が定めた期間のみ"), "{}", p.body);
    let now = tsunagu_kernel::Clock::now_ms(&app.clock);
    svc.open_period(
        &op,
        now - 1,
        now + 86_400_000,
        "復旧に伴い緊急時医療情報・資格確認機能を開放します。",
        &[tsunagu_server::demo::ELIGIBILITY_CODES[0].to_string()],
    )
    .await
    .unwrap();
    // The seed's 新橋 太郎 has two records: the page goes to the list at its own address,
    // so a reload searches again and never posts.
    let p = confirm(sp.csrf(), four.clone()).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(
        p.location.as_deref(),
        Some(format!("{four}#insurance-check").as_str())
    );
    let p = staff.get(&four).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("患者本人の資格を選んでください"),
        "{}",
        p.body
    );
    let picks: Vec<String> = p
        .body
        .split(&format!(
            "action=\"/staff/bookings/{id}/insurance/four-facts/"
        ))
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(picks.len(), 2, "{}", p.body);
    assert!(p.body.contains("昭和29年3月26日"));
    let p = confirm(sp.csrf(), format!("{four}/{}", picks[0])).await;
    assert_eq!(p.status, 303, "{}", p.body);
    let sp = staff.get(&format!("/staff/bookings/{id}")).await;
    assert!(sp.body.contains("4情報（方法3）"), "{}", sp.body);
    // The booking records which qualification was confirmed, not only 「有効」.
    let checks = &sp.body[sp.body.find("id=\"booking-checks\"").unwrap()..];
    assert!(checks.contains("（06139000）"), "{checks}");
    assert!(sp.body.contains("資格確認日 2026-11-20"), "{}", sp.body);
    // The patient sees the confirmation of their マイナ保険証 registration.
    let mine = b.get(&format!("/my/insurance/{pid}")).await;
    assert!(
        mine.body.contains("医療機関により確認されました"),
        "{}",
        mine.body
    );
    // …and on the booking itself.
    let booking = b.get(&format!("/my/bookings/{id}")).await;
    assert!(
        booking
            .body
            .contains("2026-11-20時点の保険資格が医療機関により確認されました"),
        "{}",
        booking.body
    );
    // The same through the staff API, picking the other candidate.
    let token = staff_token(&app, "tsunagu-central", "clerk").await;
    let api = |body: serde_json::Value| {
        let token = token.clone();
        let url = format!(
            "{}/api/v1/staff/bookings/{id}/insurance/four-facts",
            app.base
        );
        async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = api(serde_json::json!({})).await;
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["outcome"], "list", "{v}");
    assert_eq!(v["candidates"].as_array().unwrap().len(), 2);
    let r = api(serde_json::json!({ "candidate": picks[1].parse::<i64>().unwrap() })).await;
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["outcome"], "confirmed", "{v}");
    assert_eq!(v["result"]["confirmation_date"], "2026-11-20");
    // Audited as accesses to the patient's data; the eligibility service monitored the
    // searches and views of the clinic's viewer account (F7).
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_events WHERE action LIKE 'insurance.%' ORDER BY seq",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(
        audited,
        [
            "insurance.check",
            "insurance.check",
            "insurance.outage_visit",
            "insurance.four_facts",
            "insurance.four_facts",
            "insurance.four_facts",
            "insurance.four_facts"
        ]
    );
    let log = svc.monitoring(&op, &Default::default(), 50).await.unwrap();
    // Three searches: the page's button, the list page it leads to (a reload-safe address
    // that asks again), and the API.
    assert_eq!(log.iter().filter(|m| m.action == "search").count(), 3);
    assert_eq!(log.iter().filter(|m| m.action == "view").count(), 2);
    // Staff of another facility cannot touch this booking.
    let other = app.staff_browser("tsunagu-north", "clerk").await;
    let op_page = other.get("/staff").await;
    let p = other.post(&four, &op_page.csrf(), &[]).await;
    assert_eq!(p.status, 404);
    app.stop().await;
}

/// Sending one's own completed booking again (the back button) says it is booked already
/// and shows it, instead of "someone else just took the time".
#[tokio::test]
async fn resending_ones_own_booking_shows_it_instead_of_someone_else_took_it() {
    let app = TestApp::spawn().await;
    let b = logged_in(&app, "090-0000-0002").await;
    let f = app.facility("tsunagu-central").await;
    let menu = app.state.booker.menus.list(f.id, true).await.unwrap()[0].clone();
    let form = b
        .get(&format!(
            "/c/tsunagu-central/book?menu={}&kind=return",
            menu.id
        ))
        .await;
    let field = |name: &str| {
        form.body
            .split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string()
    };
    let (slot, patient) = (field("slot"), field("patient"));
    let fields = [
        ("menu", menu.id.to_string()),
        ("kind", "return".to_string()),
        ("patient", patient),
        ("slot", slot),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = b
        .post("/c/tsunagu-central/book", &form.csrf(), &fields)
        .await;
    assert_eq!(first.status, 303, "{}", first.body);
    let id = first.id_after("/my/bookings/");
    let again = b
        .post("/c/tsunagu-central/book", &form.csrf(), &fields)
        .await;
    assert_eq!(
        again.location.as_deref(),
        Some(format!("/my/bookings/{id}?done=already").as_str())
    );
    let shown = b.get(&format!("/my/bookings/{id}?done=already")).await;
    assert!(
        shown.body.contains("この予約はすでに受け付けています"),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains("ほかの方の予約で埋まりました"));
    // Staff booking a full time hear that it is full, not that someone just took it.
    let clerk = staff_token(&app, "tsunagu-central", "clerk").await;
    let b0 = app.state.booker.bookings.get_at(f.id, id).await.unwrap();
    let at = jiff::Timestamp::from_millisecond(b0.starts_at)
        .unwrap()
        .to_string();
    let mut last = (0, serde_json::Value::Null);
    for i in 0..4 {
        last = app
            .api()
            .with_token(&clerk)
            .post(
                "/staff/bookings",
                serde_json::json!({"name": format!("来院 {}郎", ["一", "二", "三", "四"][i]), "menu_id": menu.id,
                    "kind": "return", "doctor_id": b0.doctor_id.0, "starts_at": at}),
            )
            .await;
        if last.0 == 409 {
            break;
        }
    }
    assert_eq!(last.0, 409, "{}", last.1);
    assert_eq!(
        last.1["error"]["message"],
        "この時間はすでに予約で埋まっています。別の時間を選んでください。"
    );
    app.stop().await;
}

/// The Tokyo day a booking starts on, as the reception list's `date`.
async fn booking_day(app: &TestApp, id: i64) -> String {
    let ms: i64 = sqlx::query_scalar("SELECT starts_at FROM bookings WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    jiff::Timestamp::from_millisecond(ms)
        .unwrap()
        .in_tz("Asia/Tokyo")
        .unwrap()
        .date()
        .to_string()
}

/// The reception list's row of booking `id`.
fn reception_row(body: &str, id: i64) -> String {
    let at = body
        .find(&format!("/staff/bookings/{id}\""))
        .unwrap_or_else(|| panic!("booking {id} is not listed: {body}"));
    let start = body[..at].rfind("<tr").unwrap();
    let end = at + body[at..].find("</tr>").unwrap();
    body[start..end].to_string()
}
