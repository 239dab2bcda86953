//! The tenancy matrix: staff of one facility reach nothing of another through any page or
//! API route; a patient reaches nothing of another patient.

use serde_json::json;

use crate::helpers::*;

async fn patient_ids(app: &TestApp, facility: &str) -> Vec<i64> {
    let f = app.facility(facility).await;
    app.state
        .accounts
        .patients
        .list_at(f.id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.patient.id.0)
        .collect()
}

/// Recorded accesses to data (refused attempts are counted apart).
async fn audit_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action <> 'access.denied'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// Refused staff attempts on record.
async fn denied_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'access.denied'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn staff_of_one_facility_reach_nothing_of_another() {
    let app = TestApp::spawn().await;
    let central = patient_ids(&app, "tsunagu-central").await;
    let clinic = patient_ids(&app, "sapporo-hikari").await;
    assert!(!central.is_empty() && !clinic.is_empty());
    // Hospitals of the same group are still separate facilities.
    let north_token = staff_token(&app, "tsunagu-north", "clerk").await;
    let clinic_token = staff_token(&app, "sapporo-hikari", "doctor").await;

    for (token, foreign) in [(&north_token, &central), (&clinic_token, &central)] {
        let api = app.api().with_token(token);
        let (_, list) = api.get("/staff/patients").await;
        let listed: Vec<i64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        for id in foreign {
            assert!(!listed.contains(id));
            let before = audit_count(&app).await;
            let denied_before = denied_count(&app).await;
            let (s, _) = api.get(&format!("/staff/patients/{id}")).await;
            assert_eq!(s, 404);
            let (s, _) = api
                .put(
                    &format!("/staff/patients/{id}/chart-number"),
                    json!({"chart_number": "X-1"}),
                )
                .await;
            assert_eq!(s, 404);
            assert_eq!(
                audit_count(&app).await,
                before,
                "nothing shown, no access recorded"
            );
            assert_eq!(
                denied_count(&app).await,
                denied_before + 2,
                "both attempts recorded as refused"
            );
        }
    }
    // The same through the pages.
    let b = app.browser();
    let p = b
        .submit(
            "/staff/login",
            "/staff/login",
            &[
                ("facility", "tsunagu-north"),
                ("login_id", "clerk"),
                ("password", tsunagu_server::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/staff"));
    for id in &central {
        assert_eq!(b.get(&format!("/staff/patients/{id}")).await.status, 404);
        let csrf = b.get("/staff").await.csrf();
        let p = b
            .post(
                &format!("/staff/patients/{id}/chart"),
                &csrf,
                &[("chart_number", "X-1")],
            )
            .await;
        assert_eq!(p.status, 404);
    }
    let listing = b.get("/staff/patients").await;
    assert!(!listing.body.contains("山田"));
    // The chart numbers are untouched.
    let f = app.facility("tsunagu-central").await;
    let charts: Vec<Option<String>> = app
        .state
        .accounts
        .patients
        .list_at(f.id, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.chart_number)
        .collect();
    assert!(charts.iter().all(|c| c.as_deref() != Some("X-1")));

    // A failed job of one facility cannot be retried by another's staff.
    let job = app
        .state
        .jobs
        .enqueue(tsunagu_jobs::NewJob {
            kind: "test.never",
            payload: "{}".into(),
            run_at: None,
            max_attempts: 1,
            facility_id: Some(f.id),
        })
        .await
        .unwrap();
    app.drain().await;
    assert_eq!(
        app.state.jobs.get(job).await.unwrap().status,
        tsunagu_jobs::JobStatus::Failed
    );
    let (_, failed) = app
        .api()
        .with_token(&north_token)
        .get("/staff/jobs/failed")
        .await;
    assert!(failed.as_array().unwrap().is_empty());
    let csrf = b.get("/staff").await.csrf();
    assert_eq!(
        b.post(&format!("/staff/jobs/{}/retry", job.0), &csrf, &[])
            .await
            .status,
        404
    );
    // A video call of one facility: another's staff can neither open nor change it.
    let doctor = app.staff_id(f.id, "doctor").await;
    let by = tsunagu_audit::By {
        actor: tsunagu_audit::Actor {
            kind: "staff",
            id: Some(doctor.0),
            label: "doctor".into(),
        },
        facility_id: Some(f.id),
        ip: "127.0.0.1".into(),
        request_id: String::new(),
    };
    let input = tsunagu_visits::UrlCallInput {
        starts_at: tsunagu_kernel::Clock::now_ms(&app.clock),
        title: "他院には見えない".into(),
        doctor,
        send: tsunagu_visits::Send::None,
    };
    let visit = app
        .state
        .visits
        .create_url_call(&by, &f, &input)
        .await
        .unwrap();
    let v = visit.id;
    assert_eq!(b.get(&format!("/staff/visits/{v}")).await.status, 404);
    let csrf = b.get("/staff").await.csrf();
    for (path, fields) in [
        (
            "send",
            vec![("send", "sms"), ("destination", "090-1111-2222")],
        ),
        ("edit", vec![("title", "x"), ("doctor", "1")]),
        ("cancel", vec![]),
        ("start", vec![]),
        ("end", vec![]),
    ] {
        let p = b
            .post(&format!("/staff/visits/{v}/{path}"), &csrf, &fields)
            .await;
        assert_eq!(p.status, 404, "{path}");
    }
    let after = app.state.visits.get(f.id, v).await.unwrap();
    assert_eq!(after.title, "他院には見えない");
    assert_eq!(after.state, tsunagu_visits::VisitState::Scheduled);
    assert!(after.sent.is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_patient_reaches_nothing_of_another_patient() {
    let app = TestApp::spawn().await;
    let sato = app
        .api()
        .with_token(&patient_token(&app, "090-0000-0002").await);
    let yamada_token = patient_token(&app, "090-0000-0001").await;
    let (_, me) = app.api().with_token(&yamada_token).get("/me").await;
    let yamada_ids: Vec<i64> = me["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(yamada_ids.len(), 2);
    for id in &yamada_ids {
        let (s, _) = sato
            .put(&format!("/me/family/{id}"), json!({"family_name": "佐藤", "given_name": "乗取", "family_name_kana": "サトウ", "given_name_kana": "ノットリ", "birth_date": "2000-01-01", "sex": "2"}))
            .await;
        assert_eq!(s, 404);
        let (s, _) = sato.delete(&format!("/me/family/{id}")).await;
        assert_eq!(s, 404);
    }
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
    for id in &yamada_ids {
        assert_eq!(b.get(&format!("/my/family/{id}/edit")).await.status, 404);
        let csrf = b.get("/my").await.csrf();
        assert_eq!(
            b.post(&format!("/my/family/{id}/delete"), &csrf, &[])
                .await
                .status,
            404
        );
    }
    let (_, still) = app.api().with_token(&yamada_token).get("/me/family").await;
    assert_eq!(still.as_array().unwrap().len(), 2);
    assert!(
        still
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["family_name"] == "山田")
    );
    // A patient token is not a staff token, and vice versa.
    let (s, _) = sato.get("/staff/patients").await;
    assert_eq!(s, 401);
    let staff = app
        .api()
        .with_token(&staff_token(&app, "sapporo-hikari", "clerk").await);
    let (s, _) = staff.get("/me").await;
    assert_eq!(s, 401);
    // The holder cannot remove themself as if they were family.
    let (s, _) = app
        .api()
        .with_token(&yamada_token)
        .delete(&format!("/me/family/{}", yamada_ids[0]))
        .await;
    assert_eq!(s, 404);
    app.stop().await;
}
