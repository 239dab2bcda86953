//! Booking over the API: menus and free slots of a facility, a patient's bookings (book,
//! move, cancel, answer the questionnaire), and reception for staff (list, book, close).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tsunagu_booking::{Booking, BookingStatus, PatientBooking, StaffBooking, StaffBookingFor};
use tsunagu_kernel::{DomainError, PatientId, StaffId};
use tsunagu_scheduling::{Mode, VisitKind};
use utoipa::{IntoParams, ToSchema};

use crate::bearer::{ApiJson, ApiPatient, ApiStaff};
use crate::ctx::ReqLang;
use crate::error::AppResult;
use crate::state::AppState;

/// A menu as patients see it.
#[derive(Serialize, ToSchema)]
pub struct MenuDto {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `online` or `in_person`.
    pub mode: String,
    /// Minutes of a first visit.
    pub first_minutes: i64,
    /// Minutes of a return visit.
    pub return_minutes: i64,
    /// Insured (保険診療) or self-pay.
    pub insured: bool,
    /// Booking fee in yen.
    pub booking_fee_yen: i64,
}

/// A facility's bookable menus.
#[utoipa::path(get, path = "/api/v1/facilities/{slug}/menus", tag = "booking", params(("slug" = String, Path, description = "Facility slug")),
    responses((status = 200, body = [MenuDto]), (status = 404, description = "No facility with this slug")))]
pub async fn menus(
    State(st): State<AppState>,
    Path(slug): Path<String>,
) -> AppResult<Json<Vec<MenuDto>>> {
    let f = st.facilities.by_slug(&slug).await?;
    Ok(Json(
        st.booker
            .menus
            .list(f.id, true)
            .await?
            .into_iter()
            .map(|m| MenuDto {
                id: m.id,
                name: m.name,
                description: m.description,
                mode: m.mode.as_str().into(),
                first_minutes: m.first_minutes,
                return_minutes: m.return_minutes,
                insured: m.insured,
                booking_fee_yen: m.booking_fee_yen,
            })
            .collect(),
    ))
}

/// Which slots to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotQuery {
    /// Menu id.
    pub menu: i64,
    /// `first` or `return`.
    #[param(value_type = VisitKindParam, inline)]
    pub kind: String,
    /// First local date `YYYY-MM-DD` (default today).
    #[param(format = Date, pattern = r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub from: Option<String>,
    /// Days (default 7; counts outside 1–31 are brought into it).
    pub days: Option<i64>,
}

/// `first` or `return`.
// A type for the document only: the handler reads text and parses it for its own
// message, and `schema_with` would lose the parameter's `required` in utoipa.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes the parameter for the document only.
enum VisitKindParam {
    First,
    Return,
}

/// A free slot.
#[derive(Serialize, ToSchema)]
pub struct SlotDto {
    /// Doctor id.
    pub doctor_id: i64,
    /// Start (RFC 3339, UTC).
    pub starts_at: String,
    /// End (RFC 3339, UTC).
    pub ends_at: String,
}

fn rfc3339(ms: i64) -> String {
    tsunagu_kernel::clock::from_ms(ms).to_string()
}

fn parse_instant(field: &'static str, s: &str) -> Result<i64, DomainError> {
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| DomainError::invalid(field, "error.instant.invalid"))
}

/// Free slots of a menu (facility time zone for the day range; instants in UTC).
#[utoipa::path(get, path = "/api/v1/facilities/{slug}/slots", tag = "booking", params(("slug" = String, Path, description = "Facility slug"), SlotQuery),
    responses((status = 200, body = [SlotDto]), (status = 404, description = "No facility with this slug"), (status = 409, description = "The facility has paused online booking"), (status = 422, description = "Not a menu of the facility, or a bad kind or date")))]
