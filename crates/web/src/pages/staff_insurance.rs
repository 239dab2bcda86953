//! Staff confirm a booking's insurance with the eligibility service (A4, F8), from the
//! booking's page and the API alike:
//!
//! - normally by the registered card's numbers (method 2, at today's date);
//! - while the service is down, the visit is recorded there and the patient's four facts are
//!   kept with the booking (the patient's statement, as on a 被保険者資格申立書);
//! - after recovery, within the operating body's period, the qualification is confirmed by
//!   those facts at the visit date (method 3). 2–5 hits are listed for staff to pick the
//!   patient's own; none or more than five say what to do.
//!
//! Every answer is kept with the booking and with the registration (where the patient sees
//! it), audited as an access to the patient's data, and pushed to the facility's screens.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Form, Router};
use serde::{Deserialize, Serialize};
use tsunagu_booking::Booking;
use tsunagu_insurance::check::{Candidate, FourFactsAnswer, Outcome};
use tsunagu_insurance::outage::{FourFacts, Method};
use tsunagu_kernel::DomainError;

use super::staff::audit_access;
use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::session::{ClientIp, StaffMember, see_other};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/bookings/{id}/insurance/check", post(check))
        .route(
            "/staff/bookings/{id}/insurance/my-number-card",
            post(myna_check),
        )
        .route(
            "/staff/bookings/{id}/insurance/outage-visit",
            post(outage_visit),
        )
        .route(
            "/staff/bookings/{id}/insurance/four-facts",
            post(four_facts),
        )
        .route(
            "/staff/bookings/{id}/insurance/four-facts/{candidate}",
            post(four_facts_pick),
        )
        .route("/staff/settings/eligibility", post(save_link))
        .route("/staff/settings/eligibility/remove", post(remove_link))
}

/// The facility's link as the settings screen shows it (never the password).
#[derive(Default)]
pub struct LinkView {
    /// 医療機関コード and user id in use.
    pub current: Option<(String, String)>,
    /// Whether it comes from the configuration rather than this screen.
    pub from_config: bool,
}

pub(crate) async fn link_view(st: &AppState, me: &StaffMember) -> AppResult<LinkView> {
    Ok(match st.eligibility_links.get(me.scope()).await? {
        Some(l) => LinkView {
            current: Some((l.institution, l.login_id)),
            from_config: false,
        },
        None => match st.config.eligibility.configured(&me.facility.slug) {
            Some(l) => LinkView {
                current: Some((l.institution, l.login_id)),
                from_config: true,
            },
            None => LinkView::default(),
        },
    })
}

#[derive(Deserialize, Default)]
pub struct LinkForm {
    #[serde(default)]
    institution: String,
    #[serde(default)]
    login_id: String,
    #[serde(default)]
    password: String,
}

/// Stores the facility's account at the eligibility service, after proving it logs in.
async fn save_link(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<LinkForm>,
) -> AppResult<Response> {
    me.require_admin()?;
    let checked = async {
        let link = tsunagu_insurance::check::Link::parse(&f.institution, &f.login_id, &f.password)?;
        st.config.eligibility.verify(&link).await?;
        Ok::<_, DomainError>(link)
    }
    .await;
    let link = match checked {
        Ok(l) => l,
        Err(e) => {
            // The settings screen has other forms: this one's fields are `elig_*`.
            let e = match e {
                DomainError::Invalid(fs) => DomainError::Invalid(
                    fs.into_iter()
                        .map(|mut f| {
                            f.field = format!("elig_{}", f.field).into();
                            f
                        })
                        .collect(),
                ),
                other => other,
            };
            let errors = FormErrors::from_error(e, ctx.lang)?;
            return super::staff::settings_page(&st, ctx, &me, errors, Default::default()).await;
        }
    };
    st.eligibility_links
        .save(me.scope(), &link, &me.by())
        .await?;
    Ok(see_other("/staff/settings#eligibility"))
}

async fn remove_link(State(st): State<AppState>, me: StaffMember) -> AppResult<Response> {
    me.require_admin()?;
    st.eligibility_links.remove(me.scope(), &me.by()).await?;
    Ok(see_other("/staff/settings#eligibility"))
}

/// What a form on the booking's page leaves for it to show.
#[derive(Default)]
pub struct Extras {
    /// A message key for the top of the page.
    pub notice: Option<&'static str>,
    /// What to fix.
    pub errors: FormErrors,
    /// The outage form as typed.
    pub form: Option<OutageForm>,
    /// A four-facts search's 2–5 candidates.
    pub candidates: Vec<Candidate>,
}

