//! Booking use cases: offering free slots, booking by a patient, cancelling, reminding.

use std::sync::Arc;

use futures::FutureExt;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use tsunagu_accounts::{PatientStore, Role, StaffStore};
use tsunagu_clinics::Facility;
use tsunagu_db::{Db, DbResultExt};
use tsunagu_i18n::{Lang, t, t_args};
use tsunagu_jobs::{Handler, Job, JobContext, JobError, JobQueue, NewJob};
use tsunagu_kernel::{AccountId, Clock, DomainError, DomainResult, FacilityId, PatientId, StaffId};
use tsunagu_notifications::{Channel, Outbox, OutgoingMessage};
use tsunagu_scheduling::slots::{SlotQuery, compute};
use tsunagu_scheduling::{Menu, MenuStore, Mode, ScheduleStore, Slot, VisitKind};

use crate::store::{Booking, BookingStatus, BookingStore, NewBooking, Source, cancel_deadline};

/// The longest answer to one question of a questionnaire.
const ANSWER_MAX: usize = 2000;

/// How far ahead patients may book.
pub const BOOKING_HORIZON_DAYS: i64 = 60;

/// What a patient asks to book.
#[derive(Debug, Clone)]
pub struct PatientBooking {
    /// The signed-in account.
    pub account: AccountId,
    /// Who is seen: the holder or a family member.
    pub patient: PatientId,
    /// Menu id.
    pub menu_id: i64,
    /// First or return visit.
    pub visit_kind: VisitKind,
    /// Doctor.
    pub doctor_id: StaffId,
    /// Chosen start (ms).
    pub starts_at: i64,
}

/// Who a staff booking is for.
#[derive(Debug, Clone)]
pub enum StaffBookingFor {
    /// A member found by phone (B3): the account's registered number and the birth date
    /// of the person to be seen, as the caller states them.
    Member {
        /// The account's registered mobile number.
        phone: tsunagu_kernel::Phone,
        /// The birth date of the holder or family member to be seen.
        birth_date: jiff::civil::Date,
    },
    /// A patient with no account (院内予約, B7).
    WalkIn {
        /// Name as given (required).
        name: String,
        /// Chart number (optional).
        chart_number: Option<String>,
    },
}

/// How long before its start a visit may be marked seen: the patient may wait in the
/// waiting room from one hour before (seed 001), so a visit can have taken place by then.
pub const SEEN_FROM_BEFORE_START_MS: i64 = 60 * 60 * 1000;

/// When staff may close a booking: a no-show only once its start has passed, "seen" not
/// before its visit window opens; a cancellation at any time.
pub fn close_allowed(b: &Booking, status: BookingStatus, now_ms: i64) -> DomainResult<()> {
    match status {
        BookingStatus::NoShow if now_ms < b.starts_at => {
            Err(DomainError::Conflict("error.booking.no_show_too_early"))
        }
        BookingStatus::Completed if now_ms < b.starts_at - SEEN_FROM_BEFORE_START_MS => {
            Err(DomainError::Conflict("error.booking.seen_too_early"))
        }
        _ => Ok(()),
    }
}

/// Whether a closed booking may still be put back to booked: only one marked seen or
/// no-show, and only on the day (in the facility's zone) it was marked.
pub fn reopen_allowed(b: &Booking, facility: &Facility, now_ms: i64) -> DomainResult<()> {
    if !matches!(b.status, BookingStatus::Completed | BookingStatus::NoShow) {
        return Err(DomainError::Conflict("error.booking.reopen_not_closed"));
    }
    let tz = facility.tz();
    let day = |ms: i64| {
        tsunagu_kernel::clock::from_ms(ms)
            .to_zoned(tz.clone())
            .date()
    };
    if day(b.updated_at) != day(now_ms) {
        return Err(DomainError::Conflict("error.booking.reopen_too_late"));
    }
    Ok(())
}

/// Which list of bookings staff look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayList {
    /// The reception list: every booking of the facility.
    Reception,
    /// One doctor's schedule.
    Schedule(StaffId),
}

/// What became of a menu staff saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuSaved {
    /// Applied (an admin's change).
    Saved,
    /// Waiting for an admin's approval.
    Proposed,
}

/// What staff ask to book.
#[derive(Debug, Clone)]
pub struct StaffBooking {
    /// The staff member booking.
    pub staff: StaffId,
    /// For whom.
    pub who: StaffBookingFor,
    /// Menu id.
    pub menu_id: i64,
    /// Online or in person when it differs from the menu's; `None`: the menu's own (an
    /// in-person menu booked by phone once became a video visit by a form's default).
    pub mode: Option<Mode>,
    /// First or return visit (sets the duration).
    pub visit_kind: VisitKind,
    /// Doctor.
    pub doctor_id: StaffId,
    /// Start (ms), on a 5-minute boundary; closed hours are allowed.
    pub starts_at: i64,
    /// Same-day memo for staff (never shown to the patient).
    pub memo: String,
}

/// A booking with the names a page shows.
#[derive(Debug, Clone, Serialize)]
pub struct BookingView {
    /// The booking.
    #[serde(flatten)]
    pub booking: Booking,
    /// Facility name.
    pub facility_name: String,
    /// Facility slug.
    pub facility_slug: String,
    /// Facility phone (to call after the cancel deadline).
    pub facility_phone: String,
    /// Menu name.
    pub menu_name: String,
    /// Doctor's name.
    pub doctor_name: String,
    /// Patient's name.
    pub patient_name: String,
    /// Local start, `YYYY/MM/DD HH:MM`.
    pub starts_local: String,
    /// Local end time, `HH:MM`.
    pub ends_local: String,
    /// Whether the patient may still cancel online.
    pub patient_can_cancel: bool,
}

/// The reminder job of a booking.
#[derive(Debug, Serialize, Deserialize)]
pub struct RemindJob {
    /// Facility of the booking (jobs stay within a scope too).
    pub facility_id: i64,
    /// Booking.
    pub booking_id: i64,
    /// Language of the patient when booking.
    pub lang: Lang,
}

impl Job for RemindJob {
    const KIND: &'static str = "booking.remind";
    const MAX_ATTEMPTS: i64 = 8;
}

