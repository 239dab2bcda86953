//! Facility set-up by staff: menus with the admin's approval for others' changes (B9),
//! doctors' weekly hours and exceptions, and suspending online care for maintenance (G1).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use tsunagu_accounts::Role;
use tsunagu_kernel::{DomainError, StaffId};
use tsunagu_scheduling::Menu;
use tsunagu_scheduling::schedule::{Exception, ExceptionKind, parse_hhmm};
use tsunagu_scheduling::{MenuForm, parse_day};

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page_status};
use crate::session::{StaffMember, see_other};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/menus", get(menus).post(menu_create))
        .route("/staff/menus/{id}", get(menu_edit).post(menu_update))
        .route("/staff/menus/changes/{id}", post(menu_decide))
        .route("/staff/hours", get(hours))
        .route("/staff/hours/weekly", post(hours_weekly))
        .route("/staff/hours/exceptions", post(hours_exception))
        .route("/staff/settings/suspend", post(suspend))
        .route("/staff/settings/video-entry", post(video_entry))
        .route("/staff/settings/legal", post(legal_post))
}

/// A pending proposal as listed: every field it changes, before → after, in words.
pub struct Pending {
    id: i64,
    name: String,
    /// A new menu rather than a change.
    is_new: bool,
    /// (field, before, after); `before` is empty for a new menu.
    changes: Vec<(String, String, String)>,
    by: String,
}

/// A menu field's value as the admin reads it (Japanese first).
fn shown(ctx: &PageCtx, v: &tsunagu_scheduling::MenuValue) -> String {
    use tsunagu_scheduling::MenuValue;
    match v {
        MenuValue::Text(t) if t.trim().is_empty() => ctx.t("menus.empty").into_owned(),
        MenuValue::Text(t) => t.clone(),
        MenuValue::Mode(m) => ctx.t(m.label_key()).into_owned(),
        MenuValue::Minutes(n) => ctx.ta("menus.minutes_value", "n", n),
        MenuValue::Yen(n) => ctx.ta("money.yen", "n", n),
        MenuValue::Insured(true) => ctx.t("menu.insured").into_owned(),
        MenuValue::Insured(false) => ctx.t("menu.self_pay").into_owned(),
        MenuValue::Questions(q) if q.is_empty() => ctx.t("menus.empty").into_owned(),
        MenuValue::Questions(q) => q.join(" / "),
    }
}

#[derive(Template)]
#[template(path = "setup/staff_menus.html")]
struct MenusPage {
    ctx: PageCtx,
    errors: FormErrors,
    menus: Vec<Menu>,
    pending: Vec<Pending>,
    is_admin: bool,
    editing: Option<i64>,
    form: MenuForm,
    /// The questionnaire editor's rows, with empty ones to add questions.
    rows: Vec<tsunagu_scheduling::questionnaire::QuestionRow>,
    notice: Option<&'static str>,
}