/// The four facts as typed (dates `YYYY-MM-DD`, sex 1/2/3).
#[derive(Debug, Deserialize, Serialize, Default, Clone)]
pub struct OutageForm {
    /// 氏名 (name or kana, at least one).
    #[serde(default)]
    pub name: String,
    /// 氏名（カナ）.
    #[serde(default)]
    pub kana: String,
    /// 生年月日 `YYYY-MM-DD`.
    #[serde(default)]
    pub birth_date: String,
    /// 性別: 1 男, 2 女, 3 未設定.
    #[serde(default)]
    pub sex: String,
    /// 住所 (address or insurer name, at least one).
    #[serde(default)]
    pub address: String,
    /// 保険者名.
    #[serde(default)]
    pub insurer_name: String,
}

/// The recorded outage-time visit, for the page.
pub struct OutageView {
    pub visit_date: String,
    /// 生年月日 in 和暦, as the eligibility service lists it.
    pub birth: String,
    pub facts: FourFacts,
    pub sex_key: &'static str,
}

/// One answer kept with the booking, for the page.
pub struct CheckRow {
    pub at: String,
    pub method_key: &'static str,
    pub valid: bool,
    pub result: String,
    pub date: String,
}

/// The insurance section's data: the outage-time visit, the booking's answers, and the
/// outage form (as typed, or filled from the patient's profile).
pub(crate) async fn section(
    st: &AppState,
    me: &StaffMember,
    b: &Booking,
    form: Option<OutageForm>,
) -> AppResult<(Option<OutageView>, Vec<CheckRow>, OutageForm)> {
    let outage = st.insurance.outage_visit(b.id).await?.map(|o| OutageView {
        visit_date: o.visit_date.to_string(),
        birth: tsunagu_calendar::wareki::display(o.facts.birth_date),
        sex_key: o.facts.sex.label_key(),
        facts: o.facts,
    });
    let checks = st
        .insurance
        .booking_checks(b.id)
        .await?
        .into_iter()
        .map(|c| CheckRow {
            at: crate::ctx::format_ms(c.checked_at, &me.facility.time_zone),
            method_key: c.method.label_key(),
            valid: c.outcome.is_valid(),
            result: c.outcome.validity_name,
            date: c.outcome.confirmation_date,
        })
        .collect();
    let form = match form {
        Some(f) => f,
        None => {
            let p = st
                .accounts
                .patients
                .get_at(me.scope(), b.patient_id)
                .await?
                .patient;
            OutageForm {
                name: p.full_name(),
                kana: format!("{}{}", p.family_name_kana, p.given_name_kana),
                birth_date: p.birth_date.map(|d| d.to_string()).unwrap_or_default(),
                sex: p.sex.map(|s| s.code().to_string()).unwrap_or_default(),
                address: String::new(),
                insurer_name: String::new(),
            }
        }
    };
    Ok((outage, checks, form))
}

/// The facility's account at the eligibility service: the one its admin stored, else the
/// configuration's.
pub(crate) async fn link_for(
    st: &AppState,
    me: &StaffMember,
) -> AppResult<tsunagu_insurance::check::Link> {
    match st.eligibility_links.get(me.scope()).await? {
        Some(l) => Ok(l),
        None => st
            .config
            .eligibility
            .configured(&me.facility.slug)
            .ok_or_else(|| DomainError::Conflict("error.insurance.not_linked").into()),
    }
}

/// Keeps an answer with the booking and the registration (the store appends the audit
/// entry in the same transaction) and tells the facility's screens.
async fn keep(
    st: &AppState,
    me: &StaffMember,
    b: &Booking,
    method: Method,
    outcome: &Outcome,
    seen_registration: Option<i64>,
) -> AppResult<()> {
    let registration = seen_registration.map(|seen| (b.patient_id, seen));
    if !st
        .insurance
        .record_answer(b.id, b.patient_id, method, outcome, &me.by(), registration)
        .await?
    {
        return Err(DomainError::Conflict("error.insurance.check_changed").into());
    }
    st.tell_facility(me.scope(), "booking.changed", b.id).await;
    Ok(())
}

