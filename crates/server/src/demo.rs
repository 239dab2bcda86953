//! Demo data for a first run: one medical corporation with two hospitals that share a
//! group (the deferred-payment case of seed 003), one independent clinic, staff of every
//! role per facility, two patient accounts (one with a family member), and an operator.
//!
//! Loaded only into an empty database, so it never overwrites real data.

use tsunagu_accounts::NewPatient;
use tsunagu_accounts::Role;
use tsunagu_accounts::password::hash_blocking;
use tsunagu_accounts::staff::LoginTable;
use tsunagu_accounts::staff::NewStaff;
use tsunagu_clinics::{FacilityKind, NewFacility};
use tsunagu_kernel::{DomainError, FacilityId, OrganisationId, Phone, Sex};
use tsunagu_scheduling::{MenuInput, Mode, Question, WeeklyHours};
use tsunagu_web::AppState;

/// The password of every demo login.
pub const DEMO_PASSWORD: &str = "tsunagu-demo-2026";

/// The demo's TOTP enrolment code: in a real facility an admin issues each person their
/// own one-time code; the demo gives every demo login the same one, valid a year from
/// when the demo data was made.
pub const DEMO_ENROL_CODE: &str = "DEMO2-ENR0L";

/// How long the demo enrolment code stays valid.
const DEMO_ENROL_TTL_MS: i64 = 365 * 24 * 3600 * 1000;

/// (slug, name, kind, prefecture, address, phone, in the group)
const FACILITIES: [(&str, &str, FacilityKind, i64, &str, &str, bool); 3] = [
    (
        "tsunagu-central",
        "つなぐ中央病院",
        FacilityKind::Hospital,
        13,
        "千代田区丸の内1-1-1",
        "03-0000-1111",
        true,
    ),
    (
        "tsunagu-north",
        "つなぐ北病院",
        FacilityKind::Hospital,
        11,
        "さいたま市浦和区高砂2-2-2",
        "048-000-2222",
        true,
    ),
    (
        "sapporo-hikari",
        "札幌西ひかりクリニック",
        FacilityKind::Clinic,
        1,
        "札幌市西区琴似3-3-3",
        "011-000-3333",
        false,
    ),
];

/// (login suffix, name, role, 医籍登録年)
const STAFF: [(&str, &str, Role, Option<i64>); 5] = [
    ("admin", "管理 花子", Role::Admin, None),
    ("doctor", "医師 一郎", Role::Doctor, Some(2008)),
    ("doctor2", "医師 二美", Role::Doctor, Some(2015)),
    ("nurse", "看護 三奈", Role::Nurse, None),
    ("clerk", "事務 四郎", Role::Clerk, None),
];

/// (name, description, mode, first-visit minutes, return-visit minutes, insured, booking fee)
const MENUS: [(&str, &str, Mode, i64, i64, bool, i64); 3] = [
    (
        "内科 再診（オンライン）",
        "高血圧・脂質異常症などの定期的な診察とお薬の処方です。",
        Mode::Online,
        30,
        15,
        true,
        0,
    ),
    (
        "低用量ピル処方（自費）",
        "オンラインで問診と処方を行います。保険適用外です。",
        Mode::Online,
        15,
        10,
        false,
        500,
    ),
    (
        "内科 外来（対面）",
        "来院しての診察です。",
        Mode::InPerson,
        30,
        15,
        true,
        0,
    ),
];

/// The consent an online visit asks for (オンライン診療の指針: consent and a care plan).
const ONLINE_CONSENT: &str = "オンライン診療について説明を受け、次のことに同意します。\n・ビデオ通話で診察を受けること（通信状況により対面診療をお願いする場合があります）\n・診察中の録音・録画・撮影をしないこと\n・本人確認のため、身分証明書の提示を求められる場合があること";

fn demo_questionnaire() -> Vec<Question> {
    vec![
        Question {
            id: "symptoms".into(),
            label: "現在の症状やご相談内容".into(),
            choices: vec![],
            required: true,
        },
        Question {
            id: "medicine".into(),
            label: "お薬の受け取り方法".into(),
            choices: vec![
                "医療機関から配送".into(),
                "指定の薬局で受け取る".into(),
                "電子処方箋（引換番号）".into(),
                "配送サービス".into(),
            ],
            required: true,
        },
        Question {
            id: "allergy".into(),
            label: "アレルギー".into(),
            choices: vec!["なし".into(), "あり".into()],
            required: false,
        },
    ]
}

/// Weekdays 9:00–12:00 and 14:00–17:00, Saturday mornings.
fn demo_hours() -> Vec<WeeklyHours> {
    let mut v = Vec::new();
    for d in 1..=5 {
        v.push(WeeklyHours {
            weekday: d,
            start_minute: 9 * 60,
            end_minute: 12 * 60,
        });
        v.push(WeeklyHours {
            weekday: d,
            start_minute: 14 * 60,
            end_minute: 17 * 60,
        });
    }
    v.push(WeeklyHours {
        weekday: 6,
        start_minute: 9 * 60,
        end_minute: 12 * 60,
    });
    v
}

