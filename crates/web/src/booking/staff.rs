//! Staff booking screens (B3, B7, B10): the schedule per doctor by day or week with
//! 「すべての時間を表示する」, the day's reception list, and booking on behalf of a member
//! found by phone or of a patient with no account (院内予約).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Form, Router};
use jiff::civil::Date;
use serde::Deserialize;
use tsunagu_booking::{Booking, BookingStatus, BookingView, Source, StaffBooking, StaffBookingFor};
use tsunagu_kernel::{DomainError, Phone, StaffId};
use tsunagu_scheduling::schedule::{open_intervals, parse_hhmm};
use tsunagu_scheduling::slots::local_instant;
use tsunagu_scheduling::{Menu, Mode, VisitKind};

use crate::ctx::{FormErrors, PageCtx};
use crate::error::AppResult;
use crate::render::{form_status, page, page_status};
use crate::session::{StaffMember, see_other};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/staff/schedule", get(schedule))
        .route("/staff/reception", get(reception))
        .route("/staff/bookings/new", get(new_form).post(new_post))
        .route("/staff/bookings/{id}", get(detail))
        .route("/staff/bookings/{id}/close", axum::routing::post(close))
        .route("/staff/bookings/{id}/reopen", axum::routing::post(reopen))
}

/// Rows of the schedule are 15 minutes: fine enough for 15-minute return visits.
const ROW_MINUTES: i64 = 15;

/// A booking as a cell of the schedule.
#[derive(Clone)]
pub struct Cell {
    patient: String,
    menu: String,
    online: bool,
    walk_in: bool,
    status: &'static str,
    /// The booking started in an earlier row and still runs in this one.
    continued: bool,
    /// Its page: the booking's, or a video-call URL's visit page.
    href: String,
}

/// One row of a day.
#[derive(Clone)]
pub struct Row {
    time: String,
    at: i64,
    open: bool,
    bookings: Vec<Cell>,
}

/// One day column.
pub struct Day {
    label: String,
    closed_all_day: bool,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "booking/staff_schedule.html")]
struct SchedulePage {
    ctx: PageCtx,
    doctors: Vec<(i64, String)>,
    doctor: i64,
    date: String,
    view: String,
    all: bool,
    days: Vec<Day>,
    /// The week as one table (week view): a time and each day's row at it, if any.
    week_rows: Vec<(String, Vec<Option<Row>>)>,
    range_label: String,
    prev_href: String,
    next_href: String,
}

#[derive(Deserialize, Default)]
pub struct ScheduleQuery {
    #[serde(default)]
    doctor: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    view: String,
    #[serde(default)]
    all: Option<String>,
}

fn status_str(s: BookingStatus) -> &'static str {
    match s {
        BookingStatus::Booked => "booked",
        BookingStatus::Cancelled => "cancelled",
        BookingStatus::Completed => "completed",
        BookingStatus::NoShow => "no_show",
    }
}

fn status_key(s: BookingStatus) -> &'static str {
    match s {
        BookingStatus::Booked => "booking.status_booked",
        BookingStatus::Cancelled => "booking.status_cancelled",
        BookingStatus::Completed => "booking.status_completed",
        BookingStatus::NoShow => "booking.status_no_show",
    }
}

/// Names of patients, menus and doctors for a set of bookings, each looked up once and
/// always through the facility scope.
struct Names {
    patients: HashMap<i64, (String, Option<String>)>,
    menus: HashMap<i64, String>,
    doctors: HashMap<i64, String>,
}

async fn names(st: &AppState, me: &StaffMember, bookings: &[Booking]) -> AppResult<Names> {
    let mut n = Names {
        patients: HashMap::new(),
        menus: HashMap::new(),
        doctors: HashMap::new(),
    };
    for m in st.booker.menus.list(me.scope(), false).await? {
        n.menus.insert(m.id, m.name);
    }
    for s in st.accounts.staff.list(me.scope()).await? {
        n.doctors.insert(s.id.0, s.display_name);
    }
    for b in bookings {
        if let std::collections::hash_map::Entry::Vacant(e) = n.patients.entry(b.patient_id.0) {
            let fp = st
                .accounts
                .patients
                .get_at(me.scope(), b.patient_id)
                .await?;
            e.insert((fp.patient.full_name(), fp.chart_number));
        }
    }
    Ok(n)
}