/// Confirms the patient's registered insurance card by its numbers (method 2), as this
/// facility's institution account: at the visit date for an outage-time visit (allowed after
/// recovery), else at the facility's today.
pub(crate) async fn run_insurance_check(
    st: &AppState,
    me: &StaffMember,
    id: i64,
) -> AppResult<Outcome> {
    let b = st.booker.bookings.get_at(me.scope(), id).await?;
    // The card numbers are the patient's until they share their record with the facility.
    st.accounts
        .patients
        .ensure_shared(me.scope(), b.patient_id)
        .await?;
    let reg = st
        .insurance
        .get(b.patient_id)
        .await?
        .ok_or(DomainError::Conflict("error.insurance.none_registered"))?;
    if reg.kind == tsunagu_insurance::Kind::Myna {
        return Err(DomainError::Conflict("error.insurance.check_myna").into());
    }
    let on = match st.insurance.outage_visit(b.id).await? {
        Some(o) => o.visit_date,
        None => st.booker.today(&me.facility),
    };
    let query = tsunagu_insurance::check::Query {
        insurer_number: reg.insurer_number.clone().unwrap_or_default(),
        symbol: reg.symbol.clone().unwrap_or_default(),
        number: reg.number.clone().unwrap_or_default(),
        branch: reg.branch.clone().unwrap_or_default(),
        confirmation_date: on.to_string(),
    };
    let link = link_for(st, me).await?;
    let outcome = st.config.eligibility.by_card(&link, &query).await?;
    keep(
        st,
        me,
        &b,
        Method::CardNumbers,
        &outcome,
        Some(reg.updated_at),
    )
    .await?;
    Ok(outcome)
}

/// Confirms by My Number card (method 1) at the facility's today: `card` is what the
/// clinic's card reader returned after the patient's PIN or face check (no reader exists
/// here; a real one would post this itself).
pub(crate) async fn run_myna_check(
    st: &AppState,
    me: &StaffMember,
    id: i64,
    card: &str,
) -> AppResult<Outcome> {
    let b = st.booker.bookings.get_at(me.scope(), id).await?;
    let card = card.trim();
    if card.is_empty() || card.len() > 128 || card.chars().any(char::is_control) {
        return Err(DomainError::invalid("card", "error.insurance.card_identity").into());
    }
    let seen = st.insurance.get(b.patient_id).await?.map(|r| r.updated_at);
    let link = link_for(st, me).await?;
    let outcome = st
        .config
        .eligibility
        .by_my_number_card(&link, card, st.booker.today(&me.facility))
        .await?;
    keep(st, me, &b, Method::MyNumberCard, &outcome, seen).await?;
    Ok(outcome)
}

/// Records the booking as a visit while the eligibility service is down, with the four
/// facts the patient stated. The service must be down (it refuses otherwise).
pub(crate) async fn run_record_outage_visit(
    st: &AppState,
    me: &StaffMember,
    id: i64,
    f: &OutageForm,
) -> AppResult<()> {
    let b = st.booker.bookings.get_at(me.scope(), id).await?;
    // Only a visit that takes place: not a cancelled booking or one the patient missed.
    if matches!(
        b.status,
        tsunagu_booking::BookingStatus::Cancelled | tsunagu_booking::BookingStatus::NoShow
    ) {
        return Err(DomainError::Conflict("error.insurance.outage_visit_closed").into());
    }
    // The visit is the one happening now: a booking of another day is not an outage-time
    // visit of today's outage.
    let today = st.booker.today(&me.facility);
    let day = tsunagu_kernel::clock::from_ms(b.starts_at)
        .to_zoned(me.facility.tz())
        .date();
    if day != today {
        return Err(DomainError::Conflict("error.insurance.outage_visit_today").into());
    }
    if st.insurance.outage_visit(b.id).await?.is_some() {
        return Err(DomainError::Conflict("error.insurance.outage_visit_recorded").into());
    }
    let facts = FourFacts::parse(
        &f.name,
        &f.kana,
        &f.birth_date,
        &f.sex,
        &f.address,
        &f.insurer_name,
    )?;
    // The service learns only that booking N came; the facts stay here until the search.
    let link = link_for(st, me).await?;
    let remote = st
        .config
        .eligibility
        .record_outage_visit(&link, &format!("booking-{}", b.id))
        .await?;
    st.insurance
        .record_outage_visit(b.id, b.patient_id, remote, today, &facts, &me.by())
        .await?;
    st.tell_facility(me.scope(), "booking.changed", b.id).await;
    Ok(())
}

