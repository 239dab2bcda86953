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