/// Loads the demo data if there are no facilities yet. Returns whether it did.
pub async fn load_if_empty(st: &AppState) -> anyhow::Result<bool> {
    if st.facilities.count().await? > 0 {
        return Ok(false);
    }
    load(st).await?;
    Ok(true)
}

async fn load(st: &AppState) -> Result<(), DomainError> {
    // One hash for all demo logins: argon2 is deliberately slow.
    let hash = {
        let pw = DEMO_PASSWORD.to_string();
        tokio::task::spawn_blocking(move || hash_blocking(&pw))
            .await
            .map_err(DomainError::internal)??
    };
    let org: OrganisationId = st
        .facilities
        .create_organisation("医療法人社団つなぐ会")
        .await?;
    let mut ids: Vec<FacilityId> = Vec::new();
    for (slug, name, kind, pref, address, phone, grouped) in FACILITIES {
        let id = st
            .facilities
            .create(&NewFacility {
                organisation_id: grouped.then_some(org),
                name: name.into(),
                kind,
                prefecture: pref,
                address: address.into(),
                phone: phone.into(),
                slug: slug.into(),
            })
            .await?;
        for (suffix, display, role, year) in STAFF {
            let staff_id = st
                .accounts
                .staff
                .create(
                    id,
                    &NewStaff {
                        login_id: suffix.into(),
                        display_name: display.into(),
                        role,
                        medical_registration_year: year,
                    },
                    &hash,
                )
                .await?;
            st.accounts
                .issue_enrolment_code_as(
                    LoginTable::Staff,
                    staff_id.0,
                    DEMO_ENROL_CODE,
                    DEMO_ENROL_TTL_MS,
                )
                .await?;
            if role == Role::Doctor {
                st.booker
                    .schedules
                    .set_weekly(id, staff_id, &demo_hours())
                    .await?;
            }
        }
        for (name, desc, mode, first, ret, insured, fee) in MENUS {
            st.booker
                .menus
                .create(
                    id,
                    &MenuInput {
                        name: name.into(),
                        description: desc.into(),
                        mode,
                        first_minutes: first,
                        return_minutes: ret,
                        insured,
                        booking_fee_yen: fee,
                        questionnaire: demo_questionnaire(),
                        consent_text: if mode == Mode::Online {
                            ONLINE_CONSENT.into()
                        } else {
                            String::new()
                        },
                    },
                )
                .await?;
        }
        ids.push(id);
    }
    let ops = st
        .accounts
        .staff
        .create_operator("ops", "運営 担当", &hash)
        .await?;
    st.accounts
        .issue_enrolment_code_as(
            LoginTable::Operators,
            ops.0,
            DEMO_ENROL_CODE,
            DEMO_ENROL_TTL_MS,
        )
        .await?;

    let yamada = Phone::parse("phone", "090-0000-0001")?;
    let mut tx = st.db.begin_write().await?;
    let (yamada_acct, yamada_id) = st
        .accounts
        .patients
        .create_account_in(
            &mut tx,
            &yamada,
            &hash,
            &person("山田", "太郎", "ヤマダ", "タロウ", "1985-04-12", Sex::Male)?,
        )
        .await?;
    let sato = Phone::parse("phone", "090-0000-0002")?;
    let (_, sato_id) = st
        .accounts
        .patients
        .create_account_in(
            &mut tx,
            &sato,
            &hash,
            &person(
                "佐藤",
                "美咲",
                "サトウ",
                "ミサキ",
                "1992-11-03",
                Sex::Female,
            )?,
        )
        .await?;
    tx.commit().await.map_err(tsunagu_db::internal)?;
    let child = st
        .accounts
        .patients
        .add_family(
            yamada_acct,
            &person(
                "山田",
                "花子",
                "ヤマダ",
                "ハナコ",
                "2019-06-20",
                Sex::Female,
            )?,
        )
        .await?;
    if let (Some(central), Some(clinic)) = (ids.first(), ids.get(2)) {
        st.accounts
            .patients
            .register_at(*central, yamada_id, Some("C-00101"))
            .await?;
        st.accounts
            .patients
            .register_at(*central, child, Some("C-00102"))
            .await?;
        st.accounts
            .patients
            .register_at(*clinic, sato_id, Some("1001"))
            .await?;
    }
    Ok(())
}

fn person(
    f: &str,
    g: &str,
    fk: &str,
    gk: &str,
    birth: &str,
    sex: Sex,
) -> Result<NewPatient, DomainError> {
    Ok(NewPatient {
        family_name: f.into(),
        given_name: g.into(),
        family_name_kana: fk.into(),
        given_name_kana: gk.into(),
        birth_date: birth.parse().map_err(DomainError::internal)?,
        sex,
    })
}