async fn menus_page(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    errors: FormErrors,
    editing: Option<i64>,
    form: MenuForm,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let staff = st.accounts.staff.list(me.scope()).await?;
    let mut pending = Vec::new();
    for (id, menu, by, input) in st.booker.menus.pending(me.scope()).await? {
        let before = match menu {
            Some(m) => Some(st.booker.menus.get(me.scope(), m).await?),
            None => None,
        };
        let changes = input
            .changes_from(before.as_ref())
            .iter()
            .map(|c| {
                (
                    ctx.t(c.field).into_owned(),
                    c.before
                        .as_ref()
                        .map(|b| shown(&ctx, b))
                        .unwrap_or_default(),
                    shown(&ctx, &c.after),
                )
            })
            .collect();
        pending.push(Pending {
            id,
            name: before.map_or_else(|| input.name.clone(), |m| m.name),
            is_new: menu.is_none(),
            changes,
            by: staff
                .iter()
                .find(|s| s.id.0 == by)
                .map(|s| s.display_name.clone())
                .unwrap_or_default(),
        });
    }
    page_status(
        form_status(&errors),
        &MenusPage {
            menus: st.booker.menus.list(me.scope(), false).await?,
            pending,
            is_admin: me.user.role == Role::Admin,
            editing,
            rows: form.editor_rows(3),
            form,
            notice,
            errors,
            ctx,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    #[serde(default)]
    done: Option<String>,
}

fn notice_of(q: &NoticeQuery) -> Option<&'static str> {
    match q.done.as_deref() {
        Some("saved") => Some("menus.saved"),
        Some("proposed") => Some("menus.proposed"),
        Some("decided") => Some("menus.decided"),
        Some("hours") => Some("hours.saved"),
        _ => None,
    }
}

async fn menus(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Query(q): Query<NoticeQuery>,
) -> AppResult<Response> {
    let form = MenuForm {
        first_minutes: "30".into(),
        return_minutes: "15".into(),
        insured: true,
        ..MenuForm::default()
    };
    menus_page(&st, ctx, &me, FormErrors::none(), None, form, notice_of(&q)).await
}

async fn menu_edit(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let m = st.booker.menus.get(me.scope(), id).await?;
    menus_page(
        &st,
        ctx,
        &me,
        FormErrors::none(),
        Some(id),
        MenuForm::of(&m),
        None,
    )
    .await
}

async fn save_menu(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    id: Option<i64>,
    f: MenuForm,
) -> AppResult<Response> {
    if let Some(id) = id {
        st.booker.menus.get(me.scope(), id).await?;
    }
    let input = match f.parse() {
        Ok(i) => i,
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            return menus_page(st, ctx, me, errors, id, f, None).await;
        }
    };
    let saved = st
        .booker
        .save_menu(
            me.scope(),
            id,
            &input,
            Some(f.active),
            me.user.role == Role::Admin,
            &me.by(),
        )
        .await?;
    Ok(see_other(match saved {
        tsunagu_booking::MenuSaved::Saved => "/staff/menus?done=saved",
        tsunagu_booking::MenuSaved::Proposed => "/staff/menus?done=proposed",
    }))
}