/// The booking services.
#[derive(Debug, Clone)]
pub struct Booker {
    db: Db,
    clock: Arc<dyn Clock>,
    limiter: tsunagu_accounts::ratelimit::RateLimiter,
    /// Menus.
    pub menus: MenuStore,
    /// Weekly hours and exceptions.
    pub schedules: ScheduleStore,
    /// Bookings.
    pub bookings: BookingStore,
    pub(crate) patients: PatientStore,
    staff: StaffStore,
    facilities: tsunagu_clinics::FacilityStore,
    /// Facilities' own terms and privacy policy.
    pub legal: tsunagu_clinics::legal::LegalStore,
    outbox: Outbox,
    jobs: JobQueue,
    insurance: tsunagu_insurance::InsuranceStore,
    pub(crate) audit: tsunagu_audit::AuditLog,
    events: tsunagu_events::EventBus,
}

/// The longest staff memo on a booking.
const MEMO_MAX: usize = 500;

/// Wrong member lookups (number and birth date) a facility may make in an hour: enough for
/// a busy reception's typos, far too few to try birth dates for a number.
const MEMBER_MISSES: tsunagu_accounts::ratelimit::Limit = tsunagu_accounts::ratelimit::Limit {
    max: 30,
    window_ms: 3600 * 1000,
    key: "error.staff_book.too_many_misses",
};

fn local(ms: i64, tz: &jiff::tz::TimeZone, fmt: &str) -> String {
    tsunagu_kernel::clock::from_ms(ms)
        .to_zoned(tz.clone())
        .strftime(fmt)
        .to_string()
}

