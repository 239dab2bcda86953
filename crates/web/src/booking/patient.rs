//! Booking by patients (B1, B2, B4): pick who, first or return visit, a free slot; confirm;
//! see the booking; cancel until the end of the day before.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use tsunagu_booking::{BookingStatus, BookingView, PatientBooking};
use tsunagu_kernel::{DomainError, PatientId, StaffId};
use tsunagu_scheduling::{Menu, VisitKind};

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page, page_status};
use crate::session::{PatientUser, see_other};
use crate::state::AppState;

/// A day of slots: its label and (value, "HH:MM") pairs.
pub struct SlotDay {
    label: String,
    slots: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "booking/book.html")]
struct BookPage {
    ctx: PageCtx,
    errors: FormErrors,
    slug: String,
    facility_name: String,
    facility_phone: String,
    suspended: bool,
    menu: Menu,
    kind: String,
    patient: i64,
    patients: Vec<(i64, String)>,
    days: Vec<SlotDay>,
    next_from: String,
    change: Option<i64>,
    /// The booking's present date and time when changing it.
    current_when: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
pub struct BookQuery {
    #[serde(default)]
    menu: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    patient: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    slot: String,
    /// A booking being moved to another time (B2 change).
    #[serde(default)]
    change: String,
    /// The visit kind the slot list on the page was computed for.
    #[serde(default)]
    listed_kind: String,
}

const WEEKDAYS_JA: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];
const WEEKDAYS_EN: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `11月24日（火）` with the holiday's name when there is one.
pub fn day_label(ctx: &PageCtx, d: jiff::civil::Date) -> String {
    let i = usize::try_from(d.weekday().to_monday_zero_offset()).unwrap_or(0);
    let holiday = tsunagu_calendar_name(d);
    match ctx.lang {
        tsunagu_i18n::Lang::Ja => format!(
            "{}月{}日（{}）{}",
            d.month(),
            d.day(),
            WEEKDAYS_JA[i],
            holiday
        ),
        tsunagu_i18n::Lang::En => {
            format!("{} {}/{}{}", WEEKDAYS_EN[i], d.month(), d.day(), holiday)
        }
    }
}

fn tsunagu_calendar_name(d: jiff::civil::Date) -> String {
    tsunagu_calendar::holiday::holiday_name(d)
        .map(|n| format!(" {n}"))
        .unwrap_or_default()
}

struct Chosen {
    change: Option<i64>,
    /// The booking being changed: its present date and time, to show as 変更前.
    current_when: Option<String>,
    facility: tsunagu_clinics::Facility,
    menu: Menu,
    kind: VisitKind,
    patients: Vec<tsunagu_accounts::Patient>,
    patient: PatientId,
}

async fn load(st: &AppState, user: &PatientUser, slug: &str, q: &BookQuery) -> AppResult<Chosen> {
    let facility = st.facilities.by_slug(slug).await?;
    // Changing a booking keeps its menu, patient and visit kind; only the time moves.
    let mut q = q.clone();
    let mut current_when = None;
    let change = match q.change.parse::<i64>() {
        Ok(id) => {
            let b = st.booker.bookings.get_for_account(user.account, id).await?;
            if b.facility_id != facility.id {
                return Err(DomainError::NotFound.into());
            }
            q.menu = b.menu_id.to_string();
            q.kind = b.visit_kind.as_str().into();
            q.patient = b.patient_id.0.to_string();
            current_when = Some(st.booker.view(b).await?.starts_local);
            Some(id)
        }
        Err(_) => None,
    };
    let menu_id: i64 = q
        .menu
        .parse()
        .map_err(|_| DomainError::invalid("menu", "error.booking.menu"))?;
    let menu = match st.booker.menus.get(facility.id, menu_id).await {
        Ok(m) if m.active => m,
        Ok(_) | Err(DomainError::NotFound) => {
            return Err(DomainError::invalid("menu", "error.booking.menu").into());
        }
        Err(e) => return Err(e.into()),
    };
    let kind = if q.kind.is_empty() {
        VisitKind::First
    } else {
        VisitKind::parse("kind", &q.kind)?
    };
    let patients = st.accounts.patients.patients_of(user.account).await?;
    let patient = q
        .patient
        .parse::<i64>()
        .ok()
        .map(PatientId)
        .filter(|p| patients.iter().any(|x| x.id == *p))
        .or_else(|| patients.first().map(|p| p.id))
        .ok_or(DomainError::NotFound)?;
    Ok(Chosen {
        change,
        current_when,
        facility,
        menu,
        kind,
        patients,
        patient,
    })
}

