//! Page and API parity: every use case reachable from both a page and the JSON API leaves
//! the same audit rows (action, subject, actor, and the request id of the request that
//! caused it) and publishes the same live events to the same topics, whichever path a
//! person took. Table-driven: adding a use case to both paths means adding a row here.
//!
//! The rows include the four drifts found in the first wave: a patient's cancellation
//! (the page published nothing), staff closing a booking (the API published nothing),
//! the staff login through the API (no `staff.login` entry) and the empty request ids.

use std::future::Future;
use std::pin::Pin;

use serde_json::json;
use tsunagu_audit::Filter;
use tsunagu_events::Topic;

use crate::helpers::*;

/// What one request left behind, normalised so that two paths can be compared.
#[derive(Debug, PartialEq, Eq)]
struct Trace {
    /// (action, patient, actor kind, actor id), in order.
    audit: Vec<(String, Option<i64>, String, Option<i64>)>,
    /// (topic, kind), in order.
    events: Vec<(String, String)>,
}

/// A raw request whose `x-request-id` we keep.
struct Sent {
    status: u16,
    request_id: String,
    body: String,
}

async fn send(rb: reqwest::RequestBuilder) -> Sent {
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let request_id = r
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Sent {
        status,
        request_id,
        body: r.text().await.unwrap(),
    }
}

fn topic(t: &Topic) -> String {
    match t {
        Topic::Facility(_) => "facility".into(),
        Topic::Account(_) => "account".into(),
        Topic::Operators => "operators".into(),
        Topic::Visit(_) => "visit".into(),
    }
}

/// Runs `act` and returns what it left: its audit rows must all carry its request id.
async fn trace<F>(app: &TestApp, act: F) -> Trace
where
    F: Future<Output = Sent>,
{
    let before = app
        .state
        .audit
        .search(&Filter {
            limit: 1,
            ..Filter::default()
        })
        .await
        .unwrap()
        .first()
        .map_or(0, |e| e.seq);
    let mut rx = app.state.events.subscribe();
    let sent = act.await;
    assert!(
        sent.status < 400,
        "the action failed: {} {}",
        sent.status,
        sent.body
    );
    let mut rows = app
        .state
        .audit
        .search(&Filter {
            limit: 1000,
            ..Filter::default()
        })
        .await
        .unwrap();
    rows.retain(|e| e.seq > before);
    rows.reverse();
    for e in &rows {
        assert!(!sent.request_id.is_empty());
        assert_eq!(
            e.request_id,
            sent.request_id,
            "the entry {} carries the request id of the request that caused it (status {}, {})",
            e.action,
            sent.status,
            sent.body.chars().take(200).collect::<String>()
        );
    }
    let mut events = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        events.push((topic(&ev.topic), ev.kind.clone()));
    }
    Trace {
        audit: rows
            .into_iter()
            .map(|e| (e.action, e.patient_id, e.actor_kind, e.actor_id))
            .collect(),
        events,
    }
}

/// Everything a row needs: a staff browser and token, a patient browser and token, and
/// a fresh booking of the patient for each path.
struct World {
    staff_page: Browser,
    staff_token: String,
    patient_page: Browser,
    patient_token: String,
}

type Act<'a> = Pin<Box<dyn Future<Output = Sent> + 'a>>;

struct Row {
    name: &'static str,
    page: for<'a> fn(&'a TestApp, &'a World, i64) -> Act<'a>,
    api: for<'a> fn(&'a TestApp, &'a World, i64) -> Act<'a>,
}

fn api_req(app: &TestApp, m: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(m, format!("{}/api/v1{path}", app.base))
        .bearer_auth(token)
}

/// Posts a form with the session's CSRF token, read from `token_page` (a page that shows
/// no patient data, so that reading it leaves no audit entry of its own).
async fn page_post(b: &Browser, token_page: &str, action: &str, fields: &[(&str, &str)]) -> Sent {
    let got = send(b.http.get(format!("{}{token_page}", b.base))).await;
    let csrf = Page {
        status: got.status,
        location: None,
        body: got.body,
    }
    .csrf();
    let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf)];
    form.extend_from_slice(fields);
    send(b.http.post(format!("{}{action}", b.base)).form(&form)).await
}