impl Booker {
    /// Wires the services.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        outbox: Outbox,
        jobs: JobQueue,
        audit: tsunagu_audit::AuditLog,
        events: tsunagu_events::EventBus,
    ) -> Self {
        Self {
            audit: audit.clone(),
            events,
            menus: MenuStore::new(db.clone(), clock.clone()),
            schedules: ScheduleStore::new(db.clone()),
            bookings: BookingStore::new(db.clone(), clock.clone()),
            patients: PatientStore::new(db.clone(), clock.clone()),
            staff: StaffStore::new(db.clone(), clock.clone()),
            facilities: tsunagu_clinics::FacilityStore::new(db.clone(), clock.clone()),
            legal: tsunagu_clinics::legal::LegalStore::new(db.clone()),
            insurance: tsunagu_insurance::InsuranceStore::new(
                db.clone(),
                clock.clone(),
                audit.clone(),
            ),
            limiter: tsunagu_accounts::ratelimit::RateLimiter::new(db.clone(), clock.clone()),
            db,
            clock,
            outbox,
            jobs,
        }
    }

    /// One booking as staff open it, audited as an access to the patient's data (another
    /// facility's id is "not found" and nothing is recorded).
    pub async fn booking_seen_by(
        &self,
        by: &tsunagu_audit::By,
        facility: FacilityId,
        id: i64,
    ) -> DomainResult<Booking> {
        let b = self.bookings.get_at(facility, id).await?;
        self.audit
            .append(by.entry(Some(b.patient_id), "booking.view", format!("booking={id}")))
            .await?;
        Ok(b)
    }

    /// The bookings staff see on the reception list or a doctor's schedule for `days` days
    /// from `date` (the facility's zone), audited as one access when any is shown.
    pub async fn day_list_seen_by(
        &self,
        by: &tsunagu_audit::By,
        facility: &Facility,
        date: Date,
        days: i64,
        list: DayList,
    ) -> DomainResult<Vec<Booking>> {
        let tz = facility.tz();
        let end = date
            .checked_add(jiff::Span::new().days(days))
            .map_err(DomainError::internal)?;
        let from = tsunagu_scheduling::slots::local_instant(&tz, date, 0).unwrap_or(0);
        let to = tsunagu_scheduling::slots::local_instant(&tz, end, 0).unwrap_or(0);
        let mut bookings = self.bookings.list_at(facility.id, from, to).await?;
        let action = match list {
            DayList::Reception => "booking.reception",
            DayList::Schedule(doctor) => {
                bookings.retain(|b| b.doctor_id == doctor);
                "booking.schedule"
            }
        };
        if !bookings.is_empty() {
            self.audit
                .append(by.entry(
                    None,
                    action,
                    format!("date={date} count={}", bookings.len()),
                ))
                .await?;
        }
        Ok(bookings)
    }

    /// Checks and stores images shared with a booking of the account (all or none).
    pub async fn share_images(
        &self,
        store: &tsunagu_files::FileStore,
        account: AccountId,
        id: i64,
        files: &[(String, Vec<u8>, String)],
    ) -> DomainResult<()> {
        let b = self.bookings.get_for_account(account, id).await?;
        if files.is_empty() {
            return Err(DomainError::invalid("images", "error.file.empty"));
        }
        if files.len() > 10 {
            return Err(DomainError::invalid("images", "error.file.too_many"));
        }
        for (_, bytes, _) in files {
            tsunagu_files::sniff("images", bytes, tsunagu_files::Accept::Images)?;
        }
        let mut tx = self.db.begin_write().await?;
        let owner = tsunagu_files::Owner {
            account: Some(account),
            facility: Some(b.facility_id),
            patient: Some(b.patient_id),
            booking: Some(b.id),
        };
        for (_, bytes, name) in files {
            store
                .put_in(
                    &mut tx,
                    owner,
                    tsunagu_files::Purpose::BookingImage,
                    "images",
                    bytes,
                    name,
                )
                .await?;
        }
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// Checks and saves the questionnaire answers (`q_{id}` fields) and the consent signature
    /// (`consent_name`, `agree`) of a live booking of the account.
    pub async fn answer_questionnaire(
        &self,
        account: AccountId,
        id: i64,
        form: &std::collections::HashMap<String, String>,
    ) -> DomainResult<()> {
        let b = self.bookings.get_for_account(account, id).await?;
        if b.status != BookingStatus::Booked {
            return Err(DomainError::Conflict("error.booking.not_live"));
        }
        let menu = self.menus.get(b.facility_id, b.menu_id).await?;
        let mut errs: Vec<tsunagu_kernel::FieldError> = Vec::new();
        let mut answers = std::collections::BTreeMap::new();
        for q in &menu.questionnaire {
            let field = format!("q_{}", q.id);
            let a = form
                .get(&field)
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if a.is_empty() {
                if q.required {
                    errs.push(tsunagu_kernel::FieldError::new(
                        field.clone(),
                        "error.required",
                    ));
                }
                continue;
            }
            if !q.choices.is_empty() && !q.choices.contains(&a) {
                errs.push(tsunagu_kernel::FieldError::new(
                    field,
                    "error.invalid_choice",
                ));
                continue;
            }
            // Refused, not cut: the form's own limit is only in the browser.
            if a.chars().count() > ANSWER_MAX {
                errs.push(
                    tsunagu_kernel::FieldError::new(field, "error.too_long").arg("max", ANSWER_MAX),
                );
                continue;
            }
            answers.insert(q.id.clone(), a);
        }
        let mut signed_name = None;
        if !menu.consent_text.is_empty() {
            match tsunagu_kernel::values::person_name(
                "consent_name",
                form.get("consent_name").map_or("", String::as_str),
                60,
            ) {
                Ok(n) => signed_name = Some(n),
                Err(DomainError::Invalid(es)) => errs.extend(es),
                Err(e) => return Err(e),
            }
            if !form.get("agree").is_some_and(|a| a == "true" || a == "1") {
                errs.push(tsunagu_kernel::FieldError::new(
                    "agree",
                    "error.consent.required",
                ));
            }
        }
        if !errs.is_empty() {
            return Err(DomainError::Invalid(errs));
        }
        self.bookings
            .save_answers(
                id,
                &crate::Answers {
                    answers,
                    consent_signed_at: signed_name.as_ref().map(|_| self.clock.now_ms()),
                    consent_signed_name: signed_name,
                },
            )
            .await
    }

    /// The account's live booking that is exactly this request (same person, doctor and
    /// start), if it was booked already.
    pub async fn own_booking_at(&self, req: &PatientBooking) -> DomainResult<Option<i64>> {
        Ok(self
            .bookings
            .upcoming_for_account(req.account, self.clock.now_ms())
            .await?
            .into_iter()
            .find(|b| {
                b.patient_id == req.patient
                    && b.doctor_id == req.doctor_id
                    && b.starts_at == req.starts_at
                    && b.menu_id == req.menu_id
            })
            .map(|b| b.id))
    }

    /// The current time (ms), for pages that offer only what the rules allow now.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Today in the facility's zone.
    pub fn today(&self, facility: &Facility) -> Date {
        self.clock.now().to_zoned(facility.tz()).date()
    }

    /// Slots of every doctor of the facility for a menu and visit kind, `days` days from
    /// `from` (clamped to today … the booking horizon), free or not, in time order.
    pub async fn slots(
        &self,
        facility: &Facility,
        menu: &Menu,
        kind: VisitKind,
        from: Date,
        days: i64,
    ) -> DomainResult<Vec<Slot>> {
        self.slots_of(facility, menu, kind, from, days, None).await
    }

    /// [`Booker::slots`] for one doctor only (what checking a chosen slot needs).
    pub async fn slots_of(
        &self,
        facility: &Facility,
        menu: &Menu,
        kind: VisitKind,
        from: Date,
        days: i64,
        only: Option<StaffId>,
    ) -> DomainResult<Vec<Slot>> {
        let tz = facility.tz();
        let today = self.today(facility);
        let from = from.max(today);
        let days = days.clamp(1, 31);
        let to = from
            .checked_add(jiff::Span::new().days(days))
            .map_err(DomainError::internal)?;
        let now = self.clock.now_ms();
        let range_start = tsunagu_scheduling::slots::local_instant(&tz, from, 0).unwrap_or(now);
        let range_end = tsunagu_scheduling::slots::local_instant(&tz, to, 0).unwrap_or(now);
        let mut out = Vec::new();
        for doctor in self.staff.list(facility.id).await? {
            if doctor.role != Role::Doctor
                || doctor.disabled
                || only.is_some_and(|o| o != doctor.id)
            {
                continue;
            }
            let weekly = self.schedules.weekly(facility.id, doctor.id).await?;
            if weekly.is_empty() {
                continue;
            }
            let exceptions = self
                .schedules
                .exceptions(facility.id, doctor.id, from, to)
                .await?;
            let claims = self
                .bookings
                .claims(doctor.id, range_start, range_end)
                .await?;
            out.extend(compute(&SlotQuery {
                tz: &tz,
                doctor_id: doctor.id,
                from,
                days,
                minutes: menu.minutes(kind),
                weekly: &weekly,
                exceptions: &exceptions,
                open_on_holidays: facility.open_on_holidays,
                claims: &claims,
                capacity: facility.capacity_per_doctor,
                not_before: now,
            }));
        }
        out.sort_by_key(|s| (s.starts_at, s.doctor_id.0));
        Ok(out)
    }

    /// Books for a patient of the account, after checking everything a patient could get
    /// wrong; sends the confirmation and schedules the reminder in the same transaction.
    pub async fn book_web(
        &self,
        facility: &Facility,
        req: &PatientBooking,
        lang: Lang,
    ) -> DomainResult<i64> {
        if facility.online_suspended {
            return Err(DomainError::Conflict("error.facility.suspended"));
        }
        let patient = self
            .patients
            .patient_of(req.account, req.patient)
            .await
            .map_err(|e| match e {
                DomainError::NotFound => {
                    DomainError::invalid("patient_id", "error.booking.patient")
                }
                other => other,
            })?;
        let menu = match self.menus.get(facility.id, req.menu_id).await {
            Ok(m) if m.active => m,
            Ok(_) | Err(DomainError::NotFound) => {
                return Err(DomainError::invalid("menu_id", "error.booking.menu"));
            }
            Err(e) => return Err(e),
        };
        let now = self.clock.now_ms();
        if req.starts_at <= now {
            return Err(DomainError::invalid("starts_at", "error.booking.past"));
        }
        let tz = facility.tz();
        let day = tsunagu_kernel::clock::from_ms(req.starts_at)
            .to_zoned(tz.clone())
            .date();
        if day
            > self
                .today(facility)
                .checked_add(jiff::Span::new().days(BOOKING_HORIZON_DAYS))
                .map_err(DomainError::internal)?
        {
            return Err(DomainError::invalid("starts_at", "error.booking.too_far"));
        }
        // The chosen time must be one this facility offers for this menu and kind: a slot of
        // another clinic, a closed hour or a misaligned start is refused here.
        let offered = self
            .slots_of(facility, &menu, req.visit_kind, day, 1, Some(req.doctor_id))
            .await?;
        let Some(slot) = offered
            .iter()
            .find(|s| s.doctor_id == req.doctor_id && s.starts_at == req.starts_at)
            .copied()
        else {
            return Err(DomainError::invalid(
                "starts_at",
                "error.booking.not_offered",
            ));
        };
        if !slot.free {
            // The same booking sent again (the back button, a double tap) is not someone
            // else taking the time: say it is booked already.
            if self.own_booking_at(req).await?.is_some() {
                return Err(DomainError::Conflict("error.booking.already_yours"));
            }
            return Err(DomainError::Conflict("error.slot.taken"));
        }
        let account = self.patients.account(req.account).await?;
        let mut tx = self.db.begin_write().await?;
        let id = self
            .bookings
            .create_in(
                &mut tx,
                &NewBooking {
                    facility_id: facility.id,
                    patient_id: patient.id,
                    account_id: Some(req.account),
                    booked_by_staff: None,
                    menu_id: menu.id,
                    doctor_id: slot.doctor_id,
                    mode: menu.mode,
                    visit_kind: req.visit_kind,
                    starts_at: slot.starts_at,
                    ends_at: slot.ends_at,
                    source: Source::Web,
                    booking_fee_yen: if menu.insured {
                        0
                    } else {
                        menu.booking_fee_yen
                    },
                    staff_memo: String::new(),
                },
                facility.capacity_per_doctor,
            )
            .await?;
        self.notify_in(
            &mut tx,
            &account,
            patient.id,
            facility,
            slot.starts_at,
            "mail.booked.subject",
            "notice.booked",
            "booking_confirmed",
            &[("menu", menu.name.as_str())],
            lang,
        )
        .await?;
        // The reminder goes out at 10:00 the day before; a booking made later than that
        // has just had its confirmation, which serves as the reminder.
        if let Some(remind_at) = day
            .yesterday()
            .ok()
            .and_then(|d| tsunagu_scheduling::slots::local_instant(&tz, d, 10 * 60))
            .filter(|at| *at > now)
        {
            let job = NewJob::of(&RemindJob {
                facility_id: facility.id.0,
                booking_id: id,
                lang,
            })?
            .at(remind_at)
            .for_facility(Some(facility.id));
            self.jobs.enqueue_in(&mut tx, job).await?;
        }
        tx.commit().await.or_internal()?;
        // Known to the facility from now on (its staff see the patient in their list).
        self.patients
            .register_at(facility.id, patient.id, None)
            .await?;
        self.tell(facility.id, Some(req.account), "booking.created", id)
            .await;
        Ok(id)
    }

    /// Books on behalf of a patient (by phone for a member, or in-clinic for someone with no
    /// account). Closed hours may be used; capacity still holds. In-clinic bookings carry
    /// no booking fee even on a self-pay menu with one (B7).
    pub async fn book_by_staff(
        &self,
        facility: &Facility,
        req: &StaffBooking,
        by: &tsunagu_audit::By,
    ) -> DomainResult<i64> {
        let menu = match self.menus.get(facility.id, req.menu_id).await {
            Ok(m) => m,
            Err(DomainError::NotFound) => {
                return Err(DomainError::invalid("menu_id", "error.booking.menu"));
            }
            Err(e) => return Err(e),
        };
        match self.staff.get(facility.id, req.doctor_id).await {
            Ok(d) if d.role == Role::Doctor && !d.disabled => {}
            Ok(_) | Err(DomainError::NotFound) => {
                return Err(DomainError::invalid("doctor_id", "error.booking.doctor"));
            }
            Err(e) => return Err(e),
        }
        if req
            .starts_at
            .rem_euclid(tsunagu_scheduling::UNIT_MINUTES * 60_000)
            != 0
        {
            return Err(DomainError::invalid(
                "starts_at",
                "error.booking.not_offered",
            ));
        }
        // Today's earlier times stay bookable for staff (a patient already in the room).
        let tz = facility.tz();
        let today_start =
            tsunagu_scheduling::slots::local_instant(&tz, self.today(facility), 0).unwrap_or(0);
        if req.starts_at < today_start {
            return Err(DomainError::invalid("starts_at", "error.booking.past"));
        }
        // Refused, not cut: a memo silently shortened loses what staff wrote last.
        let memo = req.memo.trim().to_string();
        if memo.chars().count() > MEMO_MAX {
            return Err(DomainError::Invalid(vec![
                tsunagu_kernel::FieldError::new("memo", "error.too_long").arg("max", MEMO_MAX),
            ]));
        }
        // Found before the write transaction: the lookup records its misses on its own.
        let member = match &req.who {
            StaffBookingFor::Member { phone, birth_date } => {
                Some(self.find_member(facility, phone, *birth_date).await?)
            }
            StaffBookingFor::WalkIn { .. } => None,
        };
        let mut tx = self.db.begin_write().await?;
        let (patient, account, source) = match (&req.who, member) {
            (_, Some((account, patient))) => (patient, Some(account), Source::Phone),
            (StaffBookingFor::WalkIn { name, chart_number }, None) => {
                let name = tsunagu_kernel::values::human_name("name", name, 60)?;
                let id = self
                    .patients
                    .create_walk_in_in(&mut tx, facility.id, &name, chart_number.as_deref())
                    .await?;
                (id, None, Source::InClinic)
            }
            (StaffBookingFor::Member { .. }, None) => {
                return Err(DomainError::internal(anyhow::anyhow!(
                    "member not resolved"
                )));
            }
        };
        let ends_at = req.starts_at + menu.minutes(req.visit_kind) * 60_000;
        let id = self
            .bookings
            .create_in(
                &mut tx,
                &NewBooking {
                    facility_id: facility.id,
                    patient_id: patient,
                    account_id: account,
                    booked_by_staff: Some(req.staff),
                    menu_id: menu.id,
                    doctor_id: req.doctor_id,
                    mode: req.mode.unwrap_or(menu.mode),
                    visit_kind: req.visit_kind,
                    starts_at: req.starts_at,
                    ends_at,
                    source,
                    booking_fee_yen: if source == Source::InClinic || menu.insured {
                        0
                    } else {
                        menu.booking_fee_yen
                    },
                    staff_memo: memo,
                },
                facility.capacity_per_doctor,
            )
            .await
            .map_err(|e| match e {
                // Staff are not racing other patients on a form: the time is simply full.
                DomainError::Conflict("error.slot.taken") => {
                    DomainError::Conflict("error.slot.full")
                }
                other => other,
            })?;
        if let Some(account) = account {
            // The member hears of it at once, in the same transaction: a clinic that knows
            // a phone number cannot quietly attach itself to someone's record.
            let shared = self
                .patients
                .link_by_staff_in(&mut tx, facility.id, patient)
                .await?;
            let acct = self.patients.account_in(&mut tx, account).await?;
            let person = self
                .patients
                .patient_of_in(&mut tx, account, patient)
                .await?;
            let name = person.full_name();
            let body_key = if shared {
                "notice.staff_booked"
            } else {
                "notice.staff_booked_unshared"
            };
            self.notify_in(
                &mut tx,
                &acct,
                patient,
                facility,
                req.starts_at,
                "mail.staff_booked.subject",
                body_key,
                "booking_by_staff",
                &[("name", name.as_str()), ("menu", menu.name.as_str())],
                Lang::Ja,
            )
            .await?;
        }
        self.audit
            .append_in(
                &mut tx,
                by.entry(Some(patient), "booking.create", format!("booking={id}")),
            )
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, account, "booking.created", id).await;
        Ok(id)
    }

    /// Tells the facility's screens, and the patient's if they have an account, that a
    /// booking changed (after the commit: a live event never announces what did not happen).
    pub(crate) async fn tell(
        &self,
        facility: FacilityId,
        account: Option<AccountId>,
        kind: &str,
        id: i64,
    ) {
        self.events
            .publish(tsunagu_events::Event {
                topic: tsunagu_events::Topic::Facility(facility),
                kind: kind.into(),
                data: serde_json::json!({ "id": id }),
            })
            .await;
        if let Some(account) = account {
            self.events
                .publish(tsunagu_events::Event {
                    topic: tsunagu_events::Topic::Account(account),
                    kind: "booking.changed".into(),
                    data: serde_json::json!({ "id": id }),
                })
                .await;
        }
    }

    /// The member a phone caller describes, with a bound on wrong guesses per facility so
    /// that numbers and birth dates cannot be tried in bulk.
    async fn find_member(
        &self,
        facility: &Facility,
        phone: &tsunagu_kernel::Phone,
        birth_date: jiff::civil::Date,
    ) -> DomainResult<(AccountId, PatientId)> {
        let bucket = format!("member-lookup-miss:{}", facility.id.0);
        self.limiter.check(&bucket, MEMBER_MISSES).await?;
        match self
            .patients
            .find_member("member_phone", phone, birth_date)
            .await
        {
            Err(DomainError::Invalid(e)) => {
                self.limiter.hit(&bucket, MEMBER_MISSES).await?;
                Err(DomainError::Invalid(e))
            }
            other => other,
        }
    }

    /// The patient of one of the account's bookings shares their record (insurance,
    /// documents) with the booking's facility, which booked them by phone.
    pub async fn share_with_facility(&self, account: AccountId, booking: i64) -> DomainResult<()> {
        let b = self.bookings.get_for_account(account, booking).await?;
        self.patients
            .share_with(account, b.facility_id, b.patient_id)
            .await
    }

    /// Whether the patient of one of the account's bookings has shared their record with
    /// its facility.
    pub async fn shared_with_facility(
        &self,
        account: AccountId,
        booking: i64,
    ) -> DomainResult<bool> {
        let b = self.bookings.get_for_account(account, booking).await?;
        self.patients.is_shared(b.facility_id, b.patient_id).await
    }

    /// Staff save a menu: an admin's change applies at once; anyone else's is a proposal
    /// that waits for an admin (B9). With its audit entry, in one transaction.
    pub async fn save_menu(
        &self,
        facility: FacilityId,
        id: Option<i64>,
        input: &tsunagu_scheduling::MenuInput,
        active: Option<bool>,
        as_admin: bool,
        by: &tsunagu_audit::By,
    ) -> DomainResult<MenuSaved> {
        if let Some(id) = id {
            self.menus.get(facility, id).await?;
        }
        let staff = StaffId(by.actor.id.unwrap_or_default());
        let mut tx = self.db.begin_write().await?;
        let (saved, action, detail) = if as_admin {
            let menu = match id {
                Some(id) => {
                    self.menus.update_in(&mut tx, facility, id, input).await?;
                    if let Some(active) = active {
                        self.menus
                            .set_active_in(&mut tx, facility, id, active)
                            .await?;
                    }
                    id
                }
                None => self.menus.create_in(&mut tx, facility, input).await?,
            };
            (MenuSaved::Saved, "menu.save", format!("menu={menu}"))
        } else {
            let change = self
                .menus
                .propose_in(&mut tx, facility, id, staff, input)
                .await?;
            (
                MenuSaved::Proposed,
                "menu.propose",
                format!("change={change}"),
            )
        };
        self.audit
            .append_in(&mut tx, by.entry(None, action, detail))
            .await?;
        tx.commit().await.or_internal()?;
        Ok(saved)
    }

    /// An admin approves (applying it) or rejects a proposed menu change, audited in the
    /// same transaction.
    pub async fn decide_menu_change(
        &self,
        facility: FacilityId,
        change: i64,
        approve: bool,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        let admin = StaffId(by.actor.id.unwrap_or_default());
        let mut tx = self.db.begin_write().await?;
        self.menus
            .decide_in(&mut tx, facility, change, admin, approve)
            .await?;
        let action = if approve {
            "menu.approve"
        } else {
            "menu.reject"
        };
        self.audit
            .append_in(&mut tx, by.entry(None, action, format!("change={change}")))
            .await?;
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// Replaces a doctor's weekly hours: admins, and the doctor themself. Audited in the
    /// same transaction.
    pub async fn save_weekly_hours(
        &self,
        facility: FacilityId,
        doctor: StaffId,
        hours: &[tsunagu_scheduling::WeeklyHours],
        as_admin: bool,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        self.may_edit_hours(facility, doctor, as_admin, by).await?;
        let mut tx = self.db.begin_write().await?;
        self.schedules
            .set_weekly_in(&mut tx, facility, doctor, hours)
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "hours.save", format!("doctor={}", doctor.0)),
            )
            .await?;
        tx.commit().await.or_internal()
    }

    /// Adds a closure or extra hours for one doctor (admins, and the doctor themself) or,
    /// with no doctor, for the whole facility (admins). Audited in the same transaction.
    pub async fn add_schedule_exception(
        &self,
        facility: FacilityId,
        doctor: StaffId,
        exception: &tsunagu_scheduling::schedule::Exception,
        as_admin: bool,
        by: &tsunagu_audit::By,
    ) -> DomainResult<i64> {
        if exception.doctor_id.is_none() {
            if !as_admin {
                return Err(DomainError::Forbidden("error.forbidden.admin_only"));
            }
        } else {
            self.may_edit_hours(facility, doctor, as_admin, by).await?;
        }
        let mut tx = self.db.begin_write().await?;
        let id = self
            .schedules
            .add_exception_in(&mut tx, facility, exception)
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "hours.exception", format!("doctor={}", doctor.0)),
            )
            .await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// Hours are changed by admins and by the doctor themself; the doctor must be one of
    /// the facility's doctors.
    async fn may_edit_hours(
        &self,
        facility: FacilityId,
        doctor: StaffId,
        as_admin: bool,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        match self.staff.get(facility, doctor).await {
            Ok(d) if d.role == Role::Doctor => {}
            Ok(_) | Err(DomainError::NotFound) => return Err(DomainError::NotFound),
            Err(e) => return Err(e),
        }
        if as_admin || by.actor.id == Some(doctor.0) {
            Ok(())
        } else {
            Err(DomainError::Forbidden("error.forbidden.hours"))
        }
    }

    /// Pauses or resumes the facility's online bookings (admins, G1), audited.
    pub async fn set_online_suspended(
        &self,
        facility: FacilityId,
        on: bool,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        self.facilities
            .set_online_suspended(&mut tx, facility, on)
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "facility.suspend", format!("suspended={on}")),
            )
            .await?;
        tx.commit().await.or_internal()
    }

    /// When a member's 「ビデオ通話画面へ進む」 appears (admins): `any` (any time before the
    /// start) or a number of minutes, `1` to `120`. Checked, written and audited together.
    pub async fn set_video_entry(
        &self,
        facility: FacilityId,
        entry: &str,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        // Exactly `any` or the number as written plainly (no sign, space or leading zero):
        // the API's schema states the same, so what it accepts is what is stored.
        let minutes = match entry {
            "any" => None,
            m => match m.parse::<i64>() {
                Ok(n) if (1..=120).contains(&n) && n.to_string() == m => Some(n),
                _ => {
                    return Err(DomainError::invalid(
                        "video_entry",
                        "error.video_entry.invalid",
                    ));
                }
            },
        };
        let mut tx = self.db.begin_write().await?;
        self.facilities
            .set_video_entry_minutes(&mut tx, facility, minutes)
            .await?;
        let what = minutes.map_or_else(|| "any".to_string(), |m| m.to_string());
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "facility.video_entry", format!("minutes={what}")),
            )
            .await?;
        tx.commit().await.or_internal()
    }

    /// Sets the facility's own terms of use or privacy policy (admins); an empty text goes
    /// back to the platform's default. Checked, written and audited together.
    pub async fn set_legal_text(
        &self,
        facility: FacilityId,
        kind: tsunagu_clinics::legal::LegalKind,
        text: &str,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        let body = tsunagu_clinics::legal::parse_text(kind.as_str(), text)?;
        let mut tx = self.db.begin_write().await?;
        self.legal
            .set_in(&mut tx, facility, kind, &body, self.clock.now_ms())
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(
                    None,
                    "facility.legal_text",
                    format!("kind={} chars={}", kind.as_str(), body.chars().count()),
                ),
            )
            .await?;
        tx.commit().await.or_internal()
    }

    /// Requires TOTP of every staff member of the facility, or only of admins and doctors
    /// (admins), audited.
    pub async fn set_require_totp_all(
        &self,
        facility: FacilityId,
        on: bool,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        let mut tx = self.db.begin_write().await?;
        self.facilities
            .set_require_totp_all(&mut tx, facility, on)
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "facility.totp_policy", format!("require_all={on}")),
            )
            .await?;
        tx.commit().await.or_internal()
    }

    /// Cancels a booking of the account, until the end of the day before the visit.
    pub async fn cancel_by_patient(
        &self,
        account: AccountId,
        id: i64,
        lang: Lang,
    ) -> DomainResult<Booking> {
        let b = self.bookings.get_for_account(account, id).await?;
        if b.status != BookingStatus::Booked {
            return Err(DomainError::Conflict("error.booking.not_live"));
        }
        let facility = self.facilities.get(b.facility_id).await?;
        if self.clock.now_ms() >= cancel_deadline(b.starts_at, &facility.tz()) {
            return Err(DomainError::Forbidden("error.cancel.too_late"));
        }
        let acct = self.patients.account(account).await?;
        let mut tx = self.db.begin_write().await?;
        self.bookings.cancel_in(&mut tx, &b, false).await?;
        self.notify_in(
            &mut tx,
            &acct,
            b.patient_id,
            &facility,
            b.starts_at,
            "mail.cancelled.subject",
            "notice.cancelled",
            "booking_cancelled",
            &[],
            lang,
        )
        .await?;
        tx.commit().await.or_internal()?;
        // The reception list shows the cancellation at once, whichever door it came in by.
        self.tell(b.facility_id, Some(account), "booking.cancelled", b.id)
            .await;
        Ok(b)
    }

    /// Moves a booking of the account to another offered time, until the same deadline as
    /// cancelling; the old time stays booked if the new one was just taken.
    pub async fn reschedule_by_patient(
        &self,
        account: AccountId,
        id: i64,
        doctor: StaffId,
        starts_at: i64,
        lang: Lang,
    ) -> DomainResult<Booking> {
        let b = self.bookings.get_for_account(account, id).await?;
        if b.status != BookingStatus::Booked {
            return Err(DomainError::Conflict("error.booking.not_live"));
        }
        let facility = self.facilities.get(b.facility_id).await?;
        if facility.online_suspended {
            return Err(DomainError::Conflict("error.facility.suspended"));
        }
        let tz = facility.tz();
        if self.clock.now_ms() >= cancel_deadline(b.starts_at, &tz) {
            return Err(DomainError::Forbidden("error.change.too_late"));
        }
        let menu = self.menus.get(b.facility_id, b.menu_id).await?;
        let day = tsunagu_kernel::clock::from_ms(starts_at)
            .to_zoned(tz.clone())
            .date();
        let offered = self
            .slots_of(&facility, &menu, b.visit_kind, day, 1, Some(doctor))
            .await?;
        let Some(slot) = offered
            .iter()
            .find(|s| s.doctor_id == doctor && s.starts_at == starts_at)
            .copied()
        else {
            return Err(DomainError::invalid(
                "starts_at",
                "error.booking.not_offered",
            ));
        };
        let acct = self.patients.account(account).await?;
        let mut tx = self.db.begin_write().await?;
        self.bookings
            .reschedule_in(
                &mut tx,
                &b,
                slot.doctor_id,
                slot.starts_at,
                slot.ends_at,
                facility.capacity_per_doctor,
            )
            .await?;
        self.notify_in(
            &mut tx,
            &acct,
            b.patient_id,
            &facility,
            slot.starts_at,
            "mail.changed.subject",
            "notice.changed",
            "booking_changed",
            &[],
            lang,
        )
        .await?;
        // The reminder follows the booking: a new one for the new day (the old job finds the
        // booking moved and reminds of the new time, so it is harmless, but the new day needs one).
        let now = self.clock.now_ms();
        if let Some(remind_at) = day
            .yesterday()
            .ok()
            .and_then(|d| tsunagu_scheduling::slots::local_instant(&tz, d, 10 * 60))
            .filter(|at| *at > now)
        {
            let job = NewJob::of(&RemindJob {
                facility_id: facility.id.0,
                booking_id: id,
                lang,
            })?
            .at(remind_at)
            .for_facility(Some(facility.id));
            self.jobs.enqueue_in(&mut tx, job).await?;
        }
        tx.commit().await.or_internal()?;
        let moved = self.bookings.get_for_account(account, id).await?;
        self.tell(moved.facility_id, Some(account), "booking.changed", id)
            .await;
        Ok(moved)
    }

    /// Staff close or cancel a booking: cancelled (flagged late after the patient's
    /// deadline, for the cancellation fee), seen, or a no-show (flagged for the fee).
    pub async fn close_by_staff(
        &self,
        facility: &Facility,
        id: i64,
        status: BookingStatus,
        lang: Lang,
        by: &tsunagu_audit::By,
    ) -> DomainResult<Booking> {
        let b = self.bookings.get_at(facility.id, id).await?;
        close_allowed(&b, status, self.clock.now_ms())?;
        let mut tx = self.db.begin_write().await?;
        match status {
            BookingStatus::Cancelled => {
                let late = self.clock.now_ms() >= cancel_deadline(b.starts_at, &facility.tz());
                self.bookings.cancel_in(&mut tx, &b, late).await?;
                if let Some(account) = b.account_id {
                    let acct = self.patients.account_in(&mut tx, account).await?;
                    self.notify_in(
                        &mut tx,
                        &acct,
                        b.patient_id,
                        facility,
                        b.starts_at,
                        "mail.cancelled.subject",
                        "notice.cancelled_by_clinic",
                        "booking_cancelled",
                        &[],
                        lang,
                    )
                    .await?;
                }
            }
            other => {
                self.bookings.close_in(&mut tx, &b, other).await?;
                // Seen or not, the time is no longer needed by this booking.
                tsunagu_db::sqlx::query("DELETE FROM slot_claims WHERE booking_id = $1")
                    .bind(b.id)
                    .execute(&mut *tx)
                    .await
                    .or_internal()?;
            }
        }
        self.audit
            .append_in(
                &mut tx,
                by.entry(
                    Some(b.patient_id),
                    "booking.close",
                    format!("booking={id} status={}", status.as_str()),
                ),
            )
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, b.account_id, "booking.changed", id)
            .await;
        self.bookings.get_at(facility.id, id).await
    }

    /// Undoes a slip of the hand: a booking marked seen or no-show goes back to booked, on
    /// the same day (in the facility's zone) as it was marked, with its time claimed again
    /// (refused if the time went to someone else meanwhile). Audited as `booking.reopen`.
    pub async fn reopen_by_staff(
        &self,
        facility: &Facility,
        id: i64,
        by: &tsunagu_audit::By,
    ) -> DomainResult<Booking> {
        let b = self.bookings.get_at(facility.id, id).await?;
        reopen_allowed(&b, facility, self.clock.now_ms())?;
        let mut tx = self.db.begin_write().await?;
        self.bookings
            .reopen_in(&mut tx, &b, facility.capacity_per_doctor)
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(
                    Some(b.patient_id),
                    "booking.reopen",
                    format!("booking={id} was={}", b.status.as_str()),
                ),
            )
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, b.account_id, "booking.changed", id)
            .await;
        self.bookings.get_at(facility.id, id).await
    }

    /// The names and local times a page shows for a booking.
    pub async fn view(&self, b: Booking) -> DomainResult<BookingView> {
        let facility = self.facilities.get(b.facility_id).await?;
        let tz = facility.tz();
        let menu = self.menus.get(b.facility_id, b.menu_id).await?;
        let doctor = self.staff.get(b.facility_id, b.doctor_id).await?;
        let patient_name = match b.account_id {
            Some(a) => self
                .patients
                .patient_of(a, b.patient_id)
                .await
                .map(|p| p.full_name())
                .unwrap_or_default(),
            None => self
                .patients
                .get_at(b.facility_id, b.patient_id)
                .await
                .map(|p| p.patient.full_name())
                .unwrap_or_default(),
        };
        Ok(BookingView {
            patient_can_cancel: b.status == BookingStatus::Booked
                && self.clock.now_ms() < cancel_deadline(b.starts_at, &tz),
            starts_local: local(b.starts_at, &tz, "%Y/%m/%d %H:%M"),
            ends_local: local(b.ends_at, &tz, "%H:%M"),
            facility_name: facility.name,
            facility_slug: facility.slug,
            facility_phone: facility.phone,
            menu_name: menu.name,
            doctor_name: doctor.display_name,
            patient_name,
            booking: b,
        })
    }

    /// The job handler that sends reminders.
    pub fn remind_handler(&self) -> (&'static str, Handler) {
        let me = self.clone();
        let h: Handler = Arc::new(move |ctx: JobContext| {
            let me = me.clone();
            async move { me.remind(ctx).await }.boxed()
        });
        (RemindJob::KIND, h)
    }

    async fn remind(&self, ctx: JobContext) -> Result<(), JobError> {
        let job: RemindJob =
            serde_json::from_str(&ctx.payload).map_err(|e| JobError::Permanent(e.into()))?;
        let b = match self
            .bookings
            .get_at(FacilityId(job.facility_id), job.booking_id)
            .await
        {
            Ok(b) => b,
            Err(DomainError::NotFound) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        // Cancelled since: nothing to remind of.
        let (BookingStatus::Booked, Some(account)) = (b.status, b.account_id) else {
            return Ok(());
        };
        let facility = self.facilities.get(b.facility_id).await?;
        let tz = facility.tz();
        let visit_day = tsunagu_kernel::clock::from_ms(b.starts_at)
            .to_zoned(tz.clone())
            .date();
        let today = self.today(&facility);
        // The booking may have moved since this job was queued: remind only of a visit
        // tomorrow (the usual case) or, if this worker runs late, later today; a visit
        // further away has its own reminder job for its new day.
        let key = if Some(visit_day) == today.tomorrow().ok() {
            if b.mode == Mode::Online {
                "notice.reminder_online"
            } else {
                "notice.reminder"
            }
        } else if visit_day == today && b.starts_at > self.clock.now_ms() {
            "notice.reminder_today"
        } else {
            return Ok(());
        };
        let acct = self.patients.account(account).await?;
        let when = local(b.starts_at, &tz, "%Y/%m/%d %H:%M");
        let (channel, destination) = notice_target(&acct);
        // An insured visit cannot start without insurance: say so while there is time.
        let menu = self.menus.get(b.facility_id, b.menu_id).await?;
        let needs_insurance = menu.insured && self.insurance.get(b.patient_id).await?.is_none();
        let name = self
            .patients
            .patient_of(account, b.patient_id)
            .await
            .map(|p| p.full_name())
            .unwrap_or_default();
        let mut body = t_args(
            job.lang,
            key,
            &[
                ("facility", facility.name.as_str()),
                ("when", when.as_str()),
                ("name", name.as_str()),
            ],
        );
        if needs_insurance {
            body.push_str(&t(job.lang, "notice.insurance_missing"));
        }
        self.outbox
            .enqueue(OutgoingMessage {
                channel,
                destination,
                subject: t(job.lang, "mail.reminder.subject").into_owned(),
                body,
                secret: None,
                purpose: "booking_reminder",
                facility_id: Some(facility.id),
                account_id: Some(account),
            })
            .await?;
        Ok(())
    }
}

