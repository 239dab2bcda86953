//! The eligibility service's store: import, the four-facts search (indexed and full scan
//! agree), the normal lookup by card. Runs on SQLite and on PostgreSQL like the rest.

use tsunagu_eligibility::EligibilityStore;
use tsunagu_eligibility_domain::generate::{Generator, seed_examples};
use tsunagu_eligibility_domain::search::{FourFactsInput, SearchOutcome};

use crate::helpers::TestDb;

#[allow(clippy::too_many_arguments)]
fn input(
    name: &str,
    kana: &str,
    cal: &str,
    y: &str,
    m: &str,
    d: &str,
    sex: &str,
    address: &str,
    insurer: &str,
) -> FourFactsInput {
    FourFactsInput {
        name: name.into(),
        kana: kana.into(),
        birth_calendar: cal.into(),
        birth_year: y.into(),
        birth_month: m.into(),
        birth_day: d.into(),
        sex: sex.into(),
        address: address.into(),
        insurer_name: insurer.into(),
        confirmation_date: "2021-01-19".into(),
    }
}

#[tokio::test]
async fn four_facts_search_finds_the_seeds_example() {
    let db = TestDb::new().await;
    let store = EligibilityStore::open(&db.url, 4).await.unwrap();
    let n = store
        .import(
            seed_examples()
                .into_iter()
                .chain(Generator::new(7).take(3000)),
        )
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), i64::try_from(n).unwrap());
    let today: jiff::civil::Date = "2021-01-19".parse().unwrap();
    // 新橋太郎 / 昭和29年3月26日 / 男性 / 東京都: the seed's two records.
    let q = input("新橋　太郎", "", "", "29", "3", "26", "1", "東京都", "")
        .validate(today)
        .unwrap();
    let hits = store.four_facts(&q).await.unwrap();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(matches!(
        SearchOutcome::from_hits(hits.len()),
        SearchOutcome::List { .. }
    ));
    let scan = store.four_facts_full_scan(&q).await.unwrap();
    assert_eq!(
        hits.iter().map(|s| s.id).collect::<Vec<_>>(),
        scan.iter().map(|s| s.id).collect::<Vec<_>>(),
        "index and scan agree"
    );
    // Narrowing by the insurer name leaves one: straight to the detail.
    let q = input(
        "新橋太郎",
        "",
        "昭和",
        "29",
        "3",
        "26",
        "1",
        "東京都",
        "北海道新聞社",
    )
    .validate(today)
    .unwrap();
    let one = store.four_facts(&q).await.unwrap();
    assert_eq!(one.len(), 1);
    assert!(matches!(SearchOutcome::from_hits(1), SearchOutcome::Single));
    // The same person by card (method 2).
    let r = &one[0].record;
    let by_card = store
        .by_card(
            r.insurer_number.as_str(),
            r.symbol.as_deref().unwrap_or(""),
            &r.number,
            r.branch.as_deref().unwrap_or(""),
            Some(r.birth_date),
        )
        .await
        .unwrap();
    assert_eq!(by_card.len(), 1);
    assert_eq!(by_card[0].id, one[0].id);
    // Nothing: the seed's message.
    let q = input("新橋太郎", "", "昭和", "29", "3", "27", "1", "東京都", "")
        .validate(today)
        .unwrap();
    assert!(store.four_facts(&q).await.unwrap().is_empty());
    assert_eq!(
        SearchOutcome::from_hits(0).message(),
        Some("検索条件に入力された情報が存在しません")
    );
}

