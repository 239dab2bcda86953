//! The eligibility service's pages, as seed 004 walks through them.

use crate::helpers::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(c: &reqwest::Client, url: &str) -> Page {
    let r = c.get(url).send().await.unwrap();
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

async fn post(c: &reqwest::Client, url: &str, csrf: &str, fields: &[(&str, &str)]) -> Page {
    let mut f = vec![("csrf", csrf)];
    f.extend_from_slice(fields);
    let r = c.post(url).form(&f).send().await.unwrap();
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

async fn login(base: &str, institution: &str, login: &str) -> reqwest::Client {
    let c = client();
    let page = get(&c, &format!("{base}/login")).await;
    let p = post(
        &c,
        &format!("{base}/login"),
        &page.csrf(),
        &[
            ("institution", institution),
            ("login_id", login),
            ("password", tsunagu_server::demo::DEMO_PASSWORD),
        ],
    )
    .await;
    assert_eq!(p.location.as_deref(), Some("/menu"), "{}", p.body);
    c
}

#[tokio::test]
async fn the_seeds_outage_search_flow() {
    let app = TestApp::spawn().await;
    let base = app.eligibility.clone();
    let code = tsunagu_server::demo::ELIGIBILITY_CODES[0];
    // The operating body declares the outage; a patient comes; recovery; the period opens.
    let op = login(&base, "", "jisshi").await;
    let ops = get(&op, &format!("{base}/ops")).await;
    assert!(ops.body.contains("障害発生を登録する"));
    let p = post(
        &op,
        &format!("{base}/ops/outage"),
        &ops.csrf(),
        &[("down", "1")],
    )
    .await;
    assert_eq!(p.status, 303);
    let viewer = login(&base, code, "viewer").await;
    let svc = app.eligibility_access().await;
    let acct = svc
        .find_account(Some(code), "viewer")
        .await
        .unwrap()
        .unwrap();
    let visit = svc
        .record_outage_visit(&acct, "診察券 C-00101")
        .await
        .unwrap();
    let p = post(
        &op,
        &format!("{base}/ops/outage"),
        &ops.csrf(),
        &[("down", "0")],
    )
    .await;
    assert_eq!(p.status, 303);
    // Before the period the viewer has no emergency menu.
    assert!(
        !get(&viewer, &format!("{base}/menu"))
            .await
            .body
            .contains("緊急時医療情報・資格確認機能")
    );
    let now = tsunagu_kernel::Clock::now(&app.clock)
        .to_zoned(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap());
    let start = now
        .checked_sub(jiff::SignedDuration::from_hours(1))
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    let end = now
        .checked_add(jiff::SignedDuration::from_hours(48))
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M")
        .to_string();
    let p = post(
        &op,
        &format!("{base}/ops/periods"),
        &ops.csrf(),
        &[
            ("starts", &start),
            ("ends", &end),
            ("institutions", code),
            (
                "notice",
                "障害復旧に伴い緊急時医療情報・資格確認機能を開放しました。",
            ),
        ],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    // A general account sees the item and is refused with the seed's message.
    let general = login(&base, code, "general").await;
    assert!(
        get(&general, &format!("{base}/menu"))
            .await
            .body
            .contains("緊急時医療情報・資格確認機能")
    );
    let refused = get(&general, &format!("{base}/emergency")).await;
    assert!(
        refused.body.contains(
            "医療情報閲覧アカウント又は管理アカウントのユーザIDでログインし直してください"
        )
    );
    // The viewer searches 新橋太郎 / 昭和29年3月26日 / 男性 / 東京都 for the recorded visit.
    let menu = get(&viewer, &format!("{base}/menu")).await;
    assert!(menu.body.contains("障害復旧に伴い"), "the notice is shown");
    let form = get(&viewer, &format!("{base}/emergency")).await;
    assert!(
        form.body
            .contains("利用が制限された機能であるため、利用状況は実施機関で監視しています。")
    );
    let fields = |visit: &str| {
        vec![
            ("visit", visit.to_string()),
            ("name", "新橋太郎".to_string()),
            ("birth_calendar", "昭和".into()),
            ("birth_year", "29".into()),
            ("birth_month", "3".into()),
            ("birth_day", "26".into()),
            ("sex", "1".into()),
            ("address", "東京都".into()),
            ("confirmation_date", "2021/01/19".into()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let viewer = &viewer;
        let csrf = form.csrf();
        let base = base.clone();
        async move {
            let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post(viewer, &format!("{base}/emergency"), &csrf, &refs).await
        }
    };
    // Without the outage-time visit: refused by the method table.
    let p = send(fields("")).await;
    assert!(p.body.contains("復旧後に来院した患者は"), "{}", p.body);
    // A search answers 303; the list is on the page it leads to.
    let p = send(fields(&visit.to_string())).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/emergency"));
    let p = get(&viewer, &format!("{base}/emergency")).await;
    assert!(p.body.contains("検索結果： 2 件"), "{}", p.body);
    assert!(p.body.contains("東京都港区"));
    let id = p
        .body
        .split("/emergency/records/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    // Bad input names what to fix.
    let mut bad = fields(&visit.to_string());
    bad[1] = ("name", String::new());
    bad[3] = ("birth_year", "64".into());
    bad[4] = ("birth_month", "2".into());
    bad[5] = ("birth_day", "30".into());
    let p = send(bad).await;
    assert_eq!(p.status, 422, "{}", p.body);
    assert!(
        p.body.contains("どちらか一方は入力してください"),
        "{}",
        p.body
    );
    // The detail, the inquiry number, the XML.
    let d = get(&viewer, &format!("{base}/emergency/records/{id}")).await;
    assert!(d.body.contains("この資格は"), "{}", d.body);
    assert!(d.body.contains("昭和29年3月26日"));
    let p = post(
        &viewer,
        &format!("{base}/emergency/records/{id}/inquiry"),
        &d.csrf(),
        &[("inquiry_number", "Q-2021-001")],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let to = p.location.unwrap();
    assert!(to.ends_with("?done=registered"), "{to}");
    let p = get(&viewer, &format!("{base}{to}")).await;
    assert!(p.body.contains("照会番号を登録しました"));
    let xml = get(&viewer, &format!("{base}/emergency/records/{id}/download")).await;
    assert!(
        xml.body.contains("<ResultOfQualificationConfirmation>")
            || xml.body.contains("ResultOfQualificationConfirmation")
    );
    // 戻る keeps the search; 次の患者へ clears it.
    // (the last search typed was the one with 昭和64年2月30日)
    assert!(
        get(&viewer, &format!("{base}/emergency"))
            .await
            .body
            .contains("value=\"64\"")
    );
    let next = get(&viewer, &format!("{base}/emergency/next")).await;
    assert_eq!(next.status, 303);
    assert!(
        !get(&viewer, &format!("{base}/emergency"))
            .await
            .body
            .contains("value=\"64\"")
    );
    // The operating body sees every use.
    let log = get(&op, &format!("{base}/ops")).await;
    for action in [
        "検索",
        "資格情報の参照",
        "照会番号の登録・更新",
        "ダウンロード",
    ] {
        assert!(
            log.body.contains(&format!(">{action}<")),
            "{action} monitored"
        );
    }
    // Who, and the conditions as typed.
    assert!(log.body.contains(">viewer<"), "{}", log.body);
    assert!(log.body.contains("氏名: 新橋太郎"), "{}", log.body);
    // Narrowed to an institution or a day.
    let only = |q: &'static str| {
        let op = &op;
        let base = base.clone();
        async move { get(op, &format!("{base}/ops?{q}")).await }
    };
    assert!(
        only("institution=1310000011")
            .await
            .body
            .contains("氏名: 新橋太郎")
    );
    assert!(
        !only("institution=1110000022")
            .await
            .body
            .contains("氏名: 新橋太郎")
    );
    assert!(
        !only("date=2020-01-01")
            .await
            .body
            .contains("氏名: 新橋太郎")
    );
    let bad = only("date=2020-02-30").await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("YYYY-MM-DD"));
    app.stop().await;
}

/// A bearer token of an institution's demo account on the eligibility API.
async fn api_token(base: &str, institution: &str, login: &str) -> String {
    let v: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"institution": institution, "login_id": login, "password": tsunagu_server::demo::DEMO_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_eligibility_api_answers_methods_1_and_2_except_during_an_outage() {
    let app = TestApp::spawn().await;
    let base = app.eligibility.clone();
    let http = reqwest::Client::new();
    let code = tsunagu_server::demo::ELIGIBILITY_CODES[0];
    let r = http
        .post(format!("{base}/api/v1/qualifications/by-card"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let token = api_token(&base, code, "general").await;
    let call = |path: &str, body: serde_json::Value| {
        http.post(format!("{base}/api/v1/{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    // Method 2: the seed's 新橋 太郎 (06139000 / 9000 / 10001 / 01).
    let r = call("qualifications/by-card", serde_json::json!({"insurer_number": "06139000", "symbol": "9000", "number": "10001", "branch": "01", "confirmation_date": "2021-01-19"})).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["validity"], "1", "{v}");
    assert_eq!(v["records"].as_array().unwrap().len(), 1);
    // The same as the result XML.
    let xml = http
        .post(format!("{base}/api/v1/qualifications/by-card?format=xml"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"insurer_number": "06139000", "symbol": "9000", "number": "10001", "branch": "01"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        xml.contains("<QualificationValidity>1</QualificationValidity>"),
        "{xml}"
    );
    // A wrong check digit names the field; an unknown card is "no qualification" (4).
    let r = call(
        "qualifications/by-card",
        serde_json::json!({"insurer_number": "06139001", "number": "1"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["fields"][0]["field"], "insurer_number");
    let v: serde_json::Value = call(
        "qualifications/by-card",
        serde_json::json!({"insurer_number": "06139000", "number": "99999"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["validity"], "4");
    // Method 1 by the demo card.
    let v: serde_json::Value = call(
        "qualifications/by-my-number-card",
        serde_json::json!({"card": tsunagu_server::demo::DEMO_MYNA_CARD}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(v["records"][0]["name"], "新橋　太郎");
    // During an outage nothing answers (F8).
    let svc = app.eligibility_access().await;
    let op = svc.find_account(None, "jisshi").await.unwrap().unwrap();
    svc.set_outage(&op, true).await.unwrap();
    let r = call(
        "qualifications/by-my-number-card",
        serde_json::json!({"card": tsunagu_server::demo::DEMO_MYNA_CARD}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // The institution sees the state; it records an outage-time visit.
    let status = |token: String| {
        let http = http.clone();
        let url = format!("{base}/api/v1/status");
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(status(token.clone()).await["mode"], "outage");
    let r = call("outage-visits", serde_json::json!({"label": "booking-1"}))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let visit = r.json::<serde_json::Value>().await.unwrap()["id"].clone();
    // After recovery, in a period: the four-facts search says what to fix, and refuses a
    // general account with the seed's message (F2); the reason is machine-readable.
    svc.set_outage(&op, false).await.unwrap();
    let now = tsunagu_kernel::Clock::now_ms(&app.clock);
    svc.open_period(
        &op,
        now - 1,
        now + 3_600_000,
        "復旧のお知らせ",
        &[code.to_string()],
    )
    .await
    .unwrap();
    let v = status(token.clone()).await;
    assert_eq!(v["mode"], "recovered");
    assert_eq!(v["notices"][0]["notice"], "復旧のお知らせ");
    let r = call(
        "qualifications/by-four-facts",
        serde_json::json!({"outage_visit": visit, "name": "新橋太郎", "birth_date": "1954-02-30", "sex": "1", "address": "東京都"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["fields"][0]["field"], "birth_date", "{v}");
    let facts = serde_json::json!({"outage_visit": visit, "name": "新橋太郎", "birth_date": "1954-03-26", "sex": "1", "address": "東京都"});
    let r = call("qualifications/by-four-facts", facts.clone())
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["reason"], "error.eligibility.general_account");
    let viewer = api_token(&base, code, "viewer").await;
    let v: serde_json::Value = http
        .post(format!("{base}/api/v1/qualifications/by-four-facts"))
        .bearer_auth(&viewer)
        .json(&facts)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["outcome"], "list", "{v}");
    assert_eq!(v["count"], 2);
    assert_eq!(v["candidates"][0]["row"]["birth_date"], "昭和29年3月26日");
    // The router's own refusals answer in the same shape and language.
    let r = http
        .post(format!("{base}/api/v1/qualifications/by-four-facts/abc"))
        .bearer_auth(&viewer)
        .json(&facts)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["reason"], "error.request.bad_path", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("URL"));
    let r = http
        .delete(format!("{}/api/v1/me", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["reason"], "error.request.method", "{v}");
    let doc: serde_json::Value = reqwest::get(format!("{base}/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"].get("/api/v1/qualifications/by-card").is_some());
    assert!(
        doc["paths"]
            .get("/api/v1/qualifications/by-four-facts")
            .is_some()
    );
    app.stop().await;
}

/// The operating body registers an institution, issues its accounts, resets a password and
/// imports records from a file; institutions' accounts cannot.
#[tokio::test]
async fn the_operating_body_manages_institutions_accounts_and_imports() {
    let app = TestApp::spawn().await;
    let base = app.eligibility.clone();
    let op = login(&base, "", "jisshi").await;
    let page = get(&op, &format!("{base}/ops/institutions")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("1310000011"), "{}", page.body);
    assert!(page.body.contains("viewer（医療情報閲覧"), "{}", page.body);
    let csrf = page.csrf();
    let url = |p: &str| format!("{base}{p}");
    // Bad input names what to fix and creates nothing.
    let p = post(
        &op,
        &url("/ops/institutions"),
        &csrf,
        &[("code", "123"), ("name", "新しい診療所")],
    )
    .await;
    assert_eq!(p.status, 422);
    assert!(
        p.body.contains("医療機関コードは10桁の数字です"),
        "{}",
        p.body
    );
    let p = post(
        &op,
        &url("/ops/institutions"),
        &csrf,
        &[("code", "1390000099"), ("name", "つなぐ新町診療所")],
    )
    .await;
    // Each success answers 303 to the page, which says what was done.
    assert_eq!(p.status, 303, "{}", p.body);
    let p = get(&op, &url(p.location.as_deref().unwrap())).await;
    assert!(
        p.body
            .contains("1390000099（つなぐ新町診療所）を登録しました"),
        "{}",
        p.body
    );
    let account = |login: &'static str, password: &'static str| {
        let op = &op;
        let csrf = csrf.clone();
        let u = url("/ops/accounts");
        async move {
            post(
                op,
                &u,
                &csrf,
                &[
                    ("institution", "1390000099"),
                    ("role", "viewer"),
                    ("login_id", login),
                    ("display_name", "閲覧 花子"),
                    ("password", password),
                ],
            )
            .await
        }
    };
    let p = account("x", "short").await;
    assert_eq!(p.status, 422);
    assert!(p.body.contains("ログインIDは3〜40文字"), "{}", p.body);
    let p = account("hanako", "tsunagu-first-2026").await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = get(&op, &url(p.location.as_deref().unwrap())).await;
    assert!(
        p.body
            .contains("医療情報閲覧アカウント「hanako」を発行しました"),
        "{}",
        p.body
    );
    let p = account("hanako", "tsunagu-first-2026").await;
    assert!(p.body.contains("すでに使われています"), "{}", p.body);
    // The new account logs in to the API; a new password replaces the old one.
    let login_api = |password: &'static str| {
        let u = url("/api/v1/login");
        async move {
            reqwest::Client::new()
                .post(u)
                .json(&serde_json::json!({"institution": "1390000099", "login_id": "hanako", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(login_api("tsunagu-first-2026").await, 200);
    let svc = app.eligibility_access().await;
    let hanako = svc
        .find_account(Some("1390000099"), "hanako")
        .await
        .unwrap()
        .unwrap();
    let p = post(
        &op,
        &url(&format!("/ops/accounts/{}/password", hanako.id)),
        &csrf,
        &[("password", "tsunagu-second-2026")],
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = get(&op, &url(p.location.as_deref().unwrap())).await;
    assert!(p.body.contains("パスワードを再設定しました"));
    assert_eq!(login_api("tsunagu-first-2026").await, 401);
    assert_eq!(login_api("tsunagu-second-2026").await, 200);
    // Import a CSV: three records, then the same file again adds nothing.
    let records: Vec<_> = tsunagu_eligibility_domain::generate::Generator::new(99)
        .take(3)
        .map(|(_, q)| q)
        .collect();
    let mut csv = Vec::new();
    tsunagu_eligibility_domain::csv_io::export(&mut csv, &records).unwrap();
    let upload = |name: &'static str, bytes: Vec<u8>| {
        let op = &op;
        let u = url("/ops/import");
        let csrf = csrf.clone();
        async move {
            let r = op
                .post(u)
                .multipart(reqwest::multipart::Form::new().text("csrf", csrf).part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes).file_name(name),
                ))
                .send()
                .await
                .unwrap();
            // A refusal is shown as it comes (422); an import answers 303 to its result.
            let status = r.status().as_u16();
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(url);
            match location {
                Some(to) => (status, get(op, &to).await.body),
                None => (status, r.text().await.unwrap()),
            }
        }
    };
    let (status, body) = upload("records.csv", csv.clone()).await;
    assert_eq!(status, 303, "{body}");
    assert!(
        body.contains("3 件の資格情報を取り込みました（登録済みのため省いたもの 0 件）"),
        "{body}"
    );
    let (_, body) = upload("records.csv", csv.clone()).await;
    assert!(
        body.contains("0 件の資格情報を取り込みました（登録済みのため省いたもの 3 件）"),
        "{body}"
    );
    // A file with a bad row is refused whole, naming the row.
    let text = String::from_utf8(csv).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // The second column is 保険者番号: letters are never one.
    let mut cells: Vec<&str> = lines[2].splitn(3, ',').collect();
    cells[1] = "06A39001";
    let broken = cells.join(",");
    lines[2] = &broken;
    let (status, body) = upload("broken.csv", lines.join("\n").into_bytes()).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("取り込みませんでした"), "{body}");
    assert!(body.contains("行 3"), "{body}");
    // An institution's admin has no access to any of it.
    let admin = login(&base, "1310000011", "admin").await;
    let p = get(&admin, &url("/ops/institutions")).await;
    assert_eq!(p.status, 403);
    let page = get(&admin, &url("/menu")).await;
    let p = post(
        &admin,
        &url("/ops/institutions"),
        &page.csrf(),
        &[("code", "1390000098"), ("name", "x")],
    )
    .await;
    assert_eq!(p.status, 403);
    app.stop().await;
}

/// `tsunagu eligibility serve`: the service runs alone on its own port and database, and a
/// platform started without one of its own (`eligibility.listen` empty) reaches it through
/// `eligibility.api_url`, over HTTP, as it would the real service.
#[tokio::test]
async fn the_platform_uses_an_eligibility_service_running_on_its_own() {
    let db = crate::helpers::TestDb::new().await;
    let settings = tsunagu_config::Settings {
        data_dir: db.data_dir.clone(),
        demo: true,
        eligibility: tsunagu_config::EligibilitySettings {
            database_url: db.elig_url.clone(),
            ..Default::default()
        },
        max_connections: 4,
        ..tsunagu_config::Settings::default()
    };
    let clock: std::sync::Arc<dyn tsunagu_kernel::Clock> = std::sync::Arc::new(
        tsunagu_kernel::ManualClock::new(crate::helpers::start_time()),
    );
    let service = tsunagu_server::Eligibility::build(&settings, "127.0.0.1:0", clock)
        .await
        .unwrap();
    let url = service.base_url();
    let (stop, rx) = tokio::sync::watch::channel(false);
    let served = tokio::spawn(service.run_until_stopped(rx));
    let app = crate::helpers::TestApp::spawn_with(crate::helpers::Options {
        eligibility_api_url: Some(url.clone()),
        ..Default::default()
    })
    .await;
    assert!(
        app.eligibility.is_empty(),
        "no service was started beside the platform"
    );
    // An admin links the facility's account: the platform logs in to the separate service
    // before saving (a wrong password is found out there).
    let admin = crate::setup::staff(&app, "admin").await;
    let csrf = admin.get("/staff/settings").await.csrf();
    let wrong = admin
        .post(
            "/staff/settings/eligibility",
            &csrf,
            &[
                ("institution", "0110000033"),
                ("login_id", "general"),
                ("password", "wrong-password-1"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("ログインできませんでした"),
        "{}",
        wrong.body
    );
    let ok = admin
        .post(
            "/staff/settings/eligibility",
            &csrf,
            &[
                ("institution", "0110000033"),
                ("login_id", "general"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    // The service's own status answers on its own port.
    let status = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(status.status(), 200);
    app.stop().await;
    let _ = stop.send(true);
    served.await.unwrap().unwrap();
}
