//! The clinic's side of a visit: 「ビデオ通話URL作成」 (B8), the visit page at the clinic URL
//! with 「患者用URLを表示」, 「このURLをコピー」, 「URL再送」 (C3, C4), title and doctor
//! edits, cancel (C5), and the doctor's start and end (C6).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use tsunagu_kernel::DomainError;
use tsunagu_visits::{Send, UrlCallInput, Visit, VisitKind};

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page_status};
use crate::session::{StaffMember, see_other};
use crate::state::AppState;

/// The creation form as typed.
#[derive(Deserialize, Default, Clone)]
pub struct NewForm {
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    doctor: String,
    #[serde(default)]
    send: String,
    #[serde(default)]
    destination: String,
}

#[derive(Template)]
#[template(path = "visits/new.html")]
struct NewPage {
    ctx: PageCtx,
    errors: FormErrors,
    form: NewForm,
    doctors: Vec<(i64, String)>,
}

async fn doctors(st: &AppState, me: &StaffMember) -> AppResult<Vec<(i64, String)>> {
    Ok(st
        .accounts
        .staff
        .list(me.scope())
        .await?
        .into_iter()
        .filter(|s| s.role == tsunagu_accounts::Role::Doctor && !s.disabled)
        .map(|s| (s.id.0, s.display_name))
        .collect())
}

async fn new_page(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    errors: FormErrors,
    form: NewForm,
) -> AppResult<Response> {
    let doctors = doctors(st, me).await?;
    page_status(
        form_status(&errors),
        &NewPage {
            ctx,
            errors,
            form,
            doctors,
        },
    )
}

pub async fn new_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Query(mut q): Query<NewForm>,
) -> AppResult<Response> {
    if q.date.is_empty() {
        q.date = st.booker.today(&me.facility).to_string();
    }
    if q.send.is_empty() {
        q.send = "none".into();
    }
    new_page(&st, ctx, &me, FormErrors::none(), q).await
}

pub async fn create(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<NewForm>,
) -> AppResult<Response> {
    let made = async {
        let input = UrlCallInput::parse(
            &me.facility.tz(),
            st.booker.now_ms(),
            f.now.is_some(),
            &f.date,
            &f.time,
            &f.title,
            &f.doctor,
            &f.send,
            &f.destination,
        )?;
        st.visits
            .create_url_call(&me.by(), &me.facility, &input)
            .await
    }
    .await;
    match made {
        Ok(v) => Ok(see_other(&format!("/staff/visits/{}?done=created", v.id))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            new_page(&st, ctx, &me, errors, f).await
        }
    }
}

#[derive(Template)]
#[template(path = "visits/staff_visit.html")]
struct VisitPage {
    ctx: PageCtx,
    errors: FormErrors,
    v: Visit,
    is_url: bool,
    is_open: bool,
    is_doctor: bool,
    state_key: &'static str,
    starts: String,
    doctor_name: String,
    doctors: Vec<(i64, String)>,
    /// The clinic URL (this page), to copy (C3).
    clinic_url: String,
    /// The patient URL and its window, when asked to show it.
    patient_url: Option<(String, String, String)>,
    /// Where and when the patient URL was last sent.
    sent: Option<(String, String, String)>,
    notice: Option<&'static str>,
    send_form: (String, String),
    edit_form: (String, String),
    /// The patient may be nudged now (not in the room, from 5 minutes before the start).
    can_nudge: bool,
    /// When the patient was last nudged, and how many times.
    nudged: Option<(String, i64)>,
    /// An insured visit whose patient registered no insurance: starting needs a reason.
    lacks_insurance: bool,
    /// The visit's guests.
    guests: Vec<GuestRow>,
    /// The invitation form as typed: (name, role, hours).
    guest_form: (String, String, String),
}

/// A guest as the visit page lists them.
pub struct GuestRow {
    id: i64,
    name: String,
    role_key: &'static str,
    until: String,
    admitted: bool,
    live: bool,
    /// Their link, right after the invitation (to copy or read out).
    url: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    #[serde(default)]
    show: Option<String>,
    #[serde(default)]
    guest: Option<i64>,
    #[serde(default)]
    done: Option<String>,
}

/// What the page shows beyond the visit: what was typed in a refused form, the patient URL
/// when asked for, a completion notice.
#[derive(Default)]
struct Typed {
    send: Option<(String, String)>,
    edit: Option<(String, String)>,
    guest: Option<(String, String, String)>,
    show: bool,
    /// The guest whose link to show.
    show_guest: Option<i64>,
    notice: Option<&'static str>,
}