pub async fn slots(
    State(st): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<SlotQuery>,
) -> AppResult<Json<Vec<SlotDto>>> {
    let f = st.facilities.by_slug(&slug).await?;
    if f.online_suspended {
        return Err(DomainError::Conflict("error.facility.suspended").into());
    }
    let menu = st
        .booker
        .menus
        .get(f.id, q.menu)
        .await
        .map_err(|_| DomainError::invalid("menu", "error.booking.menu"))?;
    let kind = VisitKind::parse("kind", &q.kind)?;
    let from = match q.from.as_deref() {
        Some(s) => tsunagu_kernel::values::day("from", s)?,
        None => st.booker.today(&f),
    };
    let slots = st
        .booker
        .slots(&f, &menu, kind, from, q.days.unwrap_or(7))
        .await?;
    Ok(Json(
        slots
            .into_iter()
            .filter(|s| s.free)
            .map(|s| SlotDto {
                doctor_id: s.doctor_id.0,
                starts_at: rfc3339(s.starts_at),
                ends_at: rfc3339(s.ends_at),
            })
            .collect(),
    ))
}

/// A booking.
#[derive(Serialize, ToSchema)]
pub struct BookingDto {
    /// Id.
    pub id: i64,
    /// Facility slug.
    pub facility: String,
    /// Facility name.
    pub facility_name: String,
    /// Patient id.
    pub patient_id: i64,
    /// Patient name.
    pub patient_name: String,
    /// Menu id.
    pub menu_id: i64,
    /// Menu name.
    pub menu_name: String,
    /// Doctor id.
    pub doctor_id: i64,
    /// Doctor name.
    pub doctor_name: String,
    /// `online` or `in_person`.
    pub mode: String,
    /// `first` or `return`.
    pub visit_kind: String,
    /// Start (RFC 3339, UTC).
    pub starts_at: String,
    /// End (RFC 3339, UTC).
    pub ends_at: String,
    /// `booked`, `cancelled`, `completed` or `no_show`.
    pub status: String,
    /// `web`, `phone` or `in_clinic`.
    pub source: String,
    /// Booking fee (yen).
    pub booking_fee_yen: i64,
    /// Cancelled late or no-show (cancellation fee may apply).
    pub late_cancel: bool,
    /// Whether the patient may still cancel or move it online.
    pub patient_can_cancel: bool,
}

async fn dto(st: &AppState, b: Booking) -> AppResult<BookingDto> {
    let v = st.booker.view(b).await?;
    let b = &v.booking;
    Ok(BookingDto {
        id: b.id,
        facility: v.facility_slug.clone(),
        facility_name: v.facility_name.clone(),
        patient_id: b.patient_id.0,
        patient_name: v.patient_name.clone(),
        menu_id: b.menu_id,
        menu_name: v.menu_name.clone(),
        doctor_id: b.doctor_id.0,
        doctor_name: v.doctor_name.clone(),
        mode: b.mode.as_str().into(),
        visit_kind: b.visit_kind.as_str().into(),
        starts_at: rfc3339(b.starts_at),
        ends_at: rfc3339(b.ends_at),
        status: serde_json::to_value(b.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        source: serde_json::to_value(b.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        booking_fee_yen: b.booking_fee_yen,
        late_cancel: b.late_cancel,
        patient_can_cancel: v.patient_can_cancel,
    })
}

/// The account's upcoming bookings (self and family).
#[utoipa::path(get, path = "/api/v1/me/bookings", tag = "booking", security(("bearer" = [])), responses((status = 200, body = [BookingDto])))]
pub async fn my_bookings(
    State(st): State<AppState>,
    user: ApiPatient,
) -> AppResult<Json<Vec<BookingDto>>> {
    let mut out = Vec::new();
    for b in st
        .booker
        .bookings
        .upcoming_for_account(user.account, st.clock.now_ms())
        .await?
    {
        out.push(dto(&st, b).await?);
    }
    Ok(Json(out))
}

/// One booking of the account.
#[utoipa::path(get, path = "/api/v1/me/bookings/{id}", tag = "booking", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    responses((status = 200, body = BookingDto), (status = 404, description = "Not a booking of the account")))]
pub async fn my_booking(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
) -> AppResult<Json<BookingDto>> {
    let b = st.booker.bookings.get_for_account(user.account, id).await?;
    Ok(Json(dto(&st, b).await?))
}

/// What to book.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookBody {
    /// Facility slug.
    #[serde(default)]
    #[schema(required)]
    pub facility: String,
    /// The holder's or a family member's patient id.
    #[serde(default)]
    #[schema(required)]
    pub patient_id: i64,
    /// Menu id.
    #[serde(default)]
    #[schema(required)]
    pub menu_id: i64,
    /// `first` or `return`.
    #[serde(default)]
    #[schema(required, schema_with = crate::apidoc::visit_kind)]
    pub kind: String,
    /// Doctor of the chosen slot.
    #[serde(default)]
    #[schema(required)]
    pub doctor_id: i64,
    /// Start of the chosen slot (RFC 3339).
    #[serde(default)]
    #[schema(required, format = DateTime)]
    pub starts_at: String,
}

/// Books a free slot. 409 `error.slot.taken` when someone was faster.
#[utoipa::path(post, path = "/api/v1/me/bookings", tag = "booking", security(("bearer" = [])), request_body = BookBody,
    responses((status = 201, body = BookingDto), (status = 409, description = "The slot was taken, or the facility has paused online booking"), (status = 422, description = "Unknown facility, menu, doctor or patient; a slot in the past, too far ahead or not on the grid")))]