async fn page_get(b: &Browser, path: &str) -> Sent {
    send(b.http.get(format!("{}{path}", b.base))).await
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "a patient cancels a booking",
            page: |_, w, id| {
                Box::pin(async move {
                    let p = format!("/my/bookings/{id}");
                    page_post(&w.patient_page, "/my", &format!("{p}/cancel"), &[]).await
                })
            },
            api: |app, w, id| {
                Box::pin(async move {
                    let p = format!("/me/bookings/{id}");
                    send(api_req(app, reqwest::Method::DELETE, &p, &w.patient_token)).await
                })
            },
        },
        Row {
            name: "staff close a booking (cancel; seen and no-show take the same path)",
            page: |_, w, id| {
                Box::pin(async move {
                    let p = format!("/staff/bookings/{id}");
                    page_post(
                        &w.staff_page,
                        "/staff",
                        &format!("{p}/close"),
                        &[("status", "cancelled")],
                    )
                    .await
                })
            },
            api: |app, w, id| {
                Box::pin(async move {
                    let p = format!("/staff/bookings/{id}/close");
                    send(
                        api_req(app, reqwest::Method::POST, &p, &w.staff_token)
                            .json(&json!({"status": "cancelled"})),
                    )
                    .await
                })
            },
        },
        Row {
            name: "staff open the reception list",
            page: |_, w, _| Box::pin(page_get(&w.staff_page, "/staff/reception?date=2026-11-24")),
            api: |app, w, _| {
                Box::pin(send(api_req(
                    app,
                    reqwest::Method::GET,
                    "/staff/bookings?date=2026-11-24",
                    &w.staff_token,
                )))
            },
        },
        Row {
            name: "staff list the facility's patients",
            page: |_, w, _| Box::pin(page_get(&w.staff_page, "/staff/patients")),
            api: |app, w, _| {
                Box::pin(send(api_req(
                    app,
                    reqwest::Method::GET,
                    "/staff/patients",
                    &w.staff_token,
                )))
            },
        },
        Row {
            name: "staff open a patient",
            page: |app, w, id| {
                Box::pin(async move {
                    let pid = patient_of(app, id).await;
                    page_get(&w.staff_page, &format!("/staff/patients/{pid}")).await
                })
            },
            api: |app, w, id| {
                Box::pin(async move {
                    let pid = patient_of(app, id).await;
                    let p = format!("/staff/patients/{pid}");
                    send(api_req(app, reqwest::Method::GET, &p, &w.staff_token)).await
                })
            },
        },
        Row {
            name: "staff set a chart number",
            page: |app, w, id| {
                Box::pin(async move {
                    let pid = patient_of(app, id).await;
                    let p = format!("/staff/patients/{pid}");
                    page_post(
                        &w.staff_page,
                        "/staff",
                        &format!("{p}/chart"),
                        &[("chart_number", "A-1")],
                    )
                    .await
                })
            },
            api: |app, w, id| {
                Box::pin(async move {
                    let pid = patient_of(app, id).await;
                    let p = format!("/staff/patients/{pid}/chart-number");
                    send(
                        api_req(app, reqwest::Method::PUT, &p, &w.staff_token)
                            .json(&json!({"chart_number": "A-2"})),
                    )
                    .await
                })
            },
        },
        Row {
            name: "staff check the insurance card",
            page: |_, w, id| {
                Box::pin(async move {
                    let p = format!("/staff/bookings/{id}");
                    page_post(
                        &w.staff_page,
                        "/staff",
                        &format!("{p}/insurance/check"),
                        &[],
                    )
                    .await
                })
            },
            api: |app, w, id| {
                Box::pin(async move {
                    let p = format!("/staff/bookings/{id}/insurance/check");
                    send(api_req(app, reqwest::Method::POST, &p, &w.staff_token)).await
                })
            },
        },
        Row {
            name: "staff log in (password, no second factor for a clerk)",
            page: |_, w, _| {
                Box::pin(async move {
                    page_post(
                        &fresh(&w.staff_page),
                        "/staff/login",
                        "/staff/login",
                        &[
                            ("facility", "sapporo-hikari"),
                            ("login_id", "clerk"),
                            ("password", tsunagu_server::demo::DEMO_PASSWORD),
                        ],
                    )
                    .await
                })
            },
            api: |app, _, _| {
                Box::pin(async move {
                    send(
                        reqwest::Client::new()
                            .post(format!("{}/api/v1/staff/login", app.base))
                            .json(&json!({"facility": "sapporo-hikari", "login_id": "clerk",
                                "password": tsunagu_server::demo::DEMO_PASSWORD})),
                    )
                    .await
                })
            },
        },
    ]
}

