//! Health, metrics, the OpenAPI document, security headers, the QR code, the dev outbox.

use crate::helpers::*;

#[tokio::test]
async fn health_metrics_openapi_and_headers() {
    let app = TestApp::spawn().await;
    let c = reqwest::Client::new();
    let r = c.get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c.get(format!("{}/", app.base)).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert!(r.headers().contains_key("x-request-id"));
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    let body = r.text().await.unwrap();
    assert!(!body.contains("<script>"), "no inline script");
    let m = c
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("tsunagu_http_requests_total"));
    assert!(m.contains("route=\"/\""));
    assert!(m.contains("tsunagu_sfu{what=\"connections\"} 0"), "{m}");
    let doc: serde_json::Value = c
        .get(format!("{}/api/openapi.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for p in [
        "/api/v1/signup/code",
        "/api/v1/me/family",
        "/api/v1/staff/patients/{id}",
        "/api/v1/facilities",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} documented");
    }
    // Unknown pages and API routes answer in kind, never 500.
    assert_eq!(
        c.get(format!("{}/nope", app.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    let v: serde_json::Value = c
        .get(format!("{}/api/v1/nope", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    app.stop().await;
}

#[tokio::test]
async fn each_facility_has_its_page_and_qr_code() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    let p = b.get("/c/sapporo-hikari").await;
    assert_eq!(p.status, 200);
    assert!(p.body.contains("札幌西ひかりクリニック"));
    assert!(p.body.contains(&format!("{}/c/sapporo-hikari", app.base)));
    assert!(
        p.body.contains("医籍登録 2008年"),
        "doctors show their registration year"
    );
    let r = reqwest::get(format!("{}/c/sapporo-hikari/qr.svg", app.base))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(r.text().await.unwrap().contains("<svg"));
    assert_eq!(b.get("/c/no-such-clinic").await.status, 404);
    let list = b.get("/clinics?pref=1").await;
    assert!(list.body.contains("札幌西ひかりクリニック"));
    assert!(!list.body.contains("つなぐ中央病院"));
    assert_eq!(b.get("/clinics?pref=48").await.status, 422);
    app.stop().await;
}

#[tokio::test]
async fn dev_outbox_needs_an_operator_and_says_nothing_was_sent() {
    let app = TestApp::spawn().await;
    let b = app.browser();
    assert_eq!(
        b.get("/dev/outbox").await.location.as_deref(),
        Some("/ops/login")
    );
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
    assert!(
        !b.get("/ops/totp").await.body.contains("<svg"),
        "no secret before the code"
    );
    prove_enrol_code(&b, "/ops/totp").await;
    let enrol = b.get("/ops/totp").await;
    assert!(enrol.body.contains("<svg"));
    let op = app
        .state
        .accounts
        .staff
        .find_operator("ops")
        .await
        .unwrap()
        .unwrap();
    let code = totp_now(&app, op.totp_secret.as_deref().unwrap());
    let p = b.post("/ops/totp", &enrol.csrf(), &[("code", &code)]).await;
    assert_eq!(p.location.as_deref(), Some("/ops"));
    // The facilities table names prefectures (it showed their codes: 1, 11, 13).
    let home = b.get("/ops").await;
    assert!(home.body.contains("<td>北海道</td>"), "{}", home.body);
    assert!(home.body.contains("<td>東京都</td>"));
    app.api()
        .post(
            "/signup/code",
            serde_json::json!({"phone": "090-1234-5678"}),
        )
        .await;
    app.drain().await;
    let page = b.get("/dev/outbox").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("この端末の外には何も送られていません"));
    assert!(page.body.contains("+819012345678"));
    assert!(page.body.contains("認証コード"));
    app.stop().await;
}