async fn menu_create(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> AppResult<Response> {
    save_menu(&st, ctx, &me, None, MenuForm::from_fields(&f)).await
}

async fn menu_update(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> AppResult<Response> {
    save_menu(&st, ctx, &me, Some(id), MenuForm::from_fields(&f)).await
}

#[derive(Deserialize, Default)]
pub struct Decision {
    #[serde(default)]
    decision: String,
}

async fn menu_decide(
    State(st): State<AppState>,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(d): Form<Decision>,
) -> AppResult<Response> {
    me.require_admin()?;
    let approve = match d.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return Err(DomainError::invalid("decision", "error.invalid_choice").into()),
    };
    st.booker
        .decide_menu_change(me.scope(), id, approve, &me.by())
        .await?;
    Ok(see_other("/staff/menus?done=decided"))
}

#[derive(Template)]
#[template(path = "setup/staff_hours.html")]
struct HoursPage {
    ctx: PageCtx,
    errors: FormErrors,
    doctors: Vec<(i64, String)>,
    doctor: i64,
    /// (weekday, label, typed text, field name)
    week: Vec<(i64, &'static str, String, String)>,
    exceptions: Vec<String>,
    notice: Option<&'static str>,
}

const WEEKDAY_KEYS_JA: [&str; 7] = [
    "月曜日",
    "火曜日",
    "水曜日",
    "木曜日",
    "金曜日",
    "土曜日",
    "日曜日",
];
const WEEKDAY_KEYS_EN: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn hhmm(m: i64) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

async fn doctors_of(st: &AppState, me: &StaffMember) -> AppResult<Vec<(i64, String)>> {
    Ok(st
        .accounts
        .staff
        .list(me.scope())
        .await?
        .into_iter()
        .filter(|s| s.role == Role::Doctor && !s.disabled)
        .map(|s| (s.id.0, s.display_name))
        .collect())
}

async fn hours_page(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    doctor: Option<i64>,
    errors: FormErrors,
    typed: Option<&std::collections::HashMap<String, String>>,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let doctors = doctors_of(st, me).await?;
    let doctor = doctor
        .filter(|d| doctors.iter().any(|x| x.0 == *d))
        .or_else(|| doctors.first().map(|d| d.0))
        .ok_or(DomainError::NotFound)?;
    let weekly = st
        .booker
        .schedules
        .weekly(me.scope(), StaffId(doctor))
        .await?;
    let labels = if ctx.lang == tsunagu_i18n::Lang::En {
        WEEKDAY_KEYS_EN
    } else {
        WEEKDAY_KEYS_JA
    };
    let week = (1..=7)
        .map(|d| {
            let field = format!("d{d}");
            let text = match typed {
                Some(t) => t.get(&field).cloned().unwrap_or_default(),
                None => weekly
                    .iter()
                    .filter(|w| w.weekday == d)
                    .map(|w| format!("{}-{}", hhmm(w.start_minute), hhmm(w.end_minute)))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            (d, labels[usize::try_from(d - 1).unwrap_or(0)], text, field)
        })
        .collect();
    let today = st.booker.today(&me.facility);
    let until = today
        .checked_add(jiff::Span::new().days(90))
        .map_err(DomainError::internal)?;
    let exceptions = st
        .booker
        .schedules
        .exceptions(me.scope(), StaffId(doctor), today, until)
        .await?
        .into_iter()
        .map(|e| {
            format!(
                "{} {}–{} {}{}{}",
                e.day,
                hhmm(e.start_minute),
                hhmm(e.end_minute),
                match e.kind {
                    ExceptionKind::Closed => ctx.t("hours.closed"),
                    ExceptionKind::Extra => ctx.t("hours.extra"),
                },
                if e.doctor_id.is_none() {
                    format!(" ({})", ctx.t("hours.all_doctors"))
                } else {
                    String::new()
                },
                if e.note.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", e.note)
                }
            )
        })
        .collect();
    page_status(
        form_status(&errors),
        &HoursPage {
            ctx,
            errors,
            doctors,
            doctor,
            week,
            exceptions,
            notice,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct DoctorQuery {
    #[serde(default)]
    doctor: String,
    #[serde(default)]
    done: Option<String>,
}

async fn hours(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Query(q): Query<DoctorQuery>,
) -> AppResult<Response> {
    let notice = notice_of(&NoticeQuery {
        done: q.done.clone(),
    });
    hours_page(
        &st,
        ctx,
        &me,
        q.doctor.parse().ok(),
        FormErrors::none(),
        None,
        notice,
    )
    .await
}

async fn hours_weekly(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> AppResult<Response> {
    let doctor = StaffId(
        f.get("doctor")
            .and_then(|d| d.parse().ok())
            .ok_or(DomainError::NotFound)?,
    );
    if !doctors_of(&st, &me).await?.iter().any(|d| d.0 == doctor.0) {
        return Err(DomainError::NotFound.into());
    }
    let mut v = tsunagu_kernel::error::Validator::new();
    let mut all = Vec::new();
    for d in 1..=7 {
        let field = format!("d{d}");
        if let Some(hours) = v.check(parse_day(
            field.clone(),
            d,
            f.get(&field).map_or("", String::as_str),
        ))? {
            all.extend(hours);
        }
    }
    if let Err(e) = v.finish() {
        let errors = FormErrors::from_error(e, ctx.lang)?;
        return hours_page(&st, ctx, &me, Some(doctor.0), errors, Some(&f), None).await;
    }
    st.booker
        .save_weekly_hours(
            me.scope(),
            doctor,
            &all,
            me.user.role == Role::Admin,
            &me.by(),
        )
        .await?;
    Ok(see_other(&format!(
        "/staff/hours?doctor={}&done=hours",
        doctor.0
    )))
}

async fn hours_exception(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> AppResult<Response> {
    let doctor = StaffId(
        f.get("doctor")
            .and_then(|d| d.parse().ok())
            .ok_or(DomainError::NotFound)?,
    );
    if !doctors_of(&st, &me).await?.iter().any(|d| d.0 == doctor.0) {
        return Err(DomainError::NotFound.into());
    }
    let all_doctors = f.contains_key("all_doctors");
    let get = |k: &str| f.get(k).map_or("", String::as_str);
    let res = async {
        let mut v = tsunagu_kernel::error::Validator::new();
        let day = v.check(tsunagu_kernel::values::day("day", get("day")))?;
        let start = v.check(parse_hhmm("start", get("start")))?;
        let end = v.check(if get("end") == "24:00" {
            Ok(1440)
        } else {
            parse_hhmm("end", get("end"))
        })?;
        v.finish()?;
        let (Some(day), Some(start_minute), Some(end_minute)) = (day, start, end) else {
            return Err(DomainError::internal(anyhow::anyhow!(
                "validated exception incomplete"
            )));
        };
        st.booker
            .add_schedule_exception(
                me.scope(),
                doctor,
                &Exception {
                    doctor_id: (!all_doctors).then_some(doctor),
                    day,
                    kind: if get("kind") == "extra" {
                        ExceptionKind::Extra
                    } else {
                        ExceptionKind::Closed
                    },
                    start_minute,
                    end_minute,
                    note: get("note").trim().chars().take(200).collect(),
                },
                me.user.role == Role::Admin,
                &me.by(),
            )
            .await
    }
    .await;
    match res {
        Ok(_) => Ok(see_other(&format!(
            "/staff/hours?doctor={}&done=hours",
            doctor.0
        ))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            hours_page(&st, ctx, &me, Some(doctor.0), errors, None, None).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct SuspendForm {
    #[serde(default)]
    suspended: Option<String>,
}

async fn suspend(
    State(st): State<AppState>,
    me: StaffMember,
    Form(f): Form<SuspendForm>,
) -> AppResult<Response> {
    me.require_admin()?;
    st.booker
        .set_online_suspended(me.scope(), f.suspended.is_some(), &me.by())
        .await?;
    Ok(see_other("/staff/settings"))
}

#[derive(Deserialize, Default)]
pub struct VideoEntryForm {
    #[serde(default)]
    entry: String,
}

/// An admin sets when members see 「ビデオ通話画面へ進む」.
async fn video_entry(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<VideoEntryForm>,
) -> AppResult<Response> {
    me.require_admin()?;
    match st
        .booker
        .set_video_entry(me.scope(), &f.entry, &me.by())
        .await
    {
        Ok(()) => Ok(see_other("/staff/settings#video-entry")),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            crate::staff::pages::settings_page(&st, ctx, &me, errors, Default::default()).await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct LegalForm {
    #[serde(default)]
    terms: String,
    #[serde(default)]
    privacy: String,
}

/// An admin sets the facility's own terms and privacy policy (empty: the platform's).
async fn legal_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<LegalForm>,
) -> AppResult<Response> {
    use tsunagu_clinics::legal::LegalKind;
    me.require_admin()?;
    // Both are checked before either is saved, so a refused text loses neither.
    let checked = (|| {
        let mut v = tsunagu_kernel::error::Validator::new();
        v.check(tsunagu_clinics::legal::parse_text("terms", &f.terms))?;
        v.check(tsunagu_clinics::legal::parse_text("privacy", &f.privacy))?;
        v.finish()
    })();
    let saved = match checked {
        Ok(()) => {
            async {
                st.booker
                    .set_legal_text(me.scope(), LegalKind::Terms, &f.terms, &me.by())
                    .await?;
                st.booker
                    .set_legal_text(me.scope(), LegalKind::Privacy, &f.privacy, &me.by())
                    .await
            }
            .await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => Ok(see_other("/staff/settings?done=legal#legal")),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            let extra = crate::staff::pages::SettingsExtra {
                legal: Some((f.terms, f.privacy)),
                ..Default::default()
            };
            crate::staff::pages::settings_page_with(
                &st,
                ctx,
                &me,
                errors,
                Default::default(),
                extra,
            )
            .await
        }
    }
}
