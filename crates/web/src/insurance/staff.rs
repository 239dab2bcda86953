//! The booking page's insurance section (A4, F8) and the eligibility link on the settings
//! screen. The rules (which check when, what is kept, audited and pushed) are the use cases
//! of [`tsunagu_booking::coverage`]; this module shows their forms and answers.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use tsunagu_booking::Booking;
use tsunagu_insurance::check::{Candidate, FourFactsAnswer};
use tsunagu_insurance::outage::FourFacts;
use tsunagu_kernel::DomainError;

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::session::{StaffMember, see_other};
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
            axum::routing::get(four_facts_list).post(four_facts),
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
    Ok(match st.coverage.current_link(&me.facility).await? {
        Some((l, from_config)) => LinkView {
            current: Some((l.institution, l.login_id)),
            from_config,
        },
        None => LinkView::default(),
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
    let saved = st
        .coverage
        .save_link(
            &me.by(),
            &me.facility,
            &f.institution,
            &f.login_id,
            &f.password,
        )
        .await;
    if let Err(e) = saved {
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
        return crate::staff::pages::settings_page(&st, ctx, &me, errors, Default::default()).await;
    }
    Ok(see_other("/staff/settings#eligibility"))
}

async fn remove_link(State(st): State<AppState>, me: StaffMember) -> AppResult<Response> {
    me.require_admin()?;
    st.coverage.remove_link(&me.by(), &me.facility).await?;
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

/// The four facts as typed.
pub use tsunagu_insurance::outage::StatedFacts as OutageForm;

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
    /// Someone other than the patient may hold the qualification.
    pub differs: bool,
    /// Which qualification was confirmed (保険者, 記号・番号), when the answer named one.
    pub card: String,
}

/// Whose qualification the latest check found, beside the patient's own details: rows of
/// (label key, the service's answer, the patient's registration, differs).
pub struct HolderView {
    pub rows: Vec<(&'static str, String, String, bool)>,
    pub any_difference: bool,
}

fn holder_view(
    h: &tsunagu_insurance::check::Holder,
    differences: &[String],
    p: &tsunagu_accounts::Patient,
) -> HolderView {
    let sex_key = |code: &str| match code {
        "1" => "sex.male",
        "2" => "sex.female",
        _ => "sex.unset",
    };
    let differs = |f: &str| differences.iter().any(|d| d == f);
    HolderView {
        rows: vec![
            (
                "insurance.name",
                h.name.clone(),
                p.full_name(),
                differs("name"),
            ),
            (
                "insurance.kana",
                tsunagu_calendar::kana::normalize_kana(&h.kana),
                format!("{} {}", p.family_name_kana, p.given_name_kana),
                differs("kana"),
            ),
            (
                "insurance.birth_date",
                h.birth_date
                    .parse()
                    .map(tsunagu_calendar::wareki::display)
                    .unwrap_or_else(|_| h.birth_date.clone()),
                p.birth_date
                    .map(tsunagu_calendar::wareki::display)
                    .unwrap_or_default(),
                differs("birth_date"),
            ),
            (
                "insurance.sex",
                sex_key(&h.sex).to_string(),
                p.sex
                    .map_or("sex.unset", tsunagu_kernel::Sex::label_key)
                    .to_string(),
                differs("sex"),
            ),
            (
                "insurance.holder_card",
                h.card.display(),
                String::new(),
                false,
            ),
        ],
        any_difference: !differences.is_empty(),
    }
}

/// What the booking page's insurance section shows.
pub(crate) struct Section {
    pub outage: Option<OutageView>,
    pub checks: Vec<CheckRow>,
    pub form: OutageForm,
    pub holder: Option<HolderView>,
}

/// The insurance section's data: the outage-time visit, the booking's answers, and the
/// outage form (as typed, or filled from the patient's profile).
pub(crate) async fn section(
    st: &AppState,
    me: &StaffMember,
    b: &Booking,
    form: Option<OutageForm>,
) -> AppResult<Section> {
    let outage = st.insurance.outage_visit(b.id).await?.map(|o| OutageView {
        visit_date: o.visit_date.to_string(),
        birth: tsunagu_calendar::wareki::display(o.facts.birth_date),
        sex_key: o.facts.sex.label_key(),
        facts: o.facts,
    });
    let kept = st.insurance.booking_checks(b.id).await?;
    let patient = st
        .accounts
        .patients
        .get_at(me.scope(), b.patient_id)
        .await?
        .patient;
    let holder = kept.first().and_then(|c| {
        let h = c.outcome.holder.as_ref()?;
        Some(holder_view(h, &c.outcome.differences, &patient))
    });
    let checks = kept
        .into_iter()
        .map(|c| CheckRow {
            card: c
                .outcome
                .holder
                .as_ref()
                .map(|h| h.card.display())
                .unwrap_or_default(),
            differs: !c.outcome.differences.is_empty(),
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
            let p = &patient;
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
    Ok(Section {
        outage,
        checks,
        form,
        holder,
    })
}

/// Shows the booking's page again with what went wrong, or the error page for what a form
/// cannot show.
pub(crate) async fn again(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    id: i64,
    e: DomainError,
    form: Option<OutageForm>,
) -> AppResult<Response> {
    let errors = FormErrors::from_error(e, ctx.lang)?;
    let b = st.booker.bookings.get_at(me.scope(), id).await?;
    let extras = Extras {
        errors,
        form,
        ..Default::default()
    };
    crate::booking::staff::render_detail(st, ctx, me, b, extras).await
}

async fn check(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match st.coverage.card_check(&me.by(), &me.facility, id).await {
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
    match st
        .coverage
        .my_number_card_check(&me.by(), &me.facility, id, &f.card)
        .await
    {
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
    match st
        .coverage
        .record_outage_visit(&me.by(), &me.facility, id, &f)
        .await
    {
        Ok(()) => Ok(see_other(&format!(
            "/staff/bookings/{id}?done=outage#outage-visit"
        ))),
        Err(e) => again(&st, ctx, &me, id, e, Some(f)).await,
    }
}

/// 「4情報で資格を確認する」: one hit is kept at once; a list is shown at its own address.
async fn four_facts(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match st
        .coverage
        .four_facts_start(&me.by(), &me.facility, id)
        .await
    {
        Ok(FourFactsAnswer::Candidates(_)) => Ok(see_other(&format!(
            "/staff/bookings/{id}/insurance/four-facts#insurance-check"
        ))),
        Ok(_) => Ok(see_other(&format!("/staff/bookings/{id}#insurance-check"))),
        Err(e) => again(&st, ctx, &me, id, e, None).await,
    }
}

/// The 2–5 candidates to pick from, on the booking page (a reload searches again; it never
/// posts).
async fn four_facts_list(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match st
        .coverage
        .four_facts_list(&me.by(), &me.facility, id)
        .await
    {
        Ok(candidates) => {
            let b = st.booker.bookings.get_at(me.scope(), id).await?;
            let extras = Extras {
                candidates,
                ..Default::default()
            };
            crate::booking::staff::render_detail(&st, ctx, &me, b, extras).await
        }
        Err(e) => again(&st, ctx, &me, id, e, None).await,
    }
}

async fn four_facts_pick(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path((id, candidate)): Path<(i64, i64)>,
) -> AppResult<Response> {
    match st
        .coverage
        .four_facts(&me.by(), &me.facility, id, Some(candidate))
        .await
    {
        Ok(_) => Ok(see_other(&format!("/staff/bookings/{id}#insurance-check"))),
        Err(e) => again(&st, ctx, &me, id, e, None).await,
    }
}