pub async fn book(
    State(st): State<AppState>,
    ReqLang(lang): ReqLang,
    user: ApiPatient,
    ApiJson(b): ApiJson<BookBody>,
) -> AppResult<(StatusCode, Json<BookingDto>)> {
    let f = st
        .facilities
        .by_slug(&b.facility)
        .await
        .map_err(|_| DomainError::invalid("facility", "error.booking.facility"))?;
    let kind = VisitKind::parse("kind", &b.kind)?;
    let starts_at = parse_instant("starts_at", &b.starts_at)?;
    let id = st
        .booker
        .book_web(
            &f,
            &PatientBooking {
                account: user.account,
                patient: PatientId(b.patient_id),
                menu_id: b.menu_id,
                visit_kind: kind,
                doctor_id: StaffId(b.doctor_id),
                starts_at,
            },
            lang,
        )
        .await?;
    let created = st.booker.bookings.get_for_account(user.account, id).await?;
    Ok((StatusCode::CREATED, Json(dto(&st, created).await?)))
}

/// A new time for a booking.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// Doctor of the new slot.
    #[serde(default)]
    #[schema(required)]
    pub doctor_id: i64,
    /// Start of the new slot (RFC 3339).
    #[serde(default)]
    #[schema(required, format = DateTime)]
    pub starts_at: String,
}

/// Moves a booking to another free slot (until the end of the day before).
#[utoipa::path(put, path = "/api/v1/me/bookings/{id}", tag = "booking", security(("bearer" = [])), request_body = MoveBody, params(("id" = i64, Path, description = "Booking id")),
    responses((status = 200, body = BookingDto), (status = 403, description = "Too late: from the visit's day on, call the clinic"), (status = 404, description = "Not a booking of the account"), (status = 409, description = "The booking is no longer live, the slot was taken, or the facility has paused online booking"), (status = 422, description = "Unknown doctor, or a slot in the past, too far ahead or not on the grid")))]
pub async fn move_booking(
    State(st): State<AppState>,
    ReqLang(lang): ReqLang,
    user: ApiPatient,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<MoveBody>,
) -> AppResult<Json<BookingDto>> {
    let starts_at = parse_instant("starts_at", &b.starts_at)?;
    let moved = st
        .booker
        .reschedule_by_patient(user.account, id, StaffId(b.doctor_id), starts_at, lang)
        .await?;
    Ok(Json(dto(&st, moved).await?))
}

