//! The eligibility front's handlers, called through [`crate::eligibility_app`] without a
//! socket, on a real SQLite database in a temporary file: the first-wave defects of the
//! outage-time screens (seed 004) and the API beside them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use tower::ServiceExt;
use tsunagu_accounts::sessions::Origin;
use tsunagu_accounts::{Realm, SessionStore, Stage};
use tsunagu_eligibility::access::{AccessStore, Account, Role};
use tsunagu_eligibility::{EligibilityStore, OutageSearch};
use tsunagu_eligibility_domain::generate::{crowded_examples, seed_examples};
use tsunagu_eligibility_domain::search::TOO_MANY_MESSAGE;
use tsunagu_kernel::ManualClock;

use crate::{EligState, eligibility_app};

const CODE: &str = "1310000011";
const CLINIC: &str = "つなぐ中央クリニック";

/// A signed-in browser (or API client): the session's cookie token and CSRF token.
struct Client {
    token: String,
    csrf: String,
}

struct Harness {
    app: Router,
    st: EligState,
    operator: Account,
    viewer: Account,
    path: std::path::PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.path.display()));
        }
    }
}

struct Answer {
    status: StatusCode,
    location: Option<String>,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

fn encode(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Harness {
    /// The seed's records and the demo's crowded case; an institution with a viewer; the
    /// operating body. The system is normal and no period is open.
    async fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("tsunagu-elig-web-{}.db", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let store = EligibilityStore::open(&url, 2).await.unwrap();
        let clock: Arc<dyn tsunagu_kernel::Clock> =
            Arc::new(ManualClock::new("2026-11-20T01:00:00Z".parse().unwrap()));
        let access = AccessStore::new(store.db().clone(), clock.clone());
        store
            .import(seed_examples().into_iter().chain(crowded_examples()))
            .await
            .unwrap();
        access.create_institution(CODE, CLINIC).await.unwrap();
        // No one logs in with a password here: sessions are made directly.
        let op_id = access
            .create_account(None, "jisshi", "実施機関 担当", Role::Operator, "x")
            .await
            .unwrap();
        let viewer_id = access
            .create_account(Some(CODE), "viewer", "閲覧者1", Role::Viewer, "x")
            .await
            .unwrap();
        let sealer =
            tsunagu_kernel::seal::Sealer::from_key(&tsunagu_kernel::seal::new_key()).unwrap();
        let sessions = SessionStore::new(store.db().clone(), clock.clone(), sealer);
        let st = EligState {
            search: OutageSearch {
                store,
                access: access.clone(),
            },
            sessions,
            clock,
            secure: false,
        };
        Self {
            app: eligibility_app(st.clone()),
            operator: access.account(op_id).await.unwrap(),
            viewer: access.account(viewer_id).await.unwrap(),
            st,
            path,
        }
    }

    async fn sign_in(&self, a: &Account) -> Client {
        let origin = Origin {
            ip: "127.0.0.1".into(),
            user_agent: "test".into(),
        };
        let (token, s) = self
            .st
            .sessions
            .create(
                Realm::Staff,
                Some(a.id),
                None,
                Stage::Full,
                &origin,
                serde_json::Map::new(),
            )
            .await
            .unwrap();
        Client {
            token,
            csrf: s.csrf,
        }
    }

    /// Down, a visit recorded by `record`, recovered, a period open for the institution.
    async fn outage_then_period<F, Fut>(&self, record: F) -> i64
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = i64>,
    {
        let a = &self.st.search.access;
        a.set_outage(&self.operator, true).await.unwrap();
        let visit = record().await;
        a.set_outage(&self.operator, false).await.unwrap();
        let now = self.st.clock.now_ms();
        a.open_period(
            &self.operator,
            now - 1,
            now + 3_600_000,
            "復旧のお知らせ",
            &[CODE.to_string()],
        )
        .await
        .unwrap();
        visit
    }

    async fn call(&self, req: Request<Body>) -> Answer {
        let r = self.app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let header_of = |h| {
            r.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let location = header_of(header::LOCATION);
        let content_type = header_of(header::CONTENT_TYPE).unwrap_or_default();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        Answer {
            status,
            location,
            content_type,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn get(&self, c: &Client, uri: &str) -> Answer {
        self.call(
            Request::get(uri)
                .header(header::COOKIE, format!("tsunagu_elig={}", c.token))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn post(&self, c: &Client, uri: &str, fields: &[(&str, &str)]) -> Answer {
        let mut all = vec![("csrf", c.csrf.as_str())];
        all.extend_from_slice(fields);
        self.call(
            Request::post(uri)
                .header(header::COOKIE, format!("tsunagu_elig={}", c.token))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(encode(&all)))
                .unwrap(),
        )
        .await
    }

    async fn api(
        &self,
        c: &Client,
        method: Method,
        uri: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", c.token));
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.call(req.body(body).unwrap()).await
    }

    /// The seed's search (新橋太郎, 昭和29年3月26日, 男性, 東京都) for `visit`, through the page.
    async fn search_shimbashi(&self, c: &Client, visit: i64) -> Answer {
        let visit = visit.to_string();
        self.post(
            c,
            "/emergency",
            &[
                ("visit", &visit),
                ("name", "新橋太郎"),
                ("birth_calendar", "昭和"),
                ("birth_year", "29"),
                ("birth_month", "3"),
                ("birth_day", "26"),
                ("sex", "1"),
                ("address", "東京都"),
                ("confirmation_date", "2021/01/19"),
            ],
        )
        .await
    }
}

/// The first record link of a page.
fn first_record(body: &str) -> i64 {
    body.split("/emergency/records/")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_refused_period_form_keeps_what_was_typed_and_names_each_field() {
    let h = Harness::new().await;
    let op = h.sign_in(&h.operator).await;
    // The end is missing: everything else stays as typed, the end is named (422).
    let p = h
        .post(
            &op,
            "/ops/periods",
            &[
                ("starts", "2026-11-20T09:00"),
                ("ends", ""),
                ("institutions", CODE),
                ("notice", "障害復旧に伴い機能を開放します。"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains(r#"value="2026-11-20T09:00""#), "{}", p.body);
    assert!(
        p.body.contains(&format!(">{CODE}</textarea>")),
        "{}",
        p.body
    );
    assert!(
        p.body
            .contains(">障害復旧に伴い機能を開放します。</textarea>")
    );
    assert!(p.body.contains(r#"id="ends-error""#), "{}", p.body);
    assert!(
        p.body
            .contains("利用開始日時・利用終了日時を入力してください")
    );
    assert!(!p.body.contains(r#"id="starts-error""#));
    // The end before the start, no notice: the store's rules, under their fields.
    let p = h
        .post(
            &op,
            "/ops/periods",
            &[
                ("starts", "2026-11-20T09:00"),
                ("ends", "2026-11-20T08:00"),
                ("institutions", CODE),
                ("notice", " "),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains(r#"id="ends-error""#), "{}", p.body);
    assert!(p.body.contains("終了時刻は開始時刻より後にしてください"));
    assert!(p.body.contains(r#"id="notice-error""#));
    assert!(p.body.contains(r#"value="2026-11-20T08:00""#));
    // Accepted: 303 to the page, which says so.
    let p = h
        .post(
            &op,
            "/ops/periods",
            &[
                ("starts", "2026-11-20T09:00"),
                ("ends", "2026-11-21T09:00"),
                ("institutions", CODE),
                ("notice", "障害復旧に伴い機能を開放します。"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/ops?done=period"));
    let page = h.get(&op, "/ops?done=period").await;
    assert!(page.body.contains("利用期間を設定しました"));
}

#[tokio::test]
async fn a_refused_institution_form_keeps_what_was_typed_and_names_each_field() {
    let h = Harness::new().await;
    let op = h.sign_in(&h.operator).await;
    // A short code: the name stays as typed, the code too, and the code is named (422).
    let p = h
        .post(
            &op,
            "/ops/institutions",
            &[("code", "13100"), ("name", "つなぐ南クリニック")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains(r#"value="13100""#), "{}", p.body);
    assert!(
        p.body.contains(r#"value="つなぐ南クリニック""#),
        "{}",
        p.body
    );
    assert!(p.body.contains(r#"id="code-error""#), "{}", p.body);
    assert!(p.body.contains("医療機関コードは10桁の数字です。"));
    assert!(p.body.contains("医療機関の登録に誤りがあります。"));
    assert!(!p.body.contains(r#"id="iname-error""#));
    // Both wrong: one answer names both.
    let p = h
        .post(&op, "/ops/institutions", &[("code", "abc"), ("name", " ")])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains(r#"id="code-error""#), "{}", p.body);
    assert!(p.body.contains(r#"id="iname-error""#), "{}", p.body);
    assert!(p.body.contains(r#"value="abc""#));
    // A code already registered: the store's refusal, under the code.
    let p = h
        .post(
            &op,
            "/ops/institutions",
            &[("code", CODE), ("name", "つなぐ南クリニック")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains(r#"id="code-error""#), "{}", p.body);
    assert!(p.body.contains("この医療機関コードは登録済みです。"));
    assert!(p.body.contains(&format!(r#"value="{CODE}""#)));
    assert!(p.body.contains(r#"value="つなぐ南クリニック""#));
    // Accepted: 303 to the page, which says so.
    let p = h
        .post(
            &op,
            "/ops/institutions",
            &[("code", "1310000029"), ("name", "つなぐ南クリニック")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let to = p.location.unwrap();
    assert_eq!(to, "/ops/institutions?done=institution&code=1310000029");
    let page = h.get(&op, &to).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("医療機関 1310000029（つなぐ南クリニック）を登録しました。")
    );
}

#[tokio::test]
async fn a_refused_account_form_keeps_what_was_typed_but_never_the_password() {
    let h = Harness::new().await;
    let op = h.sign_in(&h.operator).await;
    // A login ID too short and a password too short: both named, the rest kept (422).
    let p = h
        .post(
            &op,
            "/ops/accounts",
            &[
                ("institution", CODE),
                ("role", "admin"),
                ("login_id", "ab"),
                ("display_name", "管理 花子"),
                ("password", "Zq9"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("アカウントの発行に誤りがあります。"));
    assert!(p.body.contains(r#"value="ab""#), "{}", p.body);
    assert!(p.body.contains(r#"value="管理 花子""#), "{}", p.body);
    assert!(
        p.body
            .contains(&format!(r#"<option value="{CODE}" selected>"#)),
        "{}",
        p.body
    );
    assert!(
        p.body.contains(r#"<option value="admin" selected>"#),
        "{}",
        p.body
    );
    assert!(p.body.contains(r#"id="login_id-error""#), "{}", p.body);
    assert!(p.body.contains("ログインIDは3〜40文字"));
    assert!(p.body.contains(r#"id="password-error""#), "{}", p.body);
    assert!(!p.body.contains(r#"id="display_name-error""#));
    assert!(!p.body.contains("Zq9"), "the password came back");
    // A login ID the institution already has: the store's refusal, under the login ID.
    let p = h
        .post(
            &op,
            "/ops/accounts",
            &[
                ("institution", CODE),
                ("role", "viewer"),
                ("login_id", "viewer"),
                ("display_name", "閲覧者2"),
                ("password", "kari-pass-2026"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains(r#"id="login_id-error""#), "{}", p.body);
    assert!(p.body.contains("このログインIDはすでに使われています。"));
    assert!(p.body.contains(r#"value="閲覧者2""#));
    assert!(p.body.contains(r#"<option value="viewer" selected>"#));
    assert!(!p.body.contains("kari-pass-2026"), "the password came back");
    // Accepted: 303 to the page, which names the account.
    let p = h
        .post(
            &op,
            "/ops/accounts",
            &[
                ("institution", CODE),
                ("role", "admin"),
                ("login_id", "kanri"),
                ("display_name", "管理 花子"),
                ("password", "kari-pass-2026"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let to = p.location.unwrap();
    assert!(to.starts_with("/ops/institutions?done=account&id="), "{to}");
    let page = h.get(&op, &to).await;
    assert!(
        page.body
            .contains(&format!("{CODE} の管理アカウント「kanri」を発行しました。")),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn a_refused_password_reset_names_the_field_of_that_account() {
    let h = Harness::new().await;
    let op = h.sign_in(&h.operator).await;
    let uri = format!("/ops/accounts/{}/password", h.viewer.id);
    let field = format!("pw-{}", h.viewer.id);
    // Too short: 422, the message under that account's field, its row open.
    let p = h.post(&op, &uri, &[("password", "Zq9")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains("パスワードの再設定に誤りがあります。"));
    assert!(
        p.body.contains(&format!(r#"id="{field}-error""#)),
        "{}",
        p.body
    );
    assert!(
        p.body
            .contains(&format!(r#"aria-describedby="{field}-error""#))
    );
    assert!(p.body.contains("<details open>"), "{}", p.body);
    assert!(!p.body.contains("Zq9"), "the password came back");
    // Accepted: 303 to the page, which says so.
    let p = h.post(&op, &uri, &[("password", "atarashii-2026")]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        p.location.as_deref(),
        Some("/ops/institutions?done=password")
    );
    let page = h.get(&op, "/ops/institutions?done=password").await;
    assert!(page.body.contains("パスワードを再設定しました"));
    assert!(!page.body.contains("<details open>"));
}

#[tokio::test]
async fn outage_visits_are_listed_by_date_and_the_name_noted() {
    let h = Harness::new().await;
    let api = h.sign_in(&h.viewer).await;
    let visit = h
        .outage_then_period(|| async {
            let r = h
                .api(
                    &api,
                    Method::POST,
                    "/api/v1/outage-visits",
                    Some(serde_json::json!({"label": "booking-8", "name": "新橋 太郎"})),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.json()["id"].as_i64().unwrap()
        })
        .await;
    let page = h.sign_in(&h.viewer).await;
    let form = h.get(&page, "/emergency").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    // 2026-11-20T01:00Z is 10:00 the same day in Japan.
    assert!(
        form.body.contains(&format!(
            r#"<option value="{visit}" >2026/11/20 新橋 太郎</option>"#
        )),
        "{}",
        form.body
    );
    assert!(!form.body.contains("booking-8"), "{}", form.body);
}

#[tokio::test]
async fn a_visit_without_a_name_is_listed_by_its_label_and_a_bad_name_is_refused() {
    let h = Harness::new().await;
    let page = h.sign_in(&h.viewer).await;
    h.outage_then_period(|| async {
        // A name longer than 60 characters is refused with the form as typed (422).
        let long = "あ".repeat(61);
        let p = h
            .post(
                &page,
                "/outage-visits",
                &[("label", "診察券 1001"), ("name", &long)],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
        assert!(p.body.contains(r#"value="診察券 1001""#), "{}", p.body);
        // Recorded: 303 to the menu, which names the visit.
        let p = h
            .post(
                &page,
                "/outage-visits",
                &[("label", "診察券 1001"), ("name", "")],
            )
            .await;
        assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
        let to = p.location.unwrap();
        assert!(to.starts_with("/menu?recorded="), "{to}");
        let menu = h.get(&page, &to).await;
        assert!(
            menu.body.contains("障害時来院を記録しました（記録番号"),
            "{}",
            menu.body
        );
        assert!(menu.body.contains("2026/11/20 診察券 1001"));
        to.trim_start_matches("/menu?recorded=").parse().unwrap()
    })
    .await;
    let form = h.get(&page, "/emergency").await;
    assert!(
        form.body.contains(">2026/11/20 診察券 1001</option>"),
        "{}",
        form.body
    );
}

#[tokio::test]
async fn searches_and_inquiry_numbers_redirect_to_pages_that_show_the_result() {
    let h = Harness::new().await;
    let page = h.sign_in(&h.viewer).await;
    let visit = h
        .outage_then_period(|| async {
            h.st.search
                .access
                .record_outage_visit(&h.viewer, "診察券 C-00101")
                .await
                .unwrap()
        })
        .await;
    // The search answers 303; the list is on the GET (a reload posts nothing).
    let p = h.search_shimbashi(&page, visit).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/emergency"));
    let list = h.get(&page, "/emergency").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("検索結果： 2 件"), "{}", list.body);
    assert!(list.body.contains("複数の資格該当者が見つかりました"));
    let id = first_record(&list.body);
    // Registering the inquiry number: 303 to the detail with the completion dialog.
    let url = format!("/emergency/records/{id}/inquiry");
    let p = h
        .post(&page, &url, &[("inquiry_number", "Q-2021-001")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let to = p.location.unwrap();
    assert_eq!(to, format!("/emergency/records/{id}?done=registered"));
    let done = h.get(&page, &to).await;
    assert!(done.body.contains("照会番号登録"), "{}", done.body);
    assert!(done.body.contains("照会番号を登録しました。"));
    assert!(
        done.body
            .contains(&format!(r#"href="/emergency/records/{id}">OK</a>"#))
    );
    // Updating says so.
    let p = h
        .post(&page, &url, &[("inquiry_number", "Q-2021-002")])
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some(format!("/emergency/records/{id}?done=updated").as_str())
    );
    let done = h.get(&page, p.location.as_deref().unwrap()).await;
    assert!(done.body.contains("照会番号を更新しました。"));
    // A bad number: the input again, with what was typed and the message (422).
    let p = h.post(&page, &url, &[("inquiry_number", "番号!")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(p.body.contains(r#"value="番号!""#), "{}", p.body);
    assert!(p.body.contains("照会番号は20文字以内"));
    // The operating body's POSTs redirect too.
    let op = h.sign_in(&h.operator).await;
    let p = h.post(&op, "/ops/outage", &[("down", "1")]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(p.location.as_deref(), Some("/ops?done=outage"));
    assert!(
        h.get(&op, "/ops?done=outage")
            .await
            .body
            .contains("障害発生を登録しました")
    );
    let p = h
        .post(
            &op,
            "/ops/institutions",
            &[("code", "1390000099"), ("name", "つなぐ新町診療所")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let shown = h.get(&op, p.location.as_deref().unwrap()).await;
    assert!(
        shown
            .body
            .contains("医療機関 1390000099（つなぐ新町診療所）を登録しました。"),
        "{}",
        shown.body
    );
    // A forged flag names nothing that is not there.
    let forged = h
        .get(&op, "/ops/institutions?done=institution&code=9999999999")
        .await;
    assert!(!forged.body.contains("を登録しました"));
}

#[tokio::test]
async fn the_screens_follow_seed_004() {
    let h = Harness::new().await;
    let page = h.sign_in(&h.viewer).await;
    let visit = h
        .outage_then_period(|| async {
            h.st.search
                .access
                .record_outage_visit(&h.viewer, "診察券 C-00101")
                .await
                .unwrap()
        })
        .await;
    // The header: the institution's name beside the user.
    let form = h.get(&page, "/emergency").await;
    assert!(
        form.body.contains(&format!(
            r#"<span class="institution">{CLINIC}</span><span class="user">閲覧者1</span>"#
        )),
        "{}",
        form.body
    );
    // クリア beside 検索 (no script: it posts), 戻る, and a date input with its calendar.
    assert!(form.body.contains(r#"formaction="/emergency/clear""#));
    assert!(form.body.contains(">クリア</button>"));
    assert!(form.body.contains(">戻る</a>"));
    assert!(
        form.body
            .contains(r#"name="confirmation_date" type="date""#)
    );
    h.search_shimbashi(&page, visit).await;
    let id = first_record(&h.get(&page, "/emergency").await.body);
    // The detail: the number as text with 《編集》; the seed's labels; a grid of pairs.
    let d = h.get(&page, &format!("/emergency/records/{id}")).await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    assert!(!d.body.contains(r#"name="inquiry_number""#), "{}", d.body);
    assert!(d.body.contains(&format!(
        r#"href="/emergency/records/{id}?edit=1">編集</a>"#
    )));
    assert!(d.body.contains("<dt>氏名(券面)</dt>"));
    assert!(d.body.contains("<dt>性別(表面)</dt>"));
    assert!(d.body.contains(r#"<dl class="elig-grid">"#));
    assert!(
        d.body
            .contains(r#"<span class="ruby">シンバシ　タロウ</span>新橋　太郎"#)
    );
    // 《編集》 shows the input with 《登録》; once registered, the text and then 《更新》.
    let e = h
        .get(&page, &format!("/emergency/records/{id}?edit=1"))
        .await;
    assert!(e.body.contains(r#"name="inquiry_number""#));
    assert!(e.body.contains(">登録</button>"));
    h.post(
        &page,
        &format!("/emergency/records/{id}/inquiry"),
        &[("inquiry_number", "１２３４５６７８９０")],
    )
    .await;
    let d = h.get(&page, &format!("/emergency/records/{id}")).await;
    assert!(
        d.body
            .contains(r#"<span id="inquiry-number">1234567890</span>"#),
        "{}",
        d.body
    );
    let e = h
        .get(&page, &format!("/emergency/records/{id}?edit=1"))
        .await;
    assert!(e.body.contains(">更新</button>"));
    // クリア empties the conditions and the list.
    let p = h.post(&page, "/emergency/clear", &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let cleared = h.get(&page, "/emergency").await;
    assert!(!cleared.body.contains("新橋太郎"));
    assert!(!cleared.body.contains("検索結果"));
    // After 次の患者へ an old record must be searched again (not "came after recovery").
    h.search_shimbashi(&page, visit).await;
    let next = h.get(&page, "/emergency/next").await;
    assert_eq!(next.status, StatusCode::SEE_OTHER);
    let old = h.get(&page, &format!("/emergency/records/{id}")).await;
    assert_eq!(old.status, StatusCode::FORBIDDEN, "{}", old.body);
    assert!(
        old.body.contains("もう一度検索してください"),
        "{}",
        old.body
    );
    assert!(!old.body.contains("復旧後に来院した患者は"));
}

#[tokio::test]
async fn the_api_registers_inquiry_numbers_and_gives_the_xml_of_listed_records_only() {
    let h = Harness::new().await;
    let api = h.sign_in(&h.viewer).await;
    let visit = h
        .outage_then_period(|| async {
            h.st.search
                .access
                .record_outage_visit(&h.viewer, "booking-8")
                .await
                .unwrap()
        })
        .await;
    let found = h
        .api(
            &api,
            Method::POST,
            "/api/v1/qualifications/by-four-facts",
            Some(serde_json::json!({"outage_visit": visit, "name": "新橋太郎", "birth_date": "1954-03-26", "sex": "1", "address": "東京都"})),
        )
        .await
        .json();
    assert_eq!(found["outcome"], "list", "{found}");
    let id = found["candidates"][0]["id"].as_i64().unwrap();
    let unlisted =
        h.st.search
            .store
            .four_facts_full_scan(
                &tsunagu_eligibility_domain::search::FourFactsInput {
                    name: "資格三郎".into(),
                    birth_calendar: "平成".into(),
                    birth_year: "2".into(),
                    birth_month: "1".into(),
                    birth_day: "3".into(),
                    sex: "1".into(),
                    insurer_name: "*".into(),
                    ..Default::default()
                }
                .validate(jiff::civil::date(2026, 11, 20))
                .unwrap(),
            )
            .await
            .unwrap()[0]
            .id;
    let put = |id: i64, number: &'static str| {
        let (h, api) = (&h, &api);
        let url = format!("/api/v1/qualifications/by-four-facts/{id}/inquiry-number");
        async move {
            h.api(
                api,
                Method::PUT,
                &url,
                Some(serde_json::json!({ "inquiry_number": number })),
            )
            .await
        }
    };
    let r = put(id, " Ｑ-２０２１-００１ ").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["inquiry_number"], "Q-2021-001");
    assert_eq!(r.json()["id"], id);
    let r = put(id, "番号").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        r.json()["error"]["fields"][0]["field"],
        "inquiry_number",
        "{}",
        r.body
    );
    let r = put(unlisted, "Q-1").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["reason"], "error.eligibility.not_listed");
    // The page shows what the API registered.
    assert_eq!(
        h.st.search
            .access
            .inquiry_number(CODE, id)
            .await
            .unwrap()
            .as_deref(),
        Some("Q-2021-001")
    );
    let xml = h
        .api(
            &api,
            Method::GET,
            &format!("/api/v1/qualifications/by-four-facts/{id}/xml"),
            None,
        )
        .await;
    assert_eq!(xml.status, StatusCode::OK);
    assert!(xml.content_type.starts_with("application/xml"));
    assert!(
        xml.body.contains("ResultOfQualificationConfirmation"),
        "{}",
        xml.body
    );
    let r = h
        .api(
            &api,
            Method::GET,
            &format!("/api/v1/qualifications/by-four-facts/{unlisted}/xml"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Monitored like the pages.
    let log =
        h.st.search
            .access
            .monitoring(&h.operator, &Default::default(), 50)
            .await
            .unwrap();
    for action in ["inquiry_number", "download"] {
        assert!(
            log.iter()
                .any(|m| m.action == action && m.qualification_id == Some(id)),
            "{action}"
        );
    }
    // Documented, with the shared error body.
    let doc = h
        .call(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .json();
    let put_doc = &doc["paths"]["/api/v1/qualifications/by-four-facts/{id}/inquiry-number"]["put"];
    assert_eq!(
        put_doc["responses"]["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert!(put_doc["responses"].get("200").is_some());
    let get_doc = &doc["paths"]["/api/v1/qualifications/by-four-facts/{id}/xml"]["get"];
    assert!(
        get_doc["responses"]["200"]["content"]
            .get("application/xml")
            .is_some()
    );
    assert_eq!(
        get_doc["responses"]["403"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
}

#[tokio::test]
async fn more_than_five_hits_show_the_narrowing_message() {
    let h = Harness::new().await;
    let page = h.sign_in(&h.viewer).await;
    let visit = h
        .outage_then_period(|| async {
            h.st.search
                .access
                .record_outage_visit(&h.viewer, "診察券 C-00202")
                .await
                .unwrap()
        })
        .await
        .to_string();
    // The demo's crowded case: 高橋花子 / 昭和60年7月7日 / 女性 / 東京都.
    let p = h
        .post(
            &page,
            "/emergency",
            &[
                ("visit", &visit),
                ("name", "高橋花子"),
                ("birth_calendar", "昭和"),
                ("birth_year", "60"),
                ("birth_month", "7"),
                ("birth_day", "7"),
                ("sex", "2"),
                ("address", "東京都"),
                ("confirmation_date", "2026/11/20"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let shown = h.get(&page, "/emergency").await;
    assert!(shown.body.contains(TOO_MANY_MESSAGE), "{}", shown.body);
    assert!(
        !shown.body.contains("/emergency/records/"),
        "nothing listed"
    );
    // Narrowed by the insurer's name, one record: straight to its detail.
    let p = h
        .post(
            &page,
            "/emergency",
            &[
                ("visit", &visit),
                ("name", "高橋花子"),
                ("birth_calendar", "昭和"),
                ("birth_year", "60"),
                ("birth_month", "7"),
                ("birth_day", "7"),
                ("sex", "2"),
                ("address", "東京都"),
                ("insurer_name", "協会"),
                ("confirmation_date", "2026/11/20"),
            ],
        )
        .await;
    assert!(
        p.location
            .as_deref()
            .unwrap_or("")
            .starts_with("/emergency/records/"),
        "{:?}",
        p.location
    );
    let d = h.get(&page, p.location.as_deref().unwrap()).await;
    assert!(d.body.contains("この資格は有効です。"), "{}", d.body);
}