#[tokio::test]
async fn generated_people_are_found_by_kana_too_and_more_than_five_is_refused() {
    let db = TestDb::new().await;
    let store = EligibilityStore::open(&db.url, 4).await.unwrap();
    let people: Vec<_> = Generator::new(11).take(2000).collect();
    store.import(people.clone()).await.unwrap();
    let today: jiff::civil::Date = "2025-04-01".parse().unwrap();
    // Every one of a sample is found by kana + birth date + sex + the start of the address.
    for (_, p) in people
        .iter()
        .step_by(97)
        .filter(|(_, p)| p.address.is_some())
    {
        let addr: String = p
            .address
            .clone()
            .unwrap_or_default()
            .chars()
            .take(3)
            .collect();
        let sex = p.sex1.code();
        let q = input(
            "",
            &p.name_kana,
            "西暦",
            &p.birth_date.year().to_string(),
            &p.birth_date.month().to_string(),
            &p.birth_date.day().to_string(),
            sex,
            &addr,
            "",
        )
        .validate(today)
        .unwrap();
        let hits = store.four_facts(&q).await.unwrap();
        assert!(hits.iter().any(|h| h.record == *p), "{} not found", p.name);
    }
    // Six identical people: the outcome hides them all (F4).
    let (ins, q0) = seed_examples().remove(0);
    store
        .import((0..6).map(|_| (ins.clone(), q0.clone())))
        .await
        .unwrap();
    let q = input(
        &q0.name,
        "",
        "西暦",
        &q0.birth_date.year().to_string(),
        &q0.birth_date.month().to_string(),
        &q0.birth_date.day().to_string(),
        q0.sex1.code(),
        "東京",
        "",
    )
    .validate("2021-01-19".parse().unwrap())
    .unwrap();
    let n = store.four_facts(&q).await.unwrap().len();
    assert!(n > 5);
    assert!(matches!(
        SearchOutcome::from_hits(n),
        SearchOutcome::TooMany { .. }
    ));
}

use tsunagu_eligibility::OutageSearch;
use tsunagu_eligibility::access::{AccessStore, Role};

async fn outage_setup(db: &TestDb) -> (OutageSearch, crate::helpers::TestClock) {
    let clock = crate::helpers::TestClock::new("2021-01-19T01:00:00Z");
    let store = EligibilityStore::open(&db.url, 4).await.unwrap();
    store.import(seed_examples()).await.unwrap();
    let access = AccessStore::new(store.db().clone(), clock.arc());
    (OutageSearch { store, access }, clock)
}