/// A browser with no session, on the same server.
fn fresh(b: &Browser) -> Browser {
    Browser {
        base: b.base.clone(),
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

async fn patient_of(app: &TestApp, booking: i64) -> i64 {
    let f = app.facility("sapporo-hikari").await;
    app.state
        .booker
        .bookings
        .get_at(f.id, booking)
        .await
        .unwrap()
        .patient_id
        .0
}

/// A booking of the demo member Sato at Sapporo Hikari on 2026-11-24, through the API.
async fn book(app: &TestApp, token: &str, nth: usize) -> i64 {
    let me = app.api().with_token(token);
    let (_, menus) = app.api().get("/facilities/sapporo-hikari/menus").await;
    let menu = menus[0]["id"].as_i64().unwrap();
    let (_, slots) = app
        .api()
        .get(&format!(
            "/facilities/sapporo-hikari/slots?menu={menu}&kind=return&from=2026-11-24&days=1"
        ))
        .await;
    let (_, who) = me.get("/me").await;
    let slot = &slots[nth];
    let (s, b) = me
        .post(
            "/me/bookings",
            json!({"facility": "sapporo-hikari", "patient_id": who["patients"][0]["id"],
                "menu_id": menu, "kind": "return", "doctor_id": slot["doctor_id"],
                "starts_at": slot["starts_at"]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_i64().unwrap()
}

#[tokio::test]
async fn pages_and_the_api_leave_the_same_audit_rows_and_events() {
    let app = TestApp::spawn().await;
    let patient_token = patient_token(&app, "090-0000-0002").await;
    let patient_page = app.browser();
    patient_page
        .submit(
            "/login",
            "/login",
            &[
                ("phone", "090-0000-0002"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    let world = World {
        staff_page: app.staff_browser("sapporo-hikari", "clerk").await,
        staff_token: staff_token(&app, "sapporo-hikari", "clerk").await,
        patient_page,
        patient_token,
    };
    // Sato's card (the seed's 新橋 太郎 card, valid in the demo eligibility data), so that
    // the insurance check has something to check.
    let (_, who) = app.api().with_token(&world.patient_token).get("/me").await;
    let pid = who["patients"][0]["id"].as_i64().unwrap();
    let account: i64 = sqlx::query_scalar("SELECT account_id FROM patients WHERE id = $1")
        .bind(pid)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let png = || {
        let mut v = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        v.extend_from_slice(&[
            0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0,
        ]);
        v
    };
    app.state
        .insurance
        .register(
            &app.state.files,
            tsunagu_kernel::AccountId(account),
            tsunagu_kernel::PatientId(pid),
            &tsunagu_insurance::InsuranceInput {
                kind: "card".into(),
                insurer_number: "06139000".into(),
                symbol: "9000".into(),
                number: "10001".into(),
                branch: "01".into(),
            },
            &[
                ("front".into(), png(), "front.png".into()),
                ("back".into(), png(), "back.png".into()),
            ],
        )
        .await
        .unwrap();
    let mut nth = 0;
    for row in rows() {
        let a = book(&app, &world.patient_token, nth).await;
        let b = book(&app, &world.patient_token, nth + 1).await;
        nth += 2;
        let by_page = trace(&app, (row.page)(&app, &world, a)).await;
        let by_api = trace(&app, (row.api)(&app, &world, b)).await;
        assert!(
            !by_page.audit.is_empty() || !by_page.events.is_empty(),
            "{}: the row must observe something",
            row.name
        );
        assert_eq!(by_page, by_api, "{}: the page and the API differ", row.name);
    }
    app.stop().await;
}