async fn schedule(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Query(q): Query<ScheduleQuery>,
) -> AppResult<Response> {
    let f = &me.facility;
    let tz = f.tz();
    let doctors: Vec<(i64, String)> = st
        .accounts
        .staff
        .list(me.scope())
        .await?
        .into_iter()
        .filter(|s| s.role == tsunagu_accounts::Role::Doctor && !s.disabled)
        .map(|s| (s.id.0, s.display_name))
        .collect();
    let doctor = q
        .doctor
        .parse::<i64>()
        .ok()
        .filter(|d| doctors.iter().any(|x| x.0 == *d))
        .or_else(|| doctors.first().map(|d| d.0))
        .ok_or(DomainError::NotFound)?;
    let today = st.booker.today(f);
    let date: Date = tsunagu_kernel::values::day("date", &q.date).unwrap_or(today);
    let week = q.view == "week";
    let all = q.all.is_some();
    let n_days = if week { 7 } else { 1 };
    let end = date
        .checked_add(jiff::Span::new().days(n_days))
        .map_err(DomainError::internal)?;
    let bookings: Vec<Booking> = st
        .booker
        .day_list_seen_by(
            &me.by(),
            f,
            date,
            n_days,
            tsunagu_booking::DayList::Schedule(tsunagu_kernel::StaffId(doctor)),
        )
        .await?;
    let nm = names(&st, &me, &bookings).await?;
    let weekly = st
        .booker
        .schedules
        .weekly(me.scope(), StaffId(doctor))
        .await?;
    let exceptions = st
        .booker
        .schedules
        .exceptions(me.scope(), StaffId(doctor), date, end)
        .await?;
    // Video-call URLs appear on the schedule only (B8), as one row at their start.
    let span = |d: Date| {
        local_instant(&tz, d, 0)
            .ok_or_else(|| DomainError::internal(anyhow::anyhow!("no midnight")))
    };
    let calls = st
        .visits
        .url_calls(me.scope(), span(date)?, span(end)?, Some(StaffId(doctor)))
        .await?;
    let mut entries: Vec<tsunagu_scheduling::grid::Entry> = bookings
        .iter()
        .map(|b| tsunagu_scheduling::grid::Entry {
            starts_at: b.starts_at,
            ends_at: b.ends_at,
            cancelled: b.status == BookingStatus::Cancelled,
        })
        .collect();
    entries.extend(calls.iter().map(|c| tsunagu_scheduling::grid::Entry {
        starts_at: c.starts_at,
        ends_at: c.starts_at + ROW_MINUTES * 60_000,
        cancelled: c.state == tsunagu_visits::VisitState::Cancelled,
    }));
    let grid = tsunagu_scheduling::grid::build(
        &tz,
        date,
        n_days,
        ROW_MINUTES,
        |day| open_intervals(day, &weekly, &exceptions, f.open_on_holidays),
        &entries,
        all,
    );
    let cell = |i: usize, continued: bool| {
        if let Some(c) = i.checked_sub(bookings.len()).and_then(|k| calls.get(k)) {
            return Cell {
                continued,
                patient: if c.title.is_empty() {
                    ctx.t("visit.staff_title").into_owned()
                } else {
                    c.title.clone()
                },
                menu: ctx.t("schedule.url_call").into_owned(),
                online: true,
                walk_in: false,
                status: if c.state == tsunagu_visits::VisitState::Cancelled {
                    "cancelled"
                } else {
                    "url"
                },
                href: format!("/staff/visits/{}", c.id),
            };
        }
        let b = &bookings[i];
        Cell {
            continued,
            patient: nm
                .patients
                .get(&b.patient_id.0)
                .map(|p| p.0.clone())
                .unwrap_or_default(),
            menu: nm.menus.get(&b.menu_id).cloned().unwrap_or_default(),
            online: b.mode == Mode::Online,
            walk_in: b.source == Source::InClinic,
            status: status_str(b.status),
            href: format!("/staff/bookings/{}", b.id),
        }
    };
    let table = if week {
        tsunagu_scheduling::grid::by_time(&grid)
    } else {
        Vec::new()
    };
    let days: Vec<Day> = grid
        .into_iter()
        .map(|d| Day {
            label: crate::booking::patient::day_label(&ctx, d.date),
            closed_all_day: d.closed_all_day,
            rows: d
                .rows
                .into_iter()
                .map(|r| Row {
                    time: format!("{:02}:{:02}", r.minute / 60, r.minute % 60),
                    at: r.at,
                    open: r.open,
                    bookings: r.entries.into_iter().map(|(i, c)| cell(i, c)).collect(),
                })
                .collect(),
        })
        .collect();
    let week_rows = table
        .into_iter()
        .map(|(m, cells)| {
            let cells = cells
                .iter()
                .zip(&days)
                .map(|(i, d)| i.and_then(|i| d.rows.get(i).cloned()))
                .collect();
            (format!("{:02}:{:02}", m / 60, m % 60), cells)
        })
        .collect();
    let step = jiff::Span::new().days(n_days);
    let href = |d: Date| {
        format!(
            "/staff/schedule?doctor={doctor}&date={d}&view={}{}",
            if week { "week" } else { "day" },
            if all { "&all=1" } else { "" }
        )
    };
    let prev = date.checked_sub(step).map_err(DomainError::internal)?;
    page(&SchedulePage {
        range_label: if week {
            format!("{date} – {}", end.yesterday().unwrap_or(end))
        } else {
            date.to_string()
        },
        prev_href: href(prev),
        next_href: href(end),
        doctors,
        doctor,
        date: date.to_string(),
        view: if week { "week".into() } else { "day".into() },
        all,
        days,
        week_rows,
        ctx,
    })
}