#[tokio::test]
async fn the_emergency_search_follows_roles_periods_and_the_method_table() {
    let db = TestDb::new().await;
    let (svc, clock) = outage_setup(&db).await;
    let a = &svc.access;
    a.create_institution("1310000001", "サンプル医療機関")
        .await
        .unwrap();
    a.create_institution("1310000002", "別の医療機関")
        .await
        .unwrap();
    let op_id = a
        .create_account(None, "operator", "実施機関", Role::Operator, "x")
        .await
        .unwrap();
    a.create_account(Some("1310000001"), "general", "一般1", Role::General, "x")
        .await
        .unwrap();
    a.create_account(Some("1310000001"), "viewer", "閲覧1", Role::Viewer, "x")
        .await
        .unwrap();
    a.create_account(Some("1310000002"), "viewer", "閲覧2", Role::Viewer, "x")
        .await
        .unwrap();
    let op = a.find_account(None, "operator").await.unwrap().unwrap();
    assert_eq!(op.id, op_id);
    let general = a
        .find_account(Some("1310000001"), "general")
        .await
        .unwrap()
        .unwrap();
    let viewer = a
        .find_account(Some("1310000001"), "viewer")
        .await
        .unwrap()
        .unwrap();
    let other = a
        .find_account(Some("1310000002"), "viewer")
        .await
        .unwrap()
        .unwrap();
    let q = input("新橋太郎", "", "", "29", "3", "26", "1", "東京都", "")
        .validate("2021-01-19".parse().unwrap())
        .unwrap();
    use tsunagu_kernel::DomainError::Forbidden;
    // Normal times: the function is closed.
    assert!(matches!(
        svc.search(&viewer, &q, None).await,
        Err(Forbidden("error.eligibility.closed"))
    ));
    // The outage: a patient comes and is recorded; nothing can be searched yet.
    a.set_outage(&op, true).await.unwrap();
    let visit = a.record_outage_visit(&viewer, "診察券 1001").await.unwrap();
    assert!(
        a.set_outage(&viewer, false).await.is_err(),
        "only the operating body declares recovery"
    );
    a.set_outage(&op, false).await.unwrap();
    assert!(
        a.record_outage_visit(&viewer, "late").await.is_err(),
        "visits are recorded only during the outage"
    );
    // Recovery: the operating body opens the function for one institution.
    let start = jiff::Timestamp::now().as_millisecond() - 1;
    let now = tsunagu_kernel::Clock::now_ms(&*clock.arc());
    assert!(
        a.open_period(
            &viewer,
            now,
            now + 86_400_000,
            "お知らせ",
            &["1310000001".into()]
        )
        .await
        .is_err()
    );
    a.open_period(
        &op,
        now - 1,
        now + 86_400_000,
        "システム障害の復旧に伴い、緊急時医療情報・資格確認機能を開放します。",
        &["1310000001".into()],
    )
    .await
    .unwrap();
    let _ = start;
    assert_eq!(a.open_periods("1310000001").await.unwrap().len(), 1);
    assert!(a.open_periods("1310000002").await.unwrap().is_empty());
    // A general account is refused with the seed's message; another institution is closed.
    assert!(matches!(
        svc.search(&general, &q, Some(visit)).await,
        Err(Forbidden("error.eligibility.general_account"))
    ));
    assert!(matches!(
        svc.search(&other, &q, Some(visit)).await,
        Err(Forbidden("error.eligibility.closed"))
    ));
    // A patient who came after recovery cannot be searched by four facts (method 3 ×).
    assert!(matches!(
        svc.search(&viewer, &q, None).await,
        Err(Forbidden("error.eligibility.four_facts_new_patient"))
    ));
    // The outage-time patient can: two hits, and the search and the view are monitored.
    let hits = svc.search(&viewer, &q, Some(visit)).await.unwrap();
    assert_eq!(hits.len(), 2);
    // Opening a record follows the same table: not for a patient who came after recovery.
    assert!(matches!(
        svc.view(&viewer, hits[0].id, None).await,
        Err(Forbidden("error.eligibility.four_facts_new_patient"))
    ));
    svc.view(&viewer, hits[0].id, Some(visit)).await.unwrap();
    // Only records a search of this account listed can be opened: not any other id, and
    // not by another account that did not search.
    let other_id = (1..=svc.store.count().await.unwrap())
        .find(|i| hits.iter().all(|h| h.id != *i))
        .unwrap();
    assert!(matches!(
        svc.view(&viewer, other_id, Some(visit)).await,
        Err(Forbidden("error.eligibility.not_listed"))
    ));
    let admin_id = a
        .create_account(Some("1310000001"), "admin", "管理1", Role::Admin, "x")
        .await
        .unwrap();
    let admin = a.account(admin_id).await.unwrap();
    assert!(matches!(
        svc.view(&admin, hits[0].id, Some(visit)).await,
        Err(Forbidden("error.eligibility.not_listed"))
    ));
    a.set_inquiry_number(&viewer, hits[0].id, "A-0001")
        .await
        .unwrap();
    assert_eq!(
        a.inquiry_number("1310000001", hits[0].id)
            .await
            .unwrap()
            .as_deref(),
        Some("A-0001")
    );
    assert!(
        a.set_inquiry_number(&viewer, hits[0].id, "照会")
            .await
            .is_err()
    );
    let log = a.monitoring(&op, &Default::default(), 10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|m| m.action.as_str()).collect();
    assert_eq!(actions, vec!["inquiry_number", "view", "search"]);
    assert_eq!(log[2].hits, Some(2));
    assert!(log[2].conditions.contains("新橋太郎"));
    // A search's results stay open for half an hour.
    clock.advance_hours(1);
    assert!(matches!(
        svc.view(&viewer, hits[0].id, Some(visit)).await,
        Err(Forbidden("error.eligibility.not_listed"))
    ));
    assert!(
        a.monitoring(&viewer, &Default::default(), 10)
            .await
            .is_err(),
        "only the operating body reads the log"
    );
    // The operating body sees the period and may end it early: the function closes at
    // once. A period not yet begun is withdrawn.
    let current = a.current_periods(&op).await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].1, vec!["1310000001".to_string()]);
    assert!(a.end_period(&viewer, current[0].0.id).await.is_err());
    a.end_period(&op, current[0].0.id).await.unwrap();
    assert!(a.current_periods(&op).await.unwrap().is_empty());
    assert!(matches!(
        svc.search(&viewer, &q, Some(visit)).await,
        Err(Forbidden("error.eligibility.closed"))
    ));
    let now = tsunagu_kernel::Clock::now_ms(&*clock.arc());
    let later = a
        .open_period(
            &op,
            now + 3_600_000,
            now + 7_200_000,
            "明日の点検後に開放します。",
            &["1310000001".into()],
        )
        .await
        .unwrap();
    a.end_period(&op, later).await.unwrap();
    assert!(a.current_periods(&op).await.unwrap().is_empty());
    // After a period's end the function stays closed.
    clock.advance_hours(24);
    assert!(matches!(
        svc.search(&viewer, &q, Some(visit)).await,
        Err(Forbidden("error.eligibility.closed"))
    ));
}