pub async fn book_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(slug): Path<String>,
    Query(q): Query<BookQuery>,
) -> AppResult<Response> {
    let c = load(&st, &user, &slug, &q).await?;
    render_book(&st, ctx, c, &q, FormErrors::none()).await
}

async fn render_book(
    st: &AppState,
    ctx: PageCtx,
    c: Chosen,
    q: &BookQuery,
    errors: FormErrors,
) -> AppResult<Response> {
    let errors = errors.flattened();
    let today = st.booker.today(&c.facility);
    let from = tsunagu_kernel::values::day("from", &q.from)
        .unwrap_or(today)
        .max(today);
    let slots = st
        .booker
        .slots(&c.facility, &c.menu, c.kind, from, 7)
        .await?;
    let tz = c.facility.tz();
    let mut days: Vec<SlotDay> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in slots.iter().filter(|s| s.free) {
        // Several doctors free at the same time: offer the time once (the first doctor).
        if !seen.insert(s.starts_at) {
            continue;
        }
        let z = tsunagu_kernel::clock::from_ms(s.starts_at).to_zoned(tz.clone());
        let label = day_label(&ctx, z.date());
        let value = format!("{}:{}", s.doctor_id.0, s.starts_at);
        let time = z.strftime("%H:%M").to_string();
        match days.last_mut() {
            Some(d) if d.label == label => d.slots.push((value, time)),
            _ => days.push(SlotDay {
                label,
                slots: vec![(value, time)],
            }),
        }
    }
    let next_from = from
        .checked_add(jiff::Span::new().days(7))
        .map(|d| d.to_string())
        .unwrap_or_default();
    page_status(
        form_status(&errors),
        &BookPage {
            errors,
            slug: c.facility.slug.clone(),
            facility_name: c.facility.name.clone(),
            facility_phone: c.facility.phone.clone(),
            suspended: c.facility.online_suspended,
            kind: c.kind.as_str().into(),
            patient: c.patient.0,
            patients: c.patients.iter().map(|p| (p.id.0, p.full_name())).collect(),
            menu: c.menu,
            days,
            next_from,
            change: c.change,
            current_when: c.current_when.clone(),
            ctx,
        },
    )
}

fn parse_slot(s: &str) -> Result<(StaffId, i64), DomainError> {
    let bad = || DomainError::invalid("slot", "error.booking.slot_required");
    let (d, t) = s.split_once(':').ok_or_else(bad)?;
    Ok((
        StaffId(d.parse().map_err(|_| bad())?),
        t.parse().map_err(|_| bad())?,
    ))
}

#[derive(Template)]
#[template(path = "booking/book_confirm.html")]
struct ConfirmPage {
    ctx: PageCtx,
    errors: FormErrors,
    slug: String,
    facility_name: String,
    menu_name: String,
    menu_id: i64,
    patient_name: String,
    patient: i64,
    when: String,
    kind: String,
    kind_key: &'static str,
    doctor_name: String,
    fee: i64,
    slot: String,
    change: Option<i64>,
    /// The booking's present date and time when changing it.
    current_when: Option<String>,
}