/// Confirms an outage-time visit by its four facts (method 3) at the visit date; with
/// `pick`, opens that candidate of an earlier 2–5 hit list. None or more than five hits are
/// errors saying what to do; a list is returned for staff to pick from.
pub(crate) async fn run_four_facts(
    st: &AppState,
    me: &StaffMember,
    ip: &str,
    id: i64,
    pick: Option<i64>,
) -> AppResult<FourFactsAnswer> {
    let b = st.booker.bookings.get_at(me.scope(), id).await?;
    let visit = st
        .insurance
        .outage_visit(b.id)
        .await?
        .ok_or(DomainError::Conflict("error.insurance.no_outage_visit"))?;
    let client = &st.config.eligibility;
    let link = link_for(st, me).await?;
    let answer = match pick {
        Some(c) => FourFactsAnswer::Confirmed(
            client
                .four_facts_pick(&link, visit.remote_id, c, visit.visit_date)
                .await?,
        ),
        None => {
            client
                .four_facts(&link, visit.remote_id, &visit.facts, visit.visit_date)
                .await?
        }
    };
    match &answer {
        FourFactsAnswer::Confirmed(outcome) => {
            let seen = st.insurance.get(b.patient_id).await?.map(|r| r.updated_at);
            keep(st, me, &b, Method::FourFacts, outcome, seen).await?;
        }
        FourFactsAnswer::Candidates(c) => {
            // Other people's qualifications were shown: that too is an access to record.
            audit_access(
                st,
                me,
                Some(b.patient_id),
                "insurance.four_facts",
                format!("booking={} candidates={}", b.id, c.len()),
                ip,
            )
            .await?;
        }
        FourFactsAnswer::TooMany(_) => {
            return Err(DomainError::Conflict("error.insurance.four_facts_too_many").into());
        }
        FourFactsAnswer::NotFound => {
            return Err(DomainError::Conflict("error.insurance.four_facts_none").into());
        }
    }
    Ok(answer)
}

/// Shows the booking's page again with what went wrong, or the error page for what a form
/// cannot show.
async fn again(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    id: i64,
    e: crate::error::AppError,
    form: Option<OutageForm>,
) -> AppResult<Response> {
    let errors = FormErrors::from_error(e.0, ctx.lang)?;
    let b = st.booker.bookings.get_at(me.scope(), id).await?;
    let extras = Extras {
        errors,
        form,
        ..Default::default()
    };
    super::staff_booking::render_detail(st, ctx, me, b, extras).await
}

async fn check(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match run_insurance_check(&st, &me, id).await {
        Ok(_) => Ok(see_other(&format!("/staff/bookings/{id}#insurance-check"))),
        Err(e) => again(&st, ctx, &me, id, e, None).await,
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct CardForm {
    /// The card identity the reader returned.
    #[serde(default)]
    pub card: String,
}

async fn myna_check(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<CardForm>,
) -> AppResult<Response> {
    match run_myna_check(&st, &me, id, &f.card).await {
        Ok(_) => Ok(see_other(&format!("/staff/bookings/{id}#insurance-check"))),
        Err(e) => again(&st, ctx, &me, id, e, None).await,
    }
}

async fn outage_visit(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<OutageForm>,
) -> AppResult<Response> {
    match run_record_outage_visit(&st, &me, id, &f).await {
        Ok(()) => Ok(see_other(&format!(
            "/staff/bookings/{id}?done=outage#outage-visit"
        ))),
        Err(e) => again(&st, ctx, &me, id, e, Some(f)).await,
    }
}

async fn four_facts(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    ClientIp(ip): ClientIp,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match run_four_facts(&st, &me, &ip, id, None).await {
        Ok(FourFactsAnswer::Candidates(candidates)) => {
            let b = st.booker.bookings.get_at(me.scope(), id).await?;
            let extras = Extras {
                candidates,
                ..Default::default()
            };
            super::staff_booking::render_detail(&st, ctx, &me, b, extras).await
        }
        Ok(_) => Ok(see_other(&format!("/staff/bookings/{id}#insurance-check"))),
        Err(e) => again(&st, ctx, &me, id, e, None).await,
    }
}

async fn four_facts_pick(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    ClientIp(ip): ClientIp,
    Path((id, candidate)): Path<(i64, i64)>,
) -> AppResult<Response> {
    match run_four_facts(&st, &me, &ip, id, Some(candidate)).await {
        Ok(_) => Ok(see_other(&format!("/staff/bookings/{id}#insurance-check"))),
        Err(e) => again(&st, ctx, &me, id, e, None).await,
    }
}