async fn visit_page(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    id: i64,
    errors: FormErrors,
    typed: Typed,
) -> AppResult<Response> {
    let (show, notice) = (typed.show, typed.notice);
    let v = st.visits.get(me.scope(), id).await?;
    let f = &me.facility;
    let fmt = |ms: i64| crate::ctx::format_ms(ms, &f.time_zone);
    let doctors = doctors(st, me).await?;
    let doctor_name = doctors
        .iter()
        .find(|d| d.0 == v.doctor_id.0)
        .map(|d| d.1.clone())
        .unwrap_or_default();
    let patient_url = if show && v.kind == VisitKind::Url && v.state.is_open() {
        let (from, until) = st.visits.window(&v, f);
        st.visits
            .patient_url(&v)
            .map(|u| (u, fmt(from), fmt(until)))
    } else {
        None
    };
    let sent = v.sent.as_ref().map(|(c, to, at)| {
        (
            if c == "sms" {
                "visit.channel_sms".to_string()
            } else {
                "visit.channel_email".to_string()
            },
            to.clone(),
            fmt(*at),
        )
    });
    let send_form = typed.send.unwrap_or_else(|| {
        v.sent
            .as_ref()
            .map(|(c, to, _)| (c.clone(), display_destination(c, to)))
            .unwrap_or_else(|| ("sms".into(), String::new()))
    });
    let edit_form = typed
        .edit
        .unwrap_or_else(|| (v.title.clone(), v.doctor_id.0.to_string()));
    let can_nudge = v.state == tsunagu_visits::VisitState::Scheduled
        && st.booker.now_ms() >= v.starts_at - tsunagu_visits::NUDGE_FROM_MS;
    let nudged = v.nudged.map(|(at, n)| (fmt(at), n));
    let lacks_insurance = v.state.is_open() && st.visits.lacks_insurance(&v).await?;
    let now = st.booker.now_ms();
    let guests = st
        .visits
        .guests(f, v.id)
        .await?
        .into_iter()
        .map(|g| GuestRow {
            id: g.id,
            url: (typed.show_guest == Some(g.id) && g.is_live(now))
                .then(|| st.visits.guest_url(&g)),
            name: g.name.clone(),
            role_key: g.role.label_key(),
            until: fmt(g.valid_until),
            admitted: g.admitted_at.is_some(),
            live: g.is_live(now),
        })
        .collect();
    let guest_form = typed
        .guest
        .clone()
        .unwrap_or_else(|| (String::new(), "family".into(), "24".into()));
    page_status(
        form_status(&errors),
        &VisitPage {
            can_nudge,
            nudged,
            lacks_insurance,
            guests,
            guest_form,
            is_url: v.kind == VisitKind::Url,
            is_open: v.state.is_open(),
            is_doctor: me.user.role == tsunagu_accounts::Role::Doctor,
            state_key: v.state.label_key(),
            starts: fmt(v.starts_at),
            clinic_url: format!(
                "{}/staff/visits/{}",
                st.config.public_url.trim_end_matches('/'),
                v.id
            ),
            doctor_name,
            doctors,
            patient_url,
            sent,
            notice,
            send_form,
            edit_form,
            v,
            errors,
            ctx,
        },
    )
}

/// A stored destination as the form shows it (a number in its domestic form).
fn display_destination(channel: &str, to: &str) -> String {
    if channel == "sms" {
        tsunagu_kernel::Phone::parse("destination", to)
            .map(|p| p.display_domestic())
            .unwrap_or_else(|_| to.to_string())
    } else {
        to.to_string()
    }
}

pub async fn detail(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Query(q): Query<DetailQuery>,
) -> AppResult<Response> {
    let notice = match q.done.as_deref() {
        Some("created") => Some("visit.done_created"),
        Some("sent") => Some("visit.done_sent"),
        Some("edited") => Some("visit.done_edited"),
        Some("cancelled") => Some("visit.done_cancelled"),
        Some("started") => Some("visit.done_started"),
        Some("ended") => Some("visit.done_ended"),
        Some("nudged") => Some("visit.done_nudged"),
        Some("invited") => Some("guest.done_invited"),
        Some("admitted") => Some("guest.done_admitted"),
        Some("revoked") => Some("guest.done_revoked"),
        _ => None,
    };
    let typed = Typed {
        show: q.show.is_some(),
        show_guest: q.guest,
        notice,
        ..Typed::default()
    };
    visit_page(&st, ctx, &me, id, FormErrors::none(), typed).await
}

#[derive(Deserialize, Default)]
pub struct SendForm {
    #[serde(default)]
    send: String,
    #[serde(default)]
    destination: String,
}

pub async fn send(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<SendForm>,
) -> AppResult<Response> {
    let sent = async {
        let send = Send::parse(&f.send, &f.destination)?;
        st.visits.resend(&me.by(), &me.facility, id, &send).await
    }
    .await;
    let typed = Typed {
        send: Some((f.send, f.destination)),
        ..Typed::default()
    };
    let to = |_| format!("/staff/visits/{id}?done=sent");
    outcome(&st, ctx, &me, id, sent, to, typed).await
}

#[derive(Deserialize, Default)]
pub struct EditForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    doctor: String,
}

pub async fn edit(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<EditForm>,
) -> AppResult<Response> {
    let r = st
        .visits
        .edit(&me.by(), &me.facility, id, &f.title, &f.doctor)
        .await;
    let typed = Typed {
        edit: Some((f.title, f.doctor)),
        ..Typed::default()
    };
    let to = |_| format!("/staff/visits/{id}?done=edited");
    outcome(&st, ctx, &me, id, r, to, typed).await
}