/// Cancels a booking (until the end of the day before; later, call the clinic).
#[utoipa::path(delete, path = "/api/v1/me/bookings/{id}", tag = "booking", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    responses((status = 204, description = "Cancelled"), (status = 403, description = "Too late: from the visit's day on, call the clinic"), (status = 404, description = "Not a booking of the account"), (status = 409, description = "The booking is no longer live")))]
pub async fn cancel(
    State(st): State<AppState>,
    ReqLang(lang): ReqLang,
    user: ApiPatient,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    st.booker.cancel_by_patient(user.account, id, lang).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Shares the booking's patient's record (insurance, documents) with the clinic that booked
/// them by phone; until then it sees the booking and the name only.
#[utoipa::path(post, path = "/api/v1/me/bookings/{id}/share", tag = "booking", security(("bearer" = [])), params(("id" = i64, Path, description = "Booking id")),
    responses((status = 204, description = "Shared (or already shared)"), (status = 404, description = "Not a booking of the account")))]
pub async fn share(
    State(st): State<AppState>,
    user: ApiPatient,
    Path(id): Path<i64>,
) -> AppResult<StatusCode> {
    st.booker.share_with_facility(user.account, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The day to list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    /// Local date `YYYY-MM-DD` (default today).
    #[param(format = Date, pattern = r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub date: Option<String>,
}

/// The facility's bookings of a day (受付一覧), audited.
#[utoipa::path(get, path = "/api/v1/staff/bookings", tag = "staff", security(("bearer" = [])), params(DayQuery), responses((status = 200, body = [BookingDto]), (status = 422, description = "Not a date within 1900–2100")))]
pub async fn staff_bookings(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Query(q): Query<DayQuery>,
) -> AppResult<Json<Vec<BookingDto>>> {
    let date: jiff::civil::Date = match q.date.as_deref() {
        Some(s) => tsunagu_kernel::values::day("date", s)?,
        None => st.booker.today(&me.facility),
    };
    let list = st
        .booker
        .day_list_seen_by(
            &me.by(),
            &me.facility,
            date,
            1,
            tsunagu_booking::DayList::Reception,
        )
        .await?;
    let mut out = Vec::with_capacity(list.len());
    for b in list {
        out.push(dto(&st, b).await?);
    }
    Ok(Json(out))
}

/// A staff booking.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffBookBody {
    /// For a member: their account's registered phone.
    pub member_phone: Option<String>,
    /// For a member: the birth date (`YYYY-MM-DD`) of the person to be seen, as the caller
    /// states it. With the number it identifies the holder or a family member; any
    /// mismatch gets the same answer as an unknown number.
    #[schema(format = Date, pattern = r"^(19[0-9]{2}|20[0-9]{2}|2100)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")]
    pub member_birth_date: Option<String>,
    /// For a patient with no account: their name.
    pub name: Option<String>,
    /// Chart number (optional).
    pub chart_number: Option<String>,
    /// Menu id.
    #[serde(default)]
    #[schema(required)]
    pub menu_id: i64,
    /// `online` or `in_person` when the visit differs from the menu (absent: the menu's).
    #[schema(schema_with = crate::apidoc::booking_mode)]
    pub mode: Option<String>,
    /// `first` or `return`.
    #[serde(default)]
    #[schema(required, schema_with = crate::apidoc::visit_kind)]
    pub kind: String,
    /// Doctor id.
    #[serde(default)]
    #[schema(required)]
    pub doctor_id: i64,
    /// Start (RFC 3339); closed hours allowed.
    #[serde(default)]
    #[schema(required, format = DateTime)]
    pub starts_at: String,
    /// Same-day memo (staff only).
    #[serde(default)]
    pub memo: String,
}