impl Booker {
    /// Queues a notice about a booking to the account in the caller's transaction, in the
    /// channel it chose, with the facility's name and the visit's local time.
    #[allow(clippy::too_many_arguments)]
    async fn notify_in(
        &self,
        tx: &mut tsunagu_db::Tx,
        account: &tsunagu_accounts::Account,
        patient: PatientId,
        facility: &Facility,
        at_ms: i64,
        subject_key: &str,
        body_key: &str,
        purpose: &'static str,
        extra: &[(&str, &str)],
        lang: Lang,
    ) -> DomainResult<()> {
        let when = local(at_ms, &facility.tz(), "%Y/%m/%d %H:%M");
        let (channel, destination) = notice_target(account);
        // Which family member the notice is about: the name only, never the menu's
        // medical content beyond what the patient chose.
        // Read in the transaction: see `patient_of_in`.
        let name = self
            .patients
            .patient_of_in(tx, account.id, patient)
            .await
            .map(|p| p.full_name())
            .unwrap_or_default();
        let mut args: Vec<(&str, &str)> = extra.to_vec();
        if !extra.iter().any(|(k, _)| *k == "name") {
            args.push(("name", name.as_str()));
        }
        args.push(("facility", facility.name.as_str()));
        args.push(("when", when.as_str()));
        self.outbox
            .enqueue_in(
                tx,
                OutgoingMessage {
                    channel,
                    destination,
                    subject: t(lang, subject_key).into_owned(),
                    body: t_args(lang, body_key, &args),
                    secret: None,
                    purpose,
                    facility_id: Some(facility.id),
                    account_id: Some(account.id),
                },
            )
            .await?;
        Ok(())
    }
}

/// Where an account's notices go: email if chosen and verified, else SMS.
fn notice_target(a: &tsunagu_accounts::Account) -> (Channel, String) {
    match (&a.email, a.notify_channel.as_str()) {
        (Some(e), "email") => (Channel::Email, e.as_str().to_string()),
        _ => (Channel::Sms, a.phone.e164().to_string()),
    }
}
