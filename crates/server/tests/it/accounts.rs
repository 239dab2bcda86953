//! Patient sign-up, login, reset, my page and family (A1, A2, A5, A6).

use jiff::SignedDuration;
use serde_json::json;

use crate::helpers::*;

const NEW_PHONE: &str = "+819012345678";

async fn count_accounts(app: &TestApp) -> i64 {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM accounts")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn signup_through_the_pages_with_an_sms_code() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    let before = count_accounts(&app).await;

    // Full-width digits and hyphens are accepted and stored as E.164.
    let p = b
        .submit(
            "/signup",
            "/signup",
            &[("phone", "０９０－１２３４－５６７８")],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/signup/verify"));
    let code = app.last_code_to(NEW_PHONE).await;
    assert_eq!(code.len(), 6);
    // Stored only as a keyed digest: not even the plain SHA-256 of number and code, which
    // a copy of the database could find by trying all million codes.
    let stored: String = sqlx::query_scalar("SELECT code_digest FROM verification_codes")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_ne!(
        stored,
        tsunagu_kernel::secret::token_digest(&format!("{NEW_PHONE}:{code}"))
    );
    assert!(!stored.contains(&code));

    let verify = b.get("/signup/verify").await;
    assert!(
        verify.body.contains("090-1234-5678"),
        "shows the number the code went to"
    );
    let p = b
        .post("/signup/verify", &verify.csrf(), &[("code", &code)])
        .await;
    assert_eq!(p.location.as_deref(), Some("/signup/profile"));
    // No account exists until the last step.
    assert_eq!(count_accounts(&app).await, before);

    // A bad profile shows every problem and keeps what was typed (but not the password).
    let p = b
        .submit(
            "/signup/profile",
            "/signup/profile",
            &[
                ("family_name", "新橋"),
                ("given_name", ""),
                ("family_name_kana", "shinbashi"),
                ("given_name_kana", "たろう"),
                ("birth_date", "2999-01-01"),
                ("sex", "1"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    for msg in [
        "入力してください。",
        "フリガナはカタカナ（またはひらがな）で入力してください。",
        "生年月日に未来の日付は指定できません。",
        "パスワードは8文字以上にしてください。",
        "利用規約とプライバシーポリシーへの同意が必要です。",
    ] {
        assert!(p.body.contains(msg), "missing message {msg}");
    }
    assert!(p.body.contains("value=\"新橋\""), "typed values are kept");
    assert!(
        !p.body.contains("value=\"short\""),
        "passwords are never echoed"
    );
    assert_eq!(
        count_accounts(&app).await,
        before,
        "a failed step leaves no account"
    );

    let p = b
        .submit(
            "/signup/profile",
            "/signup/profile",
            &[
                ("family_name", "新橋"),
                ("given_name", "太郎"),
                ("family_name_kana", "しんばし"),
                ("given_name_kana", "ﾀﾛｳ"),
                ("birth_date", "1954-03-26"),
                ("sex", "1"),
                ("password", "hashi-1954"),
                ("password_confirm", "hashi-1954"),
                ("agree", "true"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let my = b.get("/my?welcome=1").await;
    assert_eq!(my.status, 200);
    assert!(my.body.contains("新橋 太郎"));
    assert!(
        my.body.contains("シンバシ タロウ"),
        "kana normalised to full-width katakana"
    );
    assert_eq!(count_accounts(&app).await, before + 1);

    // The number is now taken: the form answers as for any number (it must not tell who is
    // a member), and the number's holder is told by SMS instead of getting a code.
    app.advance(SignedDuration::from_secs(61));
    let other = app.browser();
    let p = other
        .submit("/signup", "/signup", &[("phone", "09012345678")])
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let sms = app.last_sms_to("+819012345678").await.unwrap();
    assert!(sms.contains("すでに会員登録されています"), "{sms}");
    app.stop().await;
}

#[tokio::test]
async fn bad_phone_numbers_get_clear_messages_in_the_page_language() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    for (input, msg) in [
        ("", "携帯電話番号を入力してください。"),
        (
            "03-1234-5678",
            "携帯電話番号（060・070・080・090で始まる11桁）",
        ),
        ("090-12ab-5678", "電話番号は数字で入力してください"),
    ] {
        let p = b.submit("/signup", "/signup", &[("phone", input)]).await;
        assert_eq!(p.status, 422, "{input}");
        assert!(p.body.contains(msg), "{input}: {}", p.body);
    }
    // English when the browser asks for it.
    let page = b.get_lang("/signup", "en-US,en;q=0.9").await;
    let r = b
        .http
        .post(format!("{}/signup", b.base))
        .header("accept-language", "en")
        .form(&[("csrf", page.csrf().as_str()), ("phone", "03-1234-5678")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("Enter a mobile number"));
    app.stop().await;
}

#[tokio::test]
async fn codes_expire_burn_after_five_tries_and_resend_has_a_cooldown() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let (s, _) = api
        .post("/signup/code", json!({"phone": "090-1234-5678"}))
        .await;
    assert_eq!(s, 202);
    let code = app.last_code_to(NEW_PHONE).await;

    // Resend straight away: cooldown, with Retry-After in seconds.
    let (s, v) = api
        .post("/signup/code", json!({"phone": "090-1234-5678"}))
        .await;
    assert_eq!(s, 429);
    assert!(v["error"]["message"].as_str().unwrap().contains("秒後"));

    // After 10 minutes the code is dead.
    app.advance(SignedDuration::from_mins(11));
    let (s, v) = api
        .post(
            "/signup/verify",
            json!({"phone": "09012345678", "code": code}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["fields"][0]["code"], "error.code.expired");

    // A new code; four wrong tries count down, the fifth burns it, the right one then fails.
    let (s, _) = api
        .post("/signup/code", json!({"phone": "09012345678"}))
        .await;
    assert_eq!(s, 202);
    let code = app.last_code_to(NEW_PHONE).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (1..=4).rev() {
        let (s, v) = api
            .post(
                "/signup/verify",
                json!({"phone": "09012345678", "code": wrong}),
            )
            .await;
        assert_eq!(s, 422);
        assert_eq!(v["error"]["fields"][0]["code"], "error.code.wrong");
        assert!(
            v["error"]["fields"][0]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("あと{left}回"))
        );
    }
    let (_, v) = api
        .post(
            "/signup/verify",
            json!({"phone": "09012345678", "code": wrong}),
        )
        .await;
    assert_eq!(v["error"]["fields"][0]["code"], "error.code.burnt");
    let (s, v) = api
        .post(
            "/signup/verify",
            json!({"phone": "09012345678", "code": code}),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(v["error"]["fields"][0]["code"], "error.code.burnt");

    // Per-number limit: 5 sends an hour.
    for _ in 0..3 {
        app.advance(SignedDuration::from_secs(61));
        let (s, _) = api
            .post("/signup/code", json!({"phone": "09012345678"}))
            .await;
        assert_eq!(s, 202);
    }
    app.advance(SignedDuration::from_secs(61));
    let (s, v) = api
        .post("/signup/code", json!({"phone": "09012345678"}))
        .await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(v["error"]["code"], "too_many_requests");
    app.stop().await;
}

#[tokio::test]
async fn signup_through_the_api_and_my_page() {
    let app = TestApp::spawn().await;
    let api = app.api();
    api.post("/signup/code", json!({"phone": "+81 90 1234 5678"}))
        .await;
    let code = app.last_code_to(NEW_PHONE).await;
    let (s, v) = api
        .post(
            "/signup/verify",
            json!({"phone": "+81 90 1234 5678", "code": code}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let ticket = v["ticket"].as_str().unwrap().to_string();
    let (s, v) = api
        .post(
            "/signup/complete",
            json!({"ticket": ticket, "family_name": "新橋", "given_name": "太郎", "family_name_kana": "シンバシ",
                   "given_name_kana": "タロウ", "birth_date": "1954-03-26", "sex": "1", "password": "hashi-1954"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let me = api.with_token(v["token"].as_str().unwrap());
    let (s, v) = me.get("/me").await;
    assert_eq!(s, 200);
    assert_eq!(v["phone"], "+819012345678");
    assert_eq!(v["patients"][0]["relation"], "self");
    // The ticket is single-use.
    let (s, _) = api
        .post("/signup/complete", json!({"ticket": ticket}))
        .await;
    assert_eq!(s, 422);
    // Malformed JSON gets a normal, translated error.
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/login", app.base))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["fields"][0]["code"], "error.json.invalid");
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_slow_down_then_lock() {
    let app = TestApp::spawn().await;
    let api = app.api();
    let bad = json!({"phone": "090-0000-0001", "password": "wrong-pass-1"});
    for _ in 0..4 {
        let (s, v) = api.post("/login", bad.clone()).await;
        assert_eq!(s, 401, "{v}");
        assert_eq!(
            v["error"]["message"],
            "電話番号（ID）またはパスワードが正しくありません。"
        );
    }
    // After the 4th failure the next try must wait 5 s, even with the right password.
    let good = json!({"phone": "090-0000-0001", "password": tsunagu_server::demo::DEMO_PASSWORD});
    let (s, v) = api.post("/login", good.clone()).await;
    assert_eq!(s, 429, "{v}");
    app.advance(SignedDuration::from_secs(6));
    let (s, _) = api.post("/login", good.clone()).await;
    assert_eq!(s, 200, "success resets the counter");

    for i in 0..10 {
        app.advance(SignedDuration::from_mins(10));
        let (s, _) = api.post("/login", bad.clone()).await;
        assert!(s == 401 || (i == 9 && s == 429), "attempt {i}: {s}");
    }
    app.advance(SignedDuration::from_mins(10));
    let (s, v) = api.post("/login", good.clone()).await;
    assert_eq!(s, 429, "locked: {v}");
    app.advance(SignedDuration::from_mins(25));
    let (s, _) = api.post("/login", good).await;
    assert_eq!(s, 200, "lock lifts after 30 minutes");
    app.stop().await;
}

#[tokio::test]
async fn password_reset_by_sms_code_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let old = patient_token(&app, "090-0000-0001").await;
    let b = app.browser();
    let p = b
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("phone", "090-0000-0001")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/password/reset"));
    let code = app.last_code_to("+819000000001").await;
    // A weak new password is refused without burning the code.
    let p = b
        .submit(
            "/password/reset",
            "/password/reset",
            &[
                ("code", &code),
                ("password", "abc"),
                ("password_confirm", "abc"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    // …and the correct code stays in the form: only the password needs typing again.
    assert!(
        p.body.contains(&format!("value=\"{code}\"")),
        "the code is kept"
    );
    let p = b
        .submit(
            "/password/reset",
            "/password/reset",
            &[
                ("code", &code),
                ("password", "new-pass-2026"),
                ("password_confirm", "new-pass-2026"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/login?reset=1"), "{}", p.body);
    let (s, _) = app.api().with_token(&old).get("/me").await;
    assert_eq!(s, 401, "old sessions end");
    let (s, _) = app
        .api()
        .post(
            "/login",
            json!({"phone": "09000000001", "password": "new-pass-2026"}),
        )
        .await;
    assert_eq!(s, 200);
    // Unknown numbers get the same answer and no SMS.
    let (s, _) = app
        .api()
        .post("/password/code", json!({"phone": "090-9999-0000"}))
        .await;
    assert_eq!(s, 202);
    assert!(app.last_sms_to("+819099990000").await.is_none());
    app.stop().await;
}

#[tokio::test]
async fn family_members_email_and_logout_everywhere() {
    let app = TestApp::spawn().await;
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
    assert_eq!(p.location.as_deref(), Some("/my"));
    let p = b
        .submit(
            "/my/family/new",
            "/my/family/new",
            &[
                ("family_name", "山田"),
                ("given_name", "次郎"),
                ("family_name_kana", "ヤマダ"),
                ("given_name_kana", "ジロウ"),
                ("birth_date", "2021-08-01"),
                ("sex", "1"),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let my = b.get("/my").await;
    assert!(my.body.contains("山田 次郎"));

    // A grandmother is entered in 和暦, as she knows her birthday: 昭和30年4月12日. An
    // impossible 昭和65年 is refused naming the era's last year, with everything kept.
    let family = |year: &'static str, western: &'static str| {
        vec![
            ("family_name", "山田"),
            ("given_name", "ハナ"),
            ("family_name_kana", "ヤマダ"),
            ("given_name_kana", "ハナ"),
            ("birth_era", "3"),
            ("birth_year", year),
            ("birth_month", "4"),
            ("birth_day", "12"),
            ("birth_date", western),
            ("sex", "2"),
        ]
    };
    let p = b
        .submit("/my/family/new", "/my/family/new", &family("65", ""))
        .await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(p.body.contains("昭和は64年までです"), "{}", p.body);
    assert!(p.body.contains("value=\"65\""), "the year is kept");
    let p = b
        .submit(
            "/my/family/new",
            "/my/family/new",
            &family("30", "1956-04-12"),
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("和暦と西暦で違う日付"), "{}", p.body);
    let p = b
        .submit("/my/family/new", "/my/family/new", &family("３０", ""))
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let born: String = sqlx::query_scalar(
        "SELECT birth_date FROM patients WHERE given_name = 'ハナ' AND family_name = '山田'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(born, "1955-04-12");
    // Opened to edit, the date shows in both forms, which agree.
    let id: i64 = sqlx::query_scalar("SELECT id FROM patients WHERE given_name = 'ハナ'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let edit = b.get(&format!("/my/family/{id}/edit")).await;
    assert!(edit.body.contains("value=\"30\""), "{}", edit.body);
    assert!(edit.body.contains("value=\"1955-04-12\""));

    // Email: a link is mailed (captured), following it verifies the address.
    let p = b
        .submit("/my/email", "/my/email", &[("email", "taro@example.jp")])
        .await;
    assert_eq!(p.location.as_deref(), Some("/my/email?sent=1"));
    app.drain().await;
    let mail = app
        .state
        .outbox
        .recent(10)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.channel == "email")
        .unwrap();
    assert_eq!(mail.destination, "taro@example.jp");
    assert_eq!(mail.status, "captured");
    let link = mail
        .body
        .lines()
        .find(|l| l.contains("/my/email/verify?token="))
        .unwrap()
        .trim()
        .to_string();
    let path = link.split_once(&app.base).unwrap().1.to_string();
    let p = app.browser().get(&path).await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("メールアドレスを登録しました"));
    let p = app.browser().get(&path).await;
    assert_eq!(p.status, 400, "links are single-use");
    assert!(b.get("/my").await.body.contains("taro@example.jp"));
    let p = b
        .submit("/my/email", "/my/email", &[("email", "not-an-address")])
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("メールアドレスの形式が正しくありません"));

    // Log out everywhere ends the API session too.
    let token = patient_token(&app, "090-0000-0001").await;
    let csrf = b.get("/my").await.csrf();
    let p = b.post("/my/logout-everywhere", &csrf, &[]).await;
    assert_eq!(p.status, 303);
    assert_eq!(b.get("/my").await.location.as_deref(), Some("/login"));
    let (s, _) = app.api().with_token(&token).get("/me").await;
    assert_eq!(s, 401);
    app.stop().await;
}

#[tokio::test]
async fn session_id_rotates_at_login_and_csrf_is_required() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    let login = b.get("/login").await;
    let before: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE realm = 'patient' AND principal_id IS NULL",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(before, 0, "a visitor's anonymous session is not stored");
    // Without the token: refused, nothing happens.
    let r = b
        .http
        .post(format!("{}/login", app.base))
        .form(&[
            ("phone", "090-0000-0001"),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let p = b
        .post(
            "/login",
            &login.csrf(),
            &[
                ("phone", "090-0000-0001"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let anon_after: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE realm = 'patient' AND principal_id IS NULL",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(anon_after, 0);
    let signed_in: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sessions WHERE realm = 'patient' AND principal_id IS NOT NULL",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(signed_in, 1, "login stored one session, under a new id");
    app.stop().await;
}

#[tokio::test]
async fn login_details_change_password_and_phone_with_a_code() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    b.submit(
        "/login",
        "/login",
        &[
            ("phone", "090-0000-0002"),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ],
    )
    .await;
    // Wrong current password: refused with the field named.
    let p = b
        .submit(
            "/my/login",
            "/my/password",
            &[
                ("current_password", "nope-1234"),
                ("password", "next-pass-1"),
                ("password_confirm", "next-pass-1"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("現在のパスワードが正しくありません"));
    let p = b
        .submit(
            "/my/login",
            "/my/password",
            &[
                ("current_password", tsunagu_server::demo::DEMO_PASSWORD),
                ("password", "next-pass-1"),
                ("password_confirm", "next-pass-1"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/my?done=password"));
    // A number already in use gets no code (its holder is told by SMS) and the page says
    // no more than for any number; a free one gets a code.
    let p = b
        .submit("/my/login", "/my/phone", &[("phone", "090-0000-0001")])
        .await;
    assert_ne!(p.status, 422, "{}", p.body);
    assert!(!p.body.contains("すでに登録されています"));
    let sms = app.last_sms_to("+819000000001").await.unwrap();
    assert!(sms.contains("別の会員登録に使われている"), "{sms}");
    app.advance(SignedDuration::from_secs(61));
    let p = b
        .submit("/my/login", "/my/phone", &[("phone", "080-5555-6666")])
        .await;
    assert_eq!(p.location.as_deref(), Some("/my/phone/verify"));
    let code = app.last_code_to("+818055556666").await;
    let p = b
        .submit("/my/phone/verify", "/my/phone/verify", &[("code", &code)])
        .await;
    assert_eq!(p.location.as_deref(), Some("/my?done=phone"));
    let (s, _) = app
        .api()
        .post(
            "/login",
            json!({"phone": "080-5555-6666", "password": "next-pass-1"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .api()
        .post(
            "/login",
            json!({"phone": "090-0000-0002", "password": "next-pass-1"}),
        )
        .await;
    assert_eq!(s, 401, "the old number no longer logs in");
    app.stop().await;
}

/// Behind a trusted reverse proxy the client's address comes from `X-Forwarded-For`; from
/// anyone else the header is ignored, so a client cannot pick the address that rate limits
/// and the audit log see.
#[tokio::test]
async fn client_addresses_come_from_trusted_proxies_only() {
    async fn login_ip(app: &TestApp) -> String {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/login", app.base))
            .header("x-forwarded-for", "1.1.1.1, 198.51.100.7")
            .json(
                &json!({"phone": "090-0000-0001", "password": tsunagu_server::demo::DEMO_PASSWORD}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        sqlx::query_scalar("SELECT ip FROM sessions ORDER BY created_at DESC LIMIT 1")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap()
    }
    let direct = TestApp::spawn().await;
    assert_eq!(login_ip(&direct).await, "127.0.0.1");
    direct.stop().await;
    let proxied = TestApp::spawn_with(Options {
        trusted_proxies: vec!["127.0.0.0/8".into()],
        ..Options::default()
    })
    .await;
    assert_eq!(login_ip(&proxied).await, "198.51.100.7");
    proxied.stop().await;
}

/// A member with no booking yet is shown what to do next on マイページ; once booked, not.
#[tokio::test]
async fn my_page_shows_the_next_step_until_something_is_booked() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    b.submit(
        "/login",
        "/login",
        &[
            ("phone", "090-0000-0002"),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ],
    )
    .await;
    let my = b.get("/my").await;
    assert!(my.body.contains("次にすること"), "{}", my.body);
    assert!(my.body.contains("href=\"/clinics\""));
    let token = patient_token(&app, "090-0000-0002").await;
    let me = app.api().with_token(&token);
    let (_, menus) = app.api().get("/facilities/sapporo-hikari/menus").await;
    let menu = menus[0]["id"].as_i64().unwrap();
    let (_, slots) = app
        .api()
        .get(&format!(
            "/facilities/sapporo-hikari/slots?menu={menu}&kind=return&from=2026-11-24&days=1"
        ))
        .await;
    let (_, who) = me.get("/me").await;
    let (s, v) = me
        .post(
            "/me/bookings",
            serde_json::json!({"facility": "sapporo-hikari", "patient_id": who["patients"][0]["id"],
                "menu_id": menu, "kind": "return", "doctor_id": slots[0]["doctor_id"],
                "starts_at": slots[0]["starts_at"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    assert!(!b.get("/my").await.body.contains("次にすること"));
    app.stop().await;
}