pub async fn confirm_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(slug): Path<String>,
    Query(q): Query<BookQuery>,
) -> AppResult<Response> {
    let c = load(&st, &user, &slug, &q).await?;
    // The times listed were for another visit kind (a first visit takes longer): list them
    // again for the kind now chosen rather than confirm a time that may not fit it.
    if !q.listed_kind.is_empty() && q.listed_kind != c.kind.as_str() {
        let notice = FormErrors::general(ctx.lang, "book.relisted");
        return render_book(&st, ctx, c, &q, notice).await;
    }
    let (doctor, starts_at) = match parse_slot(&q.slot) {
        Ok(v) => v,
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            return render_book(&st, ctx, c, &q, errors).await;
        }
    };
    let doctor = st
        .accounts
        .staff
        .get(c.facility.id, doctor)
        .await
        .map_err(|_| DomainError::invalid("slot", "error.booking.not_offered"))?;
    let patient_name = c
        .patients
        .iter()
        .find(|p| p.id == c.patient)
        .map(|p| p.full_name())
        .unwrap_or_default();
    let when = tsunagu_kernel::clock::from_ms(starts_at)
        .to_zoned(c.facility.tz())
        .strftime("%Y/%m/%d %H:%M")
        .to_string();
    page(&ConfirmPage {
        errors: FormErrors::none(),
        slug: c.facility.slug.clone(),
        facility_name: c.facility.name.clone(),
        menu_name: c.menu.name.clone(),
        menu_id: c.menu.id,
        patient_name,
        patient: c.patient.0,
        when,
        kind: c.kind.as_str().into(),
        kind_key: c.kind.label_key(),
        doctor_name: doctor.display_name,
        fee: if c.menu.insured {
            0
        } else {
            c.menu.booking_fee_yen
        },
        slot: q.slot.clone(),
        change: c.change,
        current_when: c.current_when.clone(),
        ctx,
    })
}

pub async fn book_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(slug): Path<String>,
    Form(q): Form<BookQuery>,
) -> AppResult<Response> {
    let c = load(&st, &user, &slug, &q).await?;
    if let Some(id) = c.change {
        let res = async {
            let (doctor_id, starts_at) = parse_slot(&q.slot)?;
            st.booker
                .reschedule_by_patient(user.account, id, doctor_id, starts_at, ctx.lang)
                .await
        }
        .await;
        return match res {
            Ok(_) => Ok(see_other(&format!("/my/bookings/{id}?done=changed"))),
            Err(e) => {
                let errors = FormErrors::from_error(e, ctx.lang)?;
                render_book(
                    &st,
                    ctx,
                    c,
                    &BookQuery {
                        slot: String::new(),
                        ..q
                    },
                    errors,
                )
                .await
            }
        };
    }
    let mut asked = None;
    let res = async {
        let (doctor_id, starts_at) = parse_slot(&q.slot)?;
        let req = PatientBooking {
            account: user.account,
            patient: c.patient,
            menu_id: c.menu.id,
            visit_kind: c.kind,
            doctor_id,
            starts_at,
        };
        let res = st.booker.book_web(&c.facility, &req, ctx.lang).await;
        asked = Some(req);
        res
    }
    .await;
    match res {
        Ok(id) => Ok(see_other(&format!("/my/bookings/{id}?done=booked"))),
        // Sent again after it was booked (the back button): show that booking.
        Err(DomainError::Conflict("error.booking.already_yours")) => {
            let existing = match &asked {
                Some(req) => st.booker.own_booking_at(req).await?,
                None => None,
            };
            match existing {
                Some(id) => Ok(see_other(&format!("/my/bookings/{id}?done=already"))),
                None => Ok(see_other("/my")),
            }
        }
        Err(e) => {
            // "Just taken" and friends go back to the slot list, with the choices kept.
            let errors = FormErrors::from_error(e, ctx.lang)?;
            render_book(
                &st,
                ctx,
                c,
                &BookQuery {
                    slot: String::new(),
                    ..q
                },
                errors,
            )
            .await
        }
    }
}