/// A line of the reception list.
pub struct ReceptionRow {
    id: i64,
    time: String,
    online: bool,
    patient: String,
    walk_in: bool,
    chart: String,
    menu: String,
    doctor: String,
    status: &'static str,
    status_key: &'static str,
    late_cancel: bool,
    memo: String,
    /// Insurance column: message key, its detail (the answer's name) and whether it needs
    /// the desk's attention.
    insurance: (&'static str, String, bool),
    /// Questionnaire column: message key and whether it needs attention.
    questionnaire: (&'static str, bool),
    /// The video room, live (C8): who waits and since when, who left, in progress.
    room: Option<String>,
    /// One tap asks a patient not in the room to come in (C10).
    nudge: bool,
}

/// The reception list's words for a visit's room.
fn room_cell(
    ctx: &PageCtx,
    now: i64,
    tz: &jiff::tz::TimeZone,
    r: Option<&(tsunagu_visits::VisitState, tsunagu_visits::Room)>,
) -> Option<String> {
    use tsunagu_visits::{Room, VisitState};
    let (state, room) = r?;
    Some(match (state, room) {
        (VisitState::InProgress, _) => ctx.t("reception.room_in_progress").into_owned(),
        (VisitState::Ended, _) => ctx.t("reception.room_ended").into_owned(),
        (_, Room::PatientSince(t)) => ctx.ta(
            "reception.room_waiting",
            "min",
            &((now - t).max(0) / 60_000),
        ),
        (_, Room::PatientLeft(t)) => ctx.ta(
            "reception.room_left",
            "time",
            &tsunagu_kernel::clock::from_ms(*t)
                .to_zoned(tz.clone())
                .strftime("%H:%M"),
        ),
        (_, Room::Empty) => return None,
    })
}

/// The reception list's insurance column.
fn insurance_cell(f: Option<&tsunagu_booking::DeskFacts>) -> (&'static str, String, bool) {
    use tsunagu_booking::DeskInsurance as I;
    match f.map(|f| &f.insurance) {
        None | Some(I::SelfPay) => ("reception.ins_self_pay", String::new(), false),
        Some(I::Checked { valid, name }) => ("reception.ins_checked", name.clone(), !valid),
        Some(I::Unchecked) => ("reception.ins_unchecked", String::new(), true),
        Some(I::Missing) => ("reception.ins_missing", String::new(), true),
    }
}

/// The reception list's questionnaire column.
fn questionnaire_cell(f: Option<&tsunagu_booking::DeskFacts>) -> (&'static str, bool) {
    use tsunagu_booking::DeskQuestionnaire as Q;
    match f.map(|f| f.questionnaire) {
        None | Some(Q::NotAsked) => ("reception.q_none", false),
        Some(Q::Answered) => ("reception.q_answered", false),
        Some(Q::Unanswered) => ("reception.q_unanswered", true),
    }
}

#[derive(Template)]
#[template(path = "booking/staff_reception.html")]
struct ReceptionPage {
    ctx: PageCtx,
    date_label: String,
    prev: String,
    next: String,
    rows: Vec<ReceptionRow>,
    /// A patient was just asked to come in.
    nudged: bool,
}

#[derive(Deserialize, Default)]
pub struct DateQuery {
    #[serde(default)]
    date: String,
    #[serde(default)]
    done: String,
}

async fn reception(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Query(q): Query<DateQuery>,
) -> AppResult<Response> {
    let f = &me.facility;
    let tz = f.tz();
    let date: Date =
        tsunagu_kernel::values::day("date", &q.date).unwrap_or_else(|_| st.booker.today(f));
    let bookings = st
        .booker
        .day_list_seen_by(&me.by(), f, date, 1, tsunagu_booking::DayList::Reception)
        .await?;
    let nm = names(&st, &me, &bookings).await?;
    let desk = st.booker.desk_facts(me.scope(), &bookings).await?;
    let online: Vec<(i64, i64)> = bookings
        .iter()
        .filter(|b| b.mode == Mode::Online)
        .map(|b| (b.id, b.starts_at))
        .collect();
    let rooms = st.visits.rooms_of_bookings(me.scope(), &online).await?;
    let now = st.booker.now_ms();
    let rows = bookings
        .iter()
        .map(|b| ReceptionRow {
            room: room_cell(&ctx, now, &tz, rooms.get(&b.id)),
            nudge: b.mode == Mode::Online
                && b.status == BookingStatus::Booked
                && now >= b.starts_at - tsunagu_visits::NUDGE_FROM_MS
                && rooms.get(&b.id).is_none_or(|(s, r)| {
                    *s == tsunagu_visits::VisitState::Scheduled
                        && !matches!(r, tsunagu_visits::Room::PatientSince(_))
                }),
            insurance: insurance_cell(desk.get(&b.id)),
            questionnaire: questionnaire_cell(desk.get(&b.id)),
            id: b.id,
            time: tsunagu_kernel::clock::from_ms(b.starts_at)
                .to_zoned(tz.clone())
                .strftime("%H:%M")
                .to_string(),
            online: b.mode == Mode::Online,
            patient: nm
                .patients
                .get(&b.patient_id.0)
                .map(|p| p.0.clone())
                .unwrap_or_default(),
            walk_in: b.source == Source::InClinic,
            chart: nm
                .patients
                .get(&b.patient_id.0)
                .and_then(|p| p.1.clone())
                .unwrap_or_default(),
            menu: nm.menus.get(&b.menu_id).cloned().unwrap_or_default(),
            doctor: nm.doctors.get(&b.doctor_id.0).cloned().unwrap_or_default(),
            status: status_str(b.status),
            status_key: status_key(b.status),
            late_cancel: b.late_cancel,
            memo: b.staff_memo.clone(),
        })
        .collect();
    page(&ReceptionPage {
        nudged: q.done == "nudged",
        date_label: crate::booking::patient::day_label(&ctx, date),
        prev: date.yesterday().map(|d| d.to_string()).unwrap_or_default(),
        next: date.tomorrow().map(|d| d.to_string()).unwrap_or_default(),
        rows,
        ctx,
    })
}

#[derive(Deserialize, Default, Clone)]
pub struct NewForm {
    #[serde(default)]
    who: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    chart_number: String,
    #[serde(default)]
    member_phone: String,
    #[serde(default)]
    member_birth_date: String,
    #[serde(default)]
    menu_id: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    doctor_id: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    memo: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    doctor: String,
}

#[derive(Template)]
#[template(path = "booking/staff_booking_new.html")]
struct NewPage {
    ctx: PageCtx,
    errors: FormErrors,
    general_extra: Vec<String>,
    form: NewForm,
    menus: Vec<Menu>,
    doctors: Vec<(i64, String)>,
}

async fn new_page(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    errors: FormErrors,
    form: NewForm,
) -> AppResult<Response> {
    let menus = st.booker.menus.list(me.scope(), false).await?;
    let doctors = st
        .accounts
        .staff
        .list(me.scope())
        .await?
        .into_iter()
        .filter(|s| s.role == tsunagu_accounts::Role::Doctor && !s.disabled)
        .map(|s| (s.id.0, s.display_name))
        .collect();
    page_status(
        form_status(&errors),
        &NewPage {
            ctx,
            errors,
            general_extra: Vec::new(),
            form,
            menus,
            doctors,
        },
    )
}

async fn new_form(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Query(mut q): Query<NewForm>,
) -> AppResult<Response> {
    // Arriving from a schedule row: its instant and doctor prefill the form.
    if let Ok(at) = q.at.parse::<i64>() {
        let z = tsunagu_kernel::clock::from_ms(at).to_zoned(me.facility.tz());
        q.date = z.date().to_string();
        q.time = z.strftime("%H:%M").to_string();
    }
    if q.date.is_empty() {
        q.date = st.booker.today(&me.facility).to_string();
    }
    if !q.doctor.is_empty() {
        q.doctor_id = q.doctor.clone();
    }
    new_page(&st, ctx, &me, FormErrors::none(), q).await
}

async fn new_post(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Form(f): Form<NewForm>,
) -> AppResult<Response> {
    let res: Result<i64, DomainError> = async {
        let mut v = tsunagu_kernel::error::Validator::new();
        let menu_id = f
            .menu_id
            .parse::<i64>()
            .map_err(|_| DomainError::invalid("menu_id", "error.booking.menu"));
        let menu_id = v.check(menu_id)?;
        // Empty: the menu's own mode.
        let mode = v.check(
            (!f.mode.is_empty())
                .then(|| Mode::parse("mode", &f.mode))
                .transpose(),
        )?;
        let kind = v.check(VisitKind::parse(
            "kind",
            if f.kind.is_empty() { "return" } else { &f.kind },
        ))?;
        let doctor = v.check(
            f.doctor_id
                .parse::<i64>()
                .map(StaffId)
                .map_err(|_| DomainError::invalid("doctor_id", "error.booking.doctor")),
        )?;
        let date = v.check(
            tsunagu_kernel::values::day("starts_at", &f.date)
                .map_err(|_| DomainError::invalid("starts_at", "error.booking.slot_required")),
        )?;
        let minute = v.check(parse_hhmm("starts_at", &f.time))?;
        let who = if f.who == "member" {
            // The caller states the number and the birth date of the person to be seen;
            // the family is never listed to the clinic (see `find_member`).
            let phone = v.check(Phone::parse("member_phone", &f.member_phone))?;
            let birth = v.check(tsunagu_kernel::values::day(
                "member_birth_date",
                &f.member_birth_date,
            ))?;
            phone
                .zip(birth)
                .map(|(phone, birth_date)| StaffBookingFor::Member { phone, birth_date })
        } else {
            let chart = f.chart_number.trim();
            if !chart.is_empty() {
                v.check(tsunagu_accounts::patients::parse_chart_number(chart))?;
            }
            Some(StaffBookingFor::WalkIn {
                name: f.name.clone(),
                chart_number: (!chart.is_empty()).then(|| chart.to_string()),
            })
        };
        v.finish()?;
        let (
            Some(menu_id),
            Some(mode),
            Some(kind),
            Some(doctor),
            Some(date),
            Some(minute),
            Some(who),
        ) = (menu_id, mode, kind, doctor, date, minute, who)
        else {
            return Err(DomainError::internal(anyhow::anyhow!(
                "validated staff booking incomplete"
            )));
        };
        let starts_at = local_instant(&me.facility.tz(), date, minute).ok_or(
            DomainError::invalid("starts_at", "error.booking.slot_required"),
        )?;
        st.booker
            .book_by_staff(
                &me.facility,
                &StaffBooking {
                    staff: me.user.id,
                    who,
                    menu_id,
                    mode,
                    visit_kind: kind,
                    doctor_id: doctor,
                    starts_at,
                    memo: f.memo.clone(),
                },
                &me.by(),
            )
            .await
    }
    .await;
    match res {
        Ok(id) => Ok(see_other(&format!("/staff/bookings/{id}?done=booked"))),
        Err(e) => {
            let errors = FormErrors::from_error(e, ctx.lang)?;
            new_page(&st, ctx, &me, errors, f).await
        }
    }
}

#[derive(Template)]
#[template(path = "booking/staff_booking.html")]
struct DetailPage {
    ctx: PageCtx,
    v: BookingView,
    /// The booking's local day, `YYYY-MM-DD`, for the links to that day's lists.
    day: String,
    status_key: &'static str,
    walk_in: bool,
    /// 生年月日 (和暦 and western) and age today; empty when not given.
    birth: String,
    /// The facility's chart number (カルテ番号); empty when none.
    chart: String,
    memo: String,
    notice: Option<&'static str>,
    insurance: Option<crate::insurance::patient::InsuranceView>,
    /// Whether the patient has shared their record with this facility.
    shared: bool,
    answers: Vec<(String, String)>,
    consent: Option<String>,
    images: Vec<String>,
    is_live: bool,
    /// Marking seen is open (from an hour before the start).
    can_seen: bool,
    /// Marking a no-show is open (once the start has passed).
    can_no_show: bool,
    /// A seen/no-show mark of today may be undone.
    can_reopen: bool,
    /// The outage-visit form can be used (a live booking of today).
    offers_outage: bool,
    errors: FormErrors,
    outage: Option<crate::insurance::staff::OutageView>,
    outage_form: crate::insurance::staff::OutageForm,
    checks: Vec<crate::insurance::staff::CheckRow>,
    holder: Option<crate::insurance::staff::HolderView>,
    /// The latest check found someone other than the patient.
    holder_differs: bool,
    candidates: Vec<tsunagu_insurance::check::Candidate>,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn detail(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Query(q): Query<DoneQuery>,
) -> AppResult<Response> {
    let b = st.booker.booking_seen_by(&me.by(), me.scope(), id).await?;
    let extras = crate::insurance::staff::Extras {
        notice: q.done.map(|d| match d.as_str() {
            "outage" => "insurance.outage_saved",
            "reopened" => "staff_close.reopened",
            _ => "booking.done_staff",
        }),
        ..Default::default()
    };
    render_detail(&st, ctx, &me, b, extras).await
}

/// The booking's page for staff, with what a form on it left to show (errors, the outage
/// form as typed, four-facts candidates). The caller has checked scope and audited.
pub(crate) async fn render_detail(
    st: &AppState,
    ctx: PageCtx,
    me: &StaffMember,
    b: Booking,
    extras: crate::insurance::staff::Extras,
) -> AppResult<Response> {
    let memo = b.staff_memo.clone();
    let walk_in = b.source == Source::InClinic;
    let status_key = status_key(b.status);
    // A member booked by phone has not shared their record yet: their insurance stays
    // theirs until they do (the page says so).
    let shared = st
        .accounts
        .patients
        .is_shared(me.scope(), b.patient_id)
        .await?;
    let insurance = match st.insurance.get(b.patient_id).await? {
        Some(r) if shared => Some(crate::insurance::patient::insurance_view(st, r).await?),
        _ => None,
    };
    let crate::insurance::staff::Section {
        outage,
        checks,
        form: outage_form,
        holder,
    } = crate::insurance::staff::section(st, me, &b, extras.form).await?;
    let menu = st.booker.menus.get(me.scope(), b.menu_id).await?;
    let saved = st.booker.bookings.answers(b.id).await?;
    let answers = match &saved {
        Some(a) => menu
            .questionnaire
            .iter()
            .filter_map(|q| a.answers.get(&q.id).map(|v| (q.label.clone(), v.clone())))
            .collect(),
        None => Vec::new(),
    };
    let consent = saved.and_then(|a| {
        let at = a.consent_signed_at?;
        Some(format!(
            "{} ({})",
            a.consent_signed_name.unwrap_or_default(),
            crate::ctx::format_ms(at, &me.facility.time_zone)
        ))
    });
    let images = st
        .files
        .for_booking(b.id)
        .await?
        .into_iter()
        .map(|f| f.key)
        .collect();
    let known = st
        .accounts
        .patients
        .get_at(me.scope(), b.patient_id)
        .await?;
    let today = st.booker.today(&me.facility);
    let birth = known
        .patient
        .birth_date
        .map(|d| {
            format!(
                "{}（{}） {}",
                tsunagu_calendar::wareki::display(d),
                d,
                ctx.ta("booking.age", "n", &tsunagu_calendar::age::age_on(d, today))
            )
        })
        .unwrap_or_default();
    let chart = known.chart_number.unwrap_or_default();
    let is_live = b.status == BookingStatus::Booked;
    let now = st.booker.now_ms();
    let can_seen =
        is_live && tsunagu_booking::close_allowed(&b, BookingStatus::Completed, now).is_ok();
    let can_no_show =
        is_live && tsunagu_booking::close_allowed(&b, BookingStatus::NoShow, now).is_ok();
    let can_reopen = tsunagu_booking::reopen_allowed(&b, &me.facility, now).is_ok();
    let offers_outage = st.coverage.offers_outage_visit(&b, &me.facility);
    let v = st.booker.view(b).await?;
    let status = form_status(&extras.errors);
    page_status(
        status,
        &DetailPage {
            day: v
                .starts_local
                .get(..10)
                .unwrap_or_default()
                .replace('/', "-"),
            is_live,
            can_seen,
            can_no_show,
            can_reopen,
            offers_outage,
            ctx,
            v,
            status_key,
            walk_in,
            birth,
            chart,
            memo,
            notice: extras.notice,
            insurance,
            shared,
            answers,
            consent,
            images,
            errors: extras.errors,
            outage,
            outage_form,
            checks,
            holder_differs: holder.as_ref().is_some_and(|h| h.any_difference),
            holder,
            candidates: extras.candidates,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct CloseForm {
    #[serde(default)]
    status: String,
}

/// Cancel (late cancellations are flagged for the fee), mark seen, or mark a no-show.
async fn close(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
    Form(f): Form<CloseForm>,
) -> AppResult<Response> {
    let status = match f.status.as_str() {
        "cancelled" => BookingStatus::Cancelled,
        "completed" => BookingStatus::Completed,
        "no_show" => BookingStatus::NoShow,
        _ => return Err(DomainError::invalid("status", "error.invalid_choice").into()),
    };
    // The rule, its audit entry and the live events are the use case's.
    match st
        .booker
        .close_by_staff(&me.facility, id, status, ctx.lang, &me.by())
        .await
    {
        Ok(_) => Ok(see_other(&format!("/staff/bookings/{id}"))),
        Err(e) => crate::insurance::staff::again(&st, ctx, &me, id, e, None).await,
    }
}

/// Undoes today's seen/no-show mark (a slip of the hand).
async fn reopen(
    State(st): State<AppState>,
    ctx: PageCtx,
    me: StaffMember,
    Path(id): Path<i64>,
) -> AppResult<Response> {
    match st.booker.reopen_by_staff(&me.facility, id, &me.by()).await {
        Ok(_) => Ok(see_other(&format!("/staff/bookings/{id}?done=reopened"))),
        Err(e) => crate::insurance::staff::again(&st, ctx, &me, id, e, None).await,
    }
}