/// A visit-page form's outcome: on to `to(result)`, or the visit page again with the
/// refusal and what was typed.
async fn outcome<T>(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    id: i64,
    r: Result<T, DomainError>,
    to: impl FnOnce(T) -> String,
    typed: Typed,
) -> AppResult<Response> {
    match r {
        Ok(x) => Ok(see_other(&to(x))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            visit_page(st, ctx, me, id, errors, typed).await
        }
    }
}

/// A state change: on to the visit page saying `done`, or its refusal shown there.
async fn moved<T>(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    id: i64,
    r: Result<T, DomainError>,
    done: &str,
) -> AppResult<Response> {
    let to = |_| format!("/staff/visits/{id}?done={done}");
    outcome(st, ctx, me, id, r, to, Typed::default()).await
}

pub async fn cancel(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let r = st.visits.cancel(&me.by(), &me.facility, id).await;
    moved(&st, ctx, &me, id, r, "cancelled").await
}

#[derive(Deserialize, Default)]
pub struct StartForm {
    #[serde(default)]
    reason: String,
}

pub async fn start(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<StartForm>,
) -> AppResult<Response> {
    let r = st
        .visits
        .start(&me.by(), me.user.role, &me.facility, id, Some(&f.reason))
        .await;
    moved(&st, ctx, &me, id, r, "started").await
}

pub async fn end(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let r = st
        .visits
        .end(&me.by(), me.user.role, &me.facility, id)
        .await;
    moved(&st, ctx, &me, id, r, "ended").await
}

/// The account to nudge for a booking's visit (a member's own; none for a walk-in).
async fn member_of(
    st: &AppState,
    me: &StaffMember,
    v: &Visit,
) -> AppResult<Option<tsunagu_accounts::Account>> {
    let Some(b) = v.booking_id else {
        return Ok(None);
    };
    let b = st.booker.bookings.get_at(me.scope(), b).await?;
    Ok(match b.account_id {
        Some(a) => Some(st.accounts.patients.account(a).await?),
        None => None,
    })
}

/// 「入室を促す」 on the visit page (C10).
pub async fn nudge(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    let v = st.visits.get(me.scope(), id).await?;
    let member = member_of(&st, &me, &v).await?;
    let r = st
        .visits
        .nudge(&me.by(), &me.facility, id, member.as_ref())
        .await;
    moved(&st, ctx, &me, id, r, "nudged").await
}

/// 「入室を促す」 from the reception list: the booking's visit, made if the patient never
/// entered.
pub async fn nudge_booking(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(booking): Path<i64>,
) -> AppResult<Response> {
    let b = st.booker.bookings.get_at(me.scope(), booking).await?;
    if b.mode != tsunagu_scheduling::Mode::Online {
        return Err(DomainError::NotFound.into());
    }
    let v = st
        .visits
        .of_booking(me.scope(), b.id, b.doctor_id, b.starts_at)
        .await?;
    let member = member_of(&st, &me, &v).await?;
    let r = st
        .visits
        .nudge(&me.by(), &me.facility, v.id, member.as_ref())
        .await;
    let day = tsunagu_kernel::clock::from_ms(b.starts_at)
        .to_zoned(me.facility.tz())
        .date();
    let to = |_| format!("/staff/reception?date={day}&done=nudged");
    outcome(&st, ctx, &me, v.id, r, to, Typed::default()).await
}

#[derive(Deserialize, Default)]
pub struct GuestForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    hours: String,
}

/// Invites a guest (family, interpreter, specialist) with their own link.
pub async fn invite_guest(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<GuestForm>,
) -> AppResult<Response> {
    let r = st
        .visits
        .invite_guest(&me.by(), &me.facility, id, &f.name, &f.role, &f.hours)
        .await;
    let typed = Typed {
        guest: Some((f.name, f.role, f.hours)),
        ..Typed::default()
    };
    let to =
        |g: tsunagu_visits::Guest| format!("/staff/visits/{id}?done=invited&guest={}#guests", g.id);
    outcome(&st, ctx, &me, id, r, to, typed).await
}

/// The doctor admits a waiting guest.
pub async fn admit_guest(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path((id, guest)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let r = st
        .visits
        .admit_guest(&me.by(), me.user.role, &me.facility, id, guest)
        .await;
    guest_moved(&st, ctx, &me, id, r, "admitted").await
}

/// Revokes a guest's link.
pub async fn revoke_guest(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path((id, guest)): Path<(i64, i64)>,
) -> AppResult<Response> {
    let r = st
        .visits
        .revoke_guest(&me.by(), &me.facility, id, guest)
        .await;
    guest_moved(&st, ctx, &me, id, r, "revoked").await
}

async fn guest_moved(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    id: i64,
    r: Result<(), DomainError>,
    done: &str,
) -> AppResult<Response> {
    let to = |()| format!("/staff/visits/{id}?done={done}#guests");
    outcome(st, ctx, me, id, r, to, Typed::default()).await
}