#[derive(Template)]
#[template(path = "booking/booking_detail.html")]
struct DetailPage {
    ctx: PageCtx,
    errors: FormErrors,
    v: BookingView,
    status_key: &'static str,
    is_live: bool,
    notice: Option<&'static str>,
    needs_insurance: bool,
    /// The clinic's last confirmation of insurance for this booking: (valid, date).
    insurance_checked: Option<(bool, String)>,
    has_questionnaire: bool,
    answered: bool,
    images: Vec<String>,
    /// The clinic booked by phone and the patient has not shared their record yet.
    unshared: bool,
    /// An online booking still to come: whether 「ビデオ通話画面へ進む」 shows now, and from
    /// when it shows (C1).
    video: Option<(bool, String)>,
}

fn status_key(s: BookingStatus) -> &'static str {
    match s {
        BookingStatus::Booked => "booking.status_booked",
        BookingStatus::Cancelled => "booking.status_cancelled",
        BookingStatus::Completed => "booking.status_completed",
        BookingStatus::NoShow => "booking.status_no_show",
    }
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The booking detail page (also shown again after a failed upload or cancel).
pub async fn detail_page(
    st: &AppState,
    ctx: PageCtx,
    user: &PatientUser,
    id: i64,
    errors: FormErrors,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let b = st.booker.bookings.get_for_account(user.account, id).await?;
    let menu = st.booker.menus.get(b.facility_id, b.menu_id).await?;
    // An insured visit cannot start without insurance (A4): say so until it is registered.
    let needs_insurance = menu.insured && st.insurance.get(b.patient_id).await?.is_none();
    let insurance_checked = st
        .insurance
        .booking_checks(b.id)
        .await?
        .into_iter()
        .next()
        .map(|c| (c.outcome.is_valid(), c.outcome.confirmation_date));
    let has_questionnaire = !menu.questionnaire.is_empty() || !menu.consent_text.is_empty();
    let answered = st.booker.bookings.answers(b.id).await?.is_some();
    let images = st
        .files
        .for_booking(b.id)
        .await?
        .into_iter()
        .map(|f| f.key)
        .collect();
    let unshared = !st.booker.shared_with_facility(user.account, b.id).await?;
    let video = if b.mode == tsunagu_scheduling::Mode::Online && b.status == BookingStatus::Booked {
        let facility = st.facilities.get(b.facility_id).await?;
        let opens =
            tsunagu_visits::window::member_entry_opens(b.starts_at, facility.video_entry_minutes);
        Some((
            st.booker.now_ms() >= opens,
            crate::ctx::format_ms(opens.max(0), &facility.time_zone),
        ))
    } else {
        None
    };
    let v = st.booker.view(b).await?;
    page_status(
        form_status(&errors),
        &DetailPage {
            ctx,
            errors,
            unshared,
            video,
            status_key: status_key(v.booking.status),
            is_live: v.booking.status == BookingStatus::Booked,
            v,
            notice,
            needs_insurance,
            insurance_checked,
            has_questionnaire,
            answered,
            images,
        },
    )
}

pub async fn booking_detail(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    let notice = match q.done.as_deref() {
        Some("booked") => Some("booking.done_booked"),
        Some("already") => Some("booking.done_already"),
        Some("cancelled") => Some("booking.done_cancelled"),
        Some("images") => Some("images.done"),
        Some("changed") => Some("booking.done_changed"),
        Some("answers") => Some("questionnaire.saved"),
        Some("shared") => Some("share.done"),
        _ => None,
    };
    detail_page(&st, ctx, &user, id, FormErrors::none(), notice).await
}

/// The patient shares their record with the clinic that booked them by phone.
pub async fn share_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match st.booker.share_with_facility(user.account, id).await {
        Ok(()) => Ok(see_other(&format!("/my/bookings/{id}?done=shared"))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            detail_page(&st, ctx, &user, id, errors, None).await
        }
    }
}

pub async fn cancel_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    user: PatientUser,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match st
        .booker
        .cancel_by_patient(user.account, id, ctx.lang)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/my/bookings/{id}?done=cancelled"))),
        Err(DomainError::Forbidden(key)) => {
            let errors = FormErrors::general(ctx.lang, key);
            detail_page(&st, ctx, &user, id, errors, None).await
        }
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            detail_page(&st, ctx, &user, id, errors, None).await
        }
    }
}