/// Books for a member found by phone, or in-clinic for a patient with no account.
#[utoipa::path(post, path = "/api/v1/staff/bookings", tag = "staff", security(("bearer" = [])), request_body = StaffBookBody,
    responses((status = 201, body = BookingDto), (status = 409, description = "The slot is full"), (status = 422, description = "No member with this phone and birth date, no name for a walk-in; unknown menu or doctor; a bad time")))]
pub async fn staff_book(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    ApiJson(b): ApiJson<StaffBookBody>,
) -> AppResult<(StatusCode, Json<BookingDto>)> {
    let who = match &b.member_phone {
        Some(phone) => StaffBookingFor::Member {
            phone: tsunagu_kernel::Phone::parse("member_phone", phone)?,
            birth_date: tsunagu_kernel::values::day(
                "member_birth_date",
                b.member_birth_date.as_deref().unwrap_or_default(),
            )?,
        },
        None => StaffBookingFor::WalkIn {
            name: b.name.clone().unwrap_or_default(),
            chart_number: b.chart_number.clone(),
        },
    };
    let req = StaffBooking {
        staff: me.user.id,
        who,
        menu_id: b.menu_id,
        mode: b
            .mode
            .as_deref()
            .map(|m| Mode::parse("mode", m))
            .transpose()?,
        visit_kind: VisitKind::parse("kind", &b.kind)?,
        doctor_id: StaffId(b.doctor_id),
        starts_at: parse_instant("starts_at", &b.starts_at)?,
        memo: b.memo.clone(),
    };
    let id = st
        .booker
        .book_by_staff(&me.facility, &req, &me.by())
        .await?;
    let created = st.booker.bookings.get_at(me.scope(), id).await?;
    Ok((StatusCode::CREATED, Json(dto(&st, created).await?)))
}

/// How a booking ends at reception.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// `completed`, `no_show` or `cancelled`.
    #[serde(default)]
    #[schema(required, schema_with = close_status)]
    pub status: String,
}

fn close_status() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .description(Some("`completed`, `no_show` or `cancelled`."))
        .enum_values(Some(["completed", "no_show", "cancelled"]))
        .build()
}

/// Marks a booking seen, a no-show, or cancels it (late cancellations are flagged).
#[utoipa::path(post, path = "/api/v1/staff/bookings/{id}/close", tag = "staff", security(("bearer" = [])), request_body = CloseBody, params(("id" = i64, Path, description = "Booking id")),
    responses((status = 200, body = BookingDto), (status = 404, description = "Not a booking of the facility"), (status = 409, description = "Already closed"), (status = 422, description = "Not one of the three statuses")))]
pub async fn staff_close(
    State(st): State<AppState>,
    ReqLang(lang): ReqLang,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<CloseBody>,
) -> AppResult<Json<BookingDto>> {
    let status = match b.status.as_str() {
        "cancelled" => BookingStatus::Cancelled,
        "completed" => BookingStatus::Completed,
        "no_show" => BookingStatus::NoShow,
        _ => return Err(DomainError::invalid("status", "error.invalid_choice").into()),
    };
    let closed = st
        .booker
        .close_by_staff(&me.facility, id, status, lang, &me.by())
        .await?;
    Ok(Json(dto(&st, closed).await?))
}

/// Undoes today's seen / no-show record of a booking (a slip of the hand): it is booked
/// again, its time claimed again. Audited.
#[utoipa::path(post, path = "/api/v1/staff/bookings/{id}/reopen", tag = "staff", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Booking id")),
    responses((status = 200, body = BookingDto), (status = 404, description = "Not a booking of the facility"), (status = 409, description = "Not marked seen or no-show, not marked today, or the time was taken meanwhile")))]
pub async fn staff_reopen(
    State(st): State<AppState>,
    ApiStaff(me): ApiStaff,
    Path(id): Path<i64>,
) -> AppResult<Json<BookingDto>> {
    let b = st
        .booker
        .reopen_by_staff(&me.facility, id, &me.by())
        .await?;
    Ok(Json(dto(&st, b).await?))
}