/// The demo logins, for the start-up banner.
pub fn banner(base: &str) -> String {
    let mut s = String::new();
    s.push_str(&format!("\n  tsunagu is running at {base}\n\n"));
    s.push_str(&format!("  Patients (phone + password):   {base}/login\n"));
    s.push_str(&format!(
        "    090-0000-0001 / {DEMO_PASSWORD}   山田 太郎 (family: 山田 花子)\n"
    ));
    s.push_str(&format!(
        "    090-0000-0002 / {DEMO_PASSWORD}   佐藤 美咲\n"
    ));
    s.push_str(&format!(
        "  Staff (facility ID + login ID): {base}/staff/login\n"
    ));
    for (slug, name, ..) in FACILITIES {
        s.push_str(&format!("    {slug:<16} {name}\n"));
    }
    s.push_str(&format!(
        "    login IDs: admin, doctor, doctor2, nurse, clerk — password {DEMO_PASSWORD}\n"
    ));
    s.push_str(&format!(
        "    admins and doctors enrol TOTP (any authenticator app) at first login with the\n    enrolment code {DEMO_ENROL_CODE} (in a clinic, each person's own code from their admin)\n"
    ));
    s.push_str(&format!(
        "  Operator: {base}/ops/login   ops / {DEMO_PASSWORD} (TOTP at first login, code {DEMO_ENROL_CODE})\n"
    ));
    s
}

/// Demo data of the eligibility service: an institution per demo facility with a general,
/// a viewer and an admin account, the operating body's account, the seed's example records,
/// a generated population and a case of more than five hits. Loaded only into an empty
/// database.
pub async fn load_eligibility_if_empty(
    store: &tsunagu_eligibility::EligibilityStore,
    access: &tsunagu_eligibility::access::AccessStore,
) -> anyhow::Result<bool> {
    use tsunagu_eligibility::access::Role;
    let e = |e: DomainError| anyhow::anyhow!("{e}");
    if access
        .find_account(None, "jisshi")
        .await
        .map_err(e)?
        .is_some()
    {
        return Ok(false);
    }
    let hash = {
        let pw = DEMO_PASSWORD.to_string();
        tokio::task::spawn_blocking(move || hash_blocking(&pw))
            .await?
            .map_err(e)?
    };
    access
        .create_account(None, "jisshi", "実施機関 担当", Role::Operator, &hash)
        .await
        .map_err(e)?;
    for (code, (_, name, ..)) in ELIGIBILITY_CODES.iter().zip(FACILITIES) {
        access.create_institution(code, name).await.map_err(e)?;
        for (login, display, role) in [
            ("general", "一般1", Role::General),
            ("viewer", "閲覧者1", Role::Viewer),
            ("admin", "管理者1", Role::Admin),
        ] {
            access
                .create_account(Some(code), login, display, role, &hash)
                .await
                .map_err(e)?;
        }
    }
    store
        .import(
            tsunagu_eligibility_domain::generate::seed_examples()
                .into_iter()
                .chain(tsunagu_eligibility_domain::generate::Generator::new(2026).take(5000))
                // Last, so the generated records keep their ids: the case of more than five
                // hits (高橋花子 / 昭和60年7月7日 / 女性 / 東京都).
                .chain(tsunagu_eligibility_domain::generate::crowded_examples()),
        )
        .await
        .map_err(e)?;
    // A My Number card identity bound to the first example record, for method 1.
    store.bind_card(1, DEMO_MYNA_CARD).await.map_err(e)?;
    Ok(true)
}

/// Each demo facility's account at the demo eligibility service (its general account).
pub fn eligibility_links() -> std::collections::HashMap<String, tsunagu_insurance::check::Link> {
    ELIGIBILITY_CODES
        .iter()
        .zip(FACILITIES)
        .map(|(code, (slug, ..))| {
            (
                slug.to_string(),
                tsunagu_insurance::check::Link {
                    institution: (*code).to_string(),
                    // A viewer account: the four-facts search after an outage (method 3)
                    // is refused to general accounts (F2); methods 1 and 2 work for all.
                    login_id: "viewer".into(),
                    password: DEMO_PASSWORD.into(),
                },
            )
        })
        .collect()
}

/// The card identity of the demo's My Number card (what a card reader would return).
pub const DEMO_MYNA_CARD: &str = "MYNA-DEMO-0001";

/// 医療機関コード of the demo facilities, in the order of `FACILITIES`.
pub const ELIGIBILITY_CODES: [&str; 3] = ["1310000011", "1110000022", "0110000033"];

/// The eligibility demo logins, for the start-up banner.
pub fn eligibility_banner(base: &str) -> String {
    let mut s = format!("  Eligibility service (オンライン資格確認): {base}/login\n");
    for (code, (_, name, ..)) in ELIGIBILITY_CODES.iter().zip(FACILITIES) {
        s.push_str(&format!("    {code}  {name}: general / viewer / admin\n"));
    }
    s.push_str(&format!(
        "    operating body (実施機関): leave the code empty, jisshi — password {DEMO_PASSWORD}\n"
    ));
    s
}
