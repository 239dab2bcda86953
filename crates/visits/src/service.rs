//! The use cases of visits: each applies its rule, writes, appends its audit entry in the
//! same transaction and tells the facility's screens after the commit.

use std::sync::Arc;

use jiff::tz::TimeZone;
use tsunagu_accounts::Role;
use tsunagu_accounts::staff::StaffStore;
use tsunagu_audit::{AuditLog, By};
use tsunagu_clinics::{Facility, FacilityStore};
use tsunagu_db::{Db, DbResultExt, sqlx};
use tsunagu_events::{Event, EventBus, Topic};
use tsunagu_i18n::{Lang, t_args};
use tsunagu_kernel::error::Validator;
use tsunagu_kernel::seal::Sealer;
use tsunagu_kernel::{Clock, DomainError, DomainResult, Email, FacilityId, Phone, StaffId};
use tsunagu_notifications::{Channel, Outbox, OutgoingMessage, SECRET_MARK};

use crate::presence::{self, Participant, Room};
use crate::store::{NewVisit, Visit, VisitKind, VisitState, VisitStore};
use crate::window::{LinkTime, link_time, url_window};

/// Where to send a patient URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Send {
    /// Not sent (「送信しない」).
    None,
    /// By SMS to this number.
    Sms(Phone),
    /// By email to this address.
    Email(Email),
}

impl Send {
    /// Reads the form's choice (`none`, `sms`, `email`) and its destination; the number or
    /// address must be valid for the chosen channel (C4).
    pub fn parse(channel: &str, destination: &str) -> DomainResult<Self> {
        match channel {
            "sms" => Ok(Self::Sms(Phone::parse("destination", destination)?)),
            "email" => Ok(Self::Email(Email::parse("destination", destination)?)),
            "" | "none" => Ok(Self::None),
            _ => Err(DomainError::invalid("send", "error.visit.send")),
        }
    }
}

/// A video-call URL as staff create it (B8).
#[derive(Debug, Clone)]
pub struct UrlCallInput {
    /// Start (ms).
    pub starts_at: i64,
    /// Title, seen by staff only.
    pub title: String,
    /// The doctor.
    pub doctor: StaffId,
    /// Where to send the patient URL.
    pub send: Send,
}

impl UrlCallInput {
    /// Validates the form: a start (date and time in the facility's zone, or 「現在時刻で
    /// 作成」), a title, a doctor and the send choice, every problem at once.
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        tz: &TimeZone,
        now_ms: i64,
        use_now: bool,
        date: &str,
        time: &str,
        title: &str,
        doctor: &str,
        channel: &str,
        destination: &str,
    ) -> DomainResult<Self> {
        let mut v = Validator::new();
        let starts_at = if use_now {
            Some(now_ms)
        } else {
            let day = v.check(
                tsunagu_kernel::values::day("starts_at", date)
                    .map_err(|_| DomainError::invalid("starts_at", "error.visit.start")),
            )?;
            let minute = v.check(tsunagu_scheduling_free_hhmm(time))?;
            match (day, minute) {
                (Some(d), Some(m)) => {
                    let at = d
                        .to_datetime(jiff::civil::Time::midnight())
                        .checked_add(jiff::Span::new().minutes(m))
                        .ok()
                        .and_then(|dt| dt.to_zoned(tz.clone()).ok())
                        .map(|z| z.timestamp().as_millisecond());
                    match at {
                        // A URL for a time already past cannot be waited for: create it
                        // with 「現在時刻で作成」 instead.
                        Some(at) if at < now_ms - 5 * 60_000 => {
                            v.check::<()>(Err(DomainError::invalid(
                                "starts_at",
                                "error.visit.start_past",
                            )))?;
                            None
                        }
                        Some(at) if at > now_ms + 366 * 86_400_000 => {
                            v.check::<()>(Err(DomainError::invalid(
                                "starts_at",
                                "error.visit.start_far",
                            )))?;
                            None
                        }
                        Some(at) => Some(at),
                        None => {
                            v.check::<()>(Err(DomainError::invalid(
                                "starts_at",
                                "error.visit.start",
                            )))?;
                            None
                        }
                    }
                }
                _ => None,
            }
        };
        let title = v.check(tsunagu_kernel::values::display_text("title", title, 100))?;
        let doctor = v.check(
            doctor
                .trim()
                .parse::<i64>()
                .map(StaffId)
                .map_err(|_| DomainError::invalid("doctor", "error.booking.doctor")),
        )?;
        let send = v.check(Send::parse(channel, destination))?;
        v.finish()?;
        match (starts_at, title, doctor, send) {
            (Some(starts_at), Some(title), Some(doctor), Some(send)) => Ok(Self {
                starts_at,
                title,
                doctor,
                send,
            }),
            _ => Err(DomainError::internal(anyhow::anyhow!(
                "validated URL call incomplete"
            ))),
        }
    }
}

/// `HH:MM` as minutes after midnight (full-width digits accepted).
fn tsunagu_scheduling_free_hhmm(s: &str) -> DomainResult<i64> {
    let s: String = s
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '：' => ':',
            c => c,
        })
        .collect();
    let bad = || DomainError::invalid("starts_at", "error.visit.start");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// One visit's line of a month's usage.
#[derive(Debug, Clone)]
pub struct UsageLine {
    /// The visit.
    pub visit: Visit,
    /// When its doctor first entered the room.
    pub entered: i64,
    /// Its usage.
    pub usage: crate::usage::VisitUsage,
}

/// A patient may be nudged from this long before the start.
pub const NUDGE_FROM_MS: i64 = 5 * 60_000;

/// What a patient link opens.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // One per request, moved once: boxing buys nothing.
pub enum LinkAccess {
    /// The waiting room of this visit (in its facility).
    Open(Visit, Facility),
    /// Not yet: it opens at this instant.
    Early { opens_at: i64, facility: Facility },
    /// The window has passed.
    Expired(Facility),
    /// Ended by the doctor.
    Ended(Facility),
    /// No such link, or a cancelled call's (the patient is not told it was cancelled).
    Unknown,
}

/// Visits and their use cases.
#[derive(Clone)]
pub struct Visits {
    pub(crate) store: VisitStore,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) audit: AuditLog,
    pub(crate) events: EventBus,
    outbox: Outbox,
    pub(crate) sealer: Sealer,
    pub(crate) facilities: FacilityStore,
    staff: StaffStore,
    pub(crate) public_url: String,
}

impl std::fmt::Debug for Visits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The sealer holds the server's key: never printed.
        f.debug_struct("Visits")
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl Visits {
    /// The use cases on `db`; patient links are made under `public_url`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        audit: AuditLog,
        events: EventBus,
        outbox: Outbox,
        sealer: Sealer,
        public_url: String,
    ) -> Self {
        Self {
            store: VisitStore::new(db.clone()),
            facilities: FacilityStore::new(db.clone(), clock.clone()),
            staff: StaffStore::new(db, clock.clone()),
            clock,
            audit,
            events,
            outbox,
            sealer,
            public_url: public_url.trim_end_matches('/').to_string(),
        }
    }

    /// The patient URL of a URL call (derived again from its nonce; never stored).
    pub fn patient_url(&self, v: &Visit) -> Option<String> {
        v.link_nonce
            .as_deref()
            .map(|n| format!("{}/v/{}", self.public_url, self.token_of(n)))
    }

    fn token_of(&self, nonce: &str) -> String {
        self.sealer.mac(&format!("visit-link:{nonce}"))
    }

    /// The window of a URL call's patient link in the facility's zone.
    pub fn window(&self, v: &Visit, facility: &Facility) -> (i64, i64) {
        url_window(v.starts_at, &facility.tz())
    }

    pub(crate) async fn tell(&self, facility: FacilityId, id: i64) {
        self.events
            .publish(Event {
                topic: Topic::Facility(facility),
                kind: "visit.changed".into(),
                data: serde_json::json!({ "id": id }),
            })
            .await;
    }

    async fn doctor_of(&self, facility: FacilityId, id: StaffId) -> DomainResult<()> {
        match self.staff.get(facility, id).await {
            Ok(s) if s.role == Role::Doctor && !s.disabled => Ok(()),
            Ok(_) | Err(DomainError::NotFound) => {
                Err(DomainError::invalid("doctor", "error.booking.doctor"))
            }
            Err(e) => Err(e),
        }
    }

    /// A visit of the facility, for its staff.
    pub async fn get(&self, facility: FacilityId, id: i64) -> DomainResult<Visit> {
        self.store.get(facility, id).await
    }

    /// The facility's URL calls starting in `[from, to)` (the schedule shows them; the
    /// reception list does not, B8), optionally of one doctor.
    pub async fn url_calls(
        &self,
        facility: FacilityId,
        from: i64,
        to: i64,
        doctor: Option<StaffId>,
    ) -> DomainResult<Vec<Visit>> {
        self.store.url_calls(facility, from, to, doctor).await
    }

    /// Creates a video-call URL (B8) and, if asked, sends the patient URL (C4).
    pub async fn create_url_call(
        &self,
        by: &By,
        facility: &Facility,
        input: &UrlCallInput,
    ) -> DomainResult<Visit> {
        self.doctor_of(facility.id, input.doctor).await?;
        let now = self.clock.now_ms();
        let nonce = tsunagu_kernel::secret::new_token();
        let digest = tsunagu_kernel::secret::token_digest(&self.token_of(&nonce));
        let mut tx = self.store.db().begin_write().await?;
        let id = self
            .store
            .insert_in(
                &mut tx,
                &NewVisit {
                    facility: facility.id,
                    booking: None,
                    kind: VisitKind::Url,
                    doctor: input.doctor,
                    title: &input.title,
                    starts_at: input.starts_at,
                    link: Some((&nonce, &digest)),
                    created_by: by.actor.id.map(StaffId),
                },
                now,
            )
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "visit.create", format!("visit={id} kind=url")),
            )
            .await?;
        let v = Visit {
            id,
            facility_id: facility.id,
            booking_id: None,
            kind: VisitKind::Url,
            doctor_id: input.doctor,
            title: input.title.clone(),
            starts_at: input.starts_at,
            state: VisitState::Scheduled,
            link_nonce: Some(nonce),
            sent: None,
            started_at: None,
            ended_at: None,
            nudged: None,
        };
        self.send_in(&mut tx, by, facility, &v, &input.send, now)
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, id).await;
        self.store.get(facility.id, id).await
    }

    /// Sends the patient URL again, to this destination (C4: 「URL再送」 overwrites the
    /// recorded destination and time).
    pub async fn resend(
        &self,
        by: &By,
        facility: &Facility,
        id: i64,
        send: &Send,
    ) -> DomainResult<Visit> {
        let v = self.store.get(facility.id, id).await?;
        if v.kind != VisitKind::Url || !v.state.is_open() {
            return Err(DomainError::Conflict("error.visit.closed"));
        }
        if *send == Send::None {
            return Err(DomainError::invalid("send", "error.visit.send"));
        }
        let now = self.clock.now_ms();
        let mut tx = self.store.db().begin_write().await?;
        self.send_in(&mut tx, by, facility, &v, send, now).await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, id).await;
        self.store.get(facility.id, id).await
    }

    async fn send_in(
        &self,
        tx: &mut tsunagu_db::Tx,
        by: &By,
        facility: &Facility,
        v: &Visit,
        send: &Send,
        now: i64,
    ) -> DomainResult<()> {
        let (channel, kind, destination) = match send {
            Send::None => return Ok(()),
            Send::Sms(p) => (Channel::Sms, "sms", p.e164().to_string()),
            Send::Email(e) => (Channel::Email, "email", e.as_str().to_string()),
        };
        let url = self
            .patient_url(v)
            .ok_or(DomainError::Conflict("error.visit.closed"))?;
        let tz = facility.tz();
        let (_, until) = url_window(v.starts_at, &tz);
        let fmt = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .map(|t| {
                    t.to_zoned(tz.clone())
                        .strftime("%m月%d日 %H:%M")
                        .to_string()
                })
                .unwrap_or_default()
        };
        let args = [
            ("facility", facility.name.clone()),
            ("start", fmt(v.starts_at)),
            ("until", fmt(until)),
            ("url", SECRET_MARK.to_string()),
        ];
        self.outbox
            .enqueue_in(
                tx,
                OutgoingMessage {
                    channel,
                    destination: destination.clone(),
                    subject: if channel == Channel::Email {
                        t_args(
                            Lang::Ja,
                            "visit.mail_subject",
                            &[("facility", facility.name.as_str())],
                        )
                    } else {
                        String::new()
                    },
                    body: t_args(Lang::Ja, "visit.link_message", &args),
                    secret: Some(url),
                    purpose: "visit_link",
                    facility_id: Some(facility.id),
                    account_id: None,
                },
            )
            .await?;
        self.store
            .set_sent_in(tx, v, kind, &destination, now)
            .await?;
        self.audit
            .append_in(
                tx,
                by.entry(None, "visit.send", format!("visit={} channel={kind}", v.id)),
            )
            .await?;
        Ok(())
    }

    /// Changes a URL call's title and doctor; its start cannot change (cancel and create
    /// it again).
    pub async fn edit(
        &self,
        by: &By,
        facility: &Facility,
        id: i64,
        title: &str,
        doctor: &str,
    ) -> DomainResult<Visit> {
        let v = self.store.get(facility.id, id).await?;
        let mut val = Validator::new();
        let title = val.check(tsunagu_kernel::values::display_text("title", title, 100))?;
        let doctor = val.check(
            doctor
                .trim()
                .parse::<i64>()
                .map(StaffId)
                .map_err(|_| DomainError::invalid("doctor", "error.booking.doctor")),
        )?;
        val.finish()?;
        let (Some(title), Some(doctor)) = (title, doctor) else {
            return Err(DomainError::internal(anyhow::anyhow!(
                "validated edit incomplete"
            )));
        };
        if v.kind != VisitKind::Url || !v.state.is_open() {
            return Err(DomainError::Conflict("error.visit.closed"));
        }
        self.doctor_of(facility.id, doctor).await?;
        let mut tx = self.store.db().begin_write().await?;
        self.store
            .set_title_doctor_in(&mut tx, &v, &title, doctor, self.clock.now_ms())
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(
                    None,
                    "visit.edit",
                    format!("visit={id} doctor={}", doctor.0),
                ),
            )
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, id).await;
        self.store.get(facility.id, id).await
    }

    /// Cancels a URL call (clinic only; the patient is not told, C5). Its link stops
    /// working at once.
    pub async fn cancel(&self, by: &By, facility: &Facility, id: i64) -> DomainResult<Visit> {
        let v = self.store.get(facility.id, id).await?;
        if v.kind != VisitKind::Url {
            return Err(DomainError::Conflict("error.visit.cancel_booking"));
        }
        let mut tx = self.store.db().begin_write().await?;
        self.store
            .set_state_in(
                &mut tx,
                &v,
                &[VisitState::Scheduled, VisitState::Waiting],
                VisitState::Cancelled,
                self.clock.now_ms(),
            )
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "visit.cancel", format!("visit={id}")),
            )
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, id).await;
        self.store.get(facility.id, id).await
    }

    /// Whether the visit is an insured booking whose patient has registered no insurance:
    /// it cannot start without the doctor stating why (A4: the rule shown since booking).
    pub async fn lacks_insurance(&self, v: &Visit) -> DomainResult<bool> {
        let Some(b) = v.booking_id else {
            return Ok(false);
        };
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT m.insured, CASE WHEN EXISTS (SELECT 1 FROM insurance_registrations r \
               WHERE r.patient_id = b.patient_id) THEN 1 ELSE 0 END \
             FROM bookings b JOIN menus m ON m.id = b.menu_id \
             WHERE b.id = $1 AND b.facility_id = $2",
        )
        .bind(b)
        .bind(v.facility_id.0)
        .fetch_optional(self.store.db().pool())
        .await
        .or_internal()?;
        Ok(matches!(row, Some((insured, card)) if insured != 0 && card == 0))
    }

    /// The doctor starts the visit (C6: 「ビデオ通話を開始する」); no ring is sent to anyone.
    /// An insured visit without registered insurance needs the doctor's reason, which is
    /// audited with the start.
    pub async fn start(
        &self,
        by: &By,
        role: Role,
        facility: &Facility,
        id: i64,
        override_reason: Option<&str>,
    ) -> DomainResult<Visit> {
        let v = self.store.get(facility.id, id).await?;
        let mut action = "visit.start";
        let mut detail = format!("visit={id}");
        if role == Role::Doctor && self.lacks_insurance(&v).await? {
            let typed = override_reason.unwrap_or_default();
            if typed.trim().is_empty() {
                return Err(DomainError::invalid("reason", "error.visit.no_insurance"));
            }
            let reason = tsunagu_kernel::values::display_text("reason", typed, 200)?;
            action = "visit.start_without_insurance";
            detail = format!("visit={id} reason={reason}");
        }
        self.move_by_doctor(
            by,
            role,
            facility,
            id,
            &[VisitState::Scheduled, VisitState::Waiting],
            VisitState::InProgress,
            action,
            detail,
        )
        .await
    }

    /// The doctor ends the visit; only the doctor ends a visit.
    pub async fn end(
        &self,
        by: &By,
        role: Role,
        facility: &Facility,
        id: i64,
    ) -> DomainResult<Visit> {
        self.move_by_doctor(
            by,
            role,
            facility,
            id,
            &[VisitState::InProgress],
            VisitState::Ended,
            "visit.end",
            format!("visit={id}"),
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn move_by_doctor(
        &self,
        by: &By,
        role: Role,
        facility: &Facility,
        id: i64,
        from: &[VisitState],
        to: VisitState,
        action: &'static str,
        detail: String,
    ) -> DomainResult<Visit> {
        // Scope first: another facility's visit is not found, whoever asks.
        let v = self.store.get(facility.id, id).await?;
        if role != Role::Doctor {
            return Err(DomainError::Forbidden("error.visit.doctor_only"));
        }
        let mut tx = self.store.db().begin_write().await?;
        self.store
            .set_state_in(&mut tx, &v, from, to, self.clock.now_ms())
            .await?;
        self.audit
            .append_in(&mut tx, by.entry(None, action, detail))
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, id).await;
        self.tell_room(id, to).await;
        self.store.get(facility.id, id).await
    }

    /// The visit of a member's online booking, made the first time it is entered. The
    /// caller has checked the booking is the patient's own, online and booked, and that
    /// [`crate::window::member_entry_opens`] has passed.
    pub async fn of_booking(
        &self,
        facility: FacilityId,
        booking: i64,
        doctor: StaffId,
        starts_at: i64,
    ) -> DomainResult<Visit> {
        if let Some(v) = self.store.of_booking(facility, booking).await? {
            return Ok(v);
        }
        let mut tx = self.store.db().begin_write().await?;
        // Two tabs entering at once: the booking's unique visit makes the second a no-op.
        if self
            .store
            .of_booking_in(&mut tx, facility, booking)
            .await?
            .is_none()
        {
            self.store
                .insert_in(
                    &mut tx,
                    &NewVisit {
                        facility,
                        booking: Some(booking),
                        kind: VisitKind::Booking,
                        doctor,
                        title: "",
                        starts_at,
                        link: None,
                        created_by: None,
                    },
                    self.clock.now_ms(),
                )
                .await?;
        }
        tx.commit().await.or_internal()?;
        self.store
            .of_booking(facility, booking)
            .await?
            .ok_or(DomainError::NotFound)
    }

    /// One tap at the start time (C10): tells a patient who has not entered to come in, by
    /// the URL call's recorded destination or the member's own notice channel, with the
    /// way in. Only from five minutes before the start, only while the patient is not in
    /// the room and the visit has not started; recorded on the visit and audited.
    pub async fn nudge(
        &self,
        by: &By,
        facility: &Facility,
        id: i64,
        member: Option<&tsunagu_accounts::Account>,
    ) -> DomainResult<Visit> {
        let v = self.store.get(facility.id, id).await?;
        let now = self.clock.now_ms();
        if v.state != VisitState::Scheduled {
            return Err(DomainError::Conflict("error.visit.nudge_state"));
        }
        if now < v.starts_at - NUDGE_FROM_MS {
            return Err(DomainError::Conflict("error.visit.nudge_early"));
        }
        let (channel, destination, link) = match (v.kind, member, &v.sent) {
            (VisitKind::Url, _, Some((c, to, _))) => (
                if c == "email" {
                    Channel::Email
                } else {
                    Channel::Sms
                },
                to.clone(),
                self.patient_url(&v)
                    .ok_or(DomainError::Conflict("error.visit.closed"))?,
            ),
            (VisitKind::Url, _, None) => {
                return Err(DomainError::Conflict("error.visit.nudge_nowhere"));
            }
            (VisitKind::Booking, Some(a), _) => {
                let (c, to) = match (&a.email, a.notify_channel.as_str()) {
                    (Some(e), "email") => (Channel::Email, e.as_str().to_string()),
                    _ => (Channel::Sms, a.phone.e164().to_string()),
                };
                let b = v.booking_id.unwrap_or_default();
                (c, to, format!("{}/my/bookings/{b}/visit", self.public_url))
            }
            (VisitKind::Booking, None, _) => {
                return Err(DomainError::Conflict("error.visit.nudge_nowhere"));
            }
        };
        let mut tx = self.store.db().begin_write().await?;
        self.outbox
            .enqueue_in(
                &mut tx,
                OutgoingMessage {
                    channel,
                    destination,
                    subject: if channel == Channel::Email {
                        t_args(
                            Lang::Ja,
                            "visit.nudge_subject",
                            &[("facility", facility.name.as_str())],
                        )
                    } else {
                        String::new()
                    },
                    body: t_args(
                        Lang::Ja,
                        "visit.nudge_message",
                        &[("facility", facility.name.as_str()), ("url", SECRET_MARK)],
                    ),
                    secret: Some(link),
                    purpose: "visit_nudge",
                    facility_id: Some(facility.id),
                    account_id: member.map(|a| a.id),
                },
            )
            .await?;
        self.store.set_nudged_in(&mut tx, &v, now).await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "visit.nudge", format!("visit={id}")),
            )
            .await?;
        tx.commit().await.or_internal()?;
        self.tell(facility.id, id).await;
        self.store.get(facility.id, id).await
    }

    /// A participant's connection enters the visit's room: recorded, audited, and the
    /// patient's first connection moves a scheduled visit to "patient waiting". Returns the
    /// presence id the connection reports with.
    pub async fn join(&self, v: &Visit, who: &Participant, ip: &str) -> DomainResult<i64> {
        let now = self.clock.now_ms();
        let mut tx = self.store.db().begin_write().await?;
        let here_before = presence::patient_here_in(&mut tx, v.id, now).await?;
        let id = presence::open_in(&mut tx, v.id, who, now).await?;
        let mut moved = false;
        if matches!(who, Participant::Patient { .. }) && !here_before {
            // Only a scheduled visit starts waiting: if the doctor started it a moment ago,
            // the patient simply joins the call (the database decides, not what `v` said).
            moved = self
                .store
                .move_state_in(
                    &mut tx,
                    v,
                    &[VisitState::Scheduled],
                    VisitState::Waiting,
                    now,
                )
                .await?;
        }
        // A reload or a network change rejoins: one entry per arrival, not per connection.
        if !(matches!(who, Participant::Patient { .. }) && here_before) {
            self.audit
                .append_in(&mut tx, self.presence_entry(v, who, ip, "visit.join"))
                .await?;
        }
        tx.commit().await.or_internal()?;
        self.tell(v.facility_id, v.id).await;
        if moved {
            self.tell_room(v.id, VisitState::Waiting).await;
        }
        Ok(id)
    }

    /// The connection is still there (a heartbeat).
    pub async fn heartbeat(&self, presence: i64) -> DomainResult<()> {
        sqlx::query("UPDATE visit_presence SET last_seen_at = $2 WHERE id = $1 AND left_at IS NULL")
            .bind(presence)
            .bind(self.clock.now_ms())
            .execute(self.store.db().pool())
            .await
            .or_internal()
            .map(|_| ())
    }

    /// The connection closed. When the patient's last connection goes, a waiting visit is
    /// scheduled again (the reception list shows that they left) and the leave is audited.
    pub async fn leave(
        &self,
        v: &Visit,
        who: &Participant,
        presence: i64,
        ip: &str,
    ) -> DomainResult<()> {
        let now = self.clock.now_ms();
        let mut tx = self.store.db().begin_write().await?;
        presence::close_in(&mut tx, presence, now).await?;
        let patient = matches!(who, Participant::Patient { .. });
        let still_here = patient && presence::patient_here_in(&mut tx, v.id, now).await?;
        let mut moved = false;
        if patient && !still_here {
            // Only a waiting visit goes back to scheduled (not one the doctor just started).
            moved = self
                .store
                .move_state_in(
                    &mut tx,
                    v,
                    &[VisitState::Waiting],
                    VisitState::Scheduled,
                    now,
                )
                .await?;
        }
        if !still_here {
            self.audit
                .append_in(&mut tx, self.presence_entry(v, who, ip, "visit.leave"))
                .await?;
        }
        tx.commit().await.or_internal()?;
        self.tell(v.facility_id, v.id).await;
        if moved {
            self.tell_room(v.id, VisitState::Scheduled).await;
        }
        Ok(())
    }

    fn presence_entry(
        &self,
        v: &Visit,
        who: &Participant,
        ip: &str,
        action: &'static str,
    ) -> tsunagu_audit::Entry {
        By {
            actor: who.actor(),
            facility_id: Some(v.facility_id),
            ip: ip.to_string(),
            request_id: String::new(),
        }
        .entry(None, action, format!("visit={}", v.id))
    }

    /// Tells everyone in the visit's room its new state (the waiting room follows the doctor).
    async fn tell_room(&self, visit: i64, state: VisitState) {
        self.events
            .publish(Event {
                topic: Topic::Visit(visit),
                kind: "visit.state".into(),
                data: serde_json::json!({ "state": state.as_str() }),
            })
            .await;
    }

    /// The rooms of the facility's booking visits, by booking id, for the reception list:
    /// one query over the span the bookings (id, start) cover, however long the day is.
    pub async fn rooms_of_bookings(
        &self,
        facility: FacilityId,
        bookings: &[(i64, i64)],
    ) -> DomainResult<std::collections::HashMap<i64, (VisitState, Room)>> {
        let (Some(from), Some(to)) = (
            bookings.iter().map(|b| b.1).min(),
            bookings.iter().map(|b| b.1).max(),
        ) else {
            return Ok(std::collections::HashMap::new());
        };
        let rows: Vec<(i64, String, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT v.booking_id, v.state, \
               (SELECT MIN(p.joined_at) FROM visit_presence p WHERE p.visit_id = v.id \
                  AND p.role = 'patient' AND p.left_at IS NULL AND p.last_seen_at > $4), \
               (SELECT MAX(COALESCE(p.left_at, p.last_seen_at)) FROM visit_presence p \
                  WHERE p.visit_id = v.id AND p.role = 'patient') \
             FROM visits v WHERE v.facility_id = $1 AND v.booking_id IS NOT NULL \
             AND v.starts_at >= $2 AND v.starts_at <= $3",
        )
        .bind(facility.0)
        .bind(from)
        .bind(to)
        .bind(self.clock.now_ms() - presence::GONE_AFTER_MS)
        .fetch_all(self.store.db().pool())
        .await
        .or_internal()?;
        let wanted: std::collections::HashSet<i64> = bookings.iter().map(|b| b.0).collect();
        Ok(rows
            .into_iter()
            .filter(|r| wanted.contains(&r.0))
            .map(|(b, state, since, left)| {
                (
                    b,
                    (VisitState::parse(&state), presence::room_of(since, left)),
                )
            })
            .collect())
    }

    /// A facility's usage in a month of its own calendar (C12): a line per visit and the
    /// month's total. A visit belongs to the month in which its doctor first entered the
    /// room, so a visit across midnight on the last day is billed once.
    pub async fn month_usage(
        &self,
        facility: &Facility,
        month: jiff::civil::Date,
    ) -> DomainResult<(Vec<UsageLine>, crate::usage::MonthUsage)> {
        let tz = facility.tz();
        let first = month.first_of_month();
        let next = first
            .checked_add(jiff::Span::new().months(1))
            .map_err(DomainError::internal)?;
        let at = |d: jiff::civil::Date| {
            d.to_zoned(tz.clone())
                .map(|z| z.timestamp().as_millisecond())
                .map_err(DomainError::internal)
        };
        let (from, to) = (at(first)?, at(next)?);
        // The month's visits: those whose doctor first entered in it. Three queries in
        // all, however many visits the month has.
        const MONTH: &str = "SELECT p.visit_id FROM visit_presence p \
             JOIN visits v ON v.id = p.visit_id \
             WHERE v.facility_id = $1 AND p.role = 'doctor' \
             GROUP BY p.visit_id HAVING MIN(p.joined_at) >= $2 AND MIN(p.joined_at) < $3";
        let entered: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT visit_id, MIN(joined_at) FROM visit_presence \
             WHERE role = 'doctor' AND visit_id IN ({MONTH}) GROUP BY visit_id ORDER BY 2"
        )))
        .bind(facility.id.0)
        .bind(from)
        .bind(to)
        .fetch_all(self.store.db().pool())
        .await
        .or_internal()?;
        let mut visits: std::collections::HashMap<i64, Visit> = self
            .store
            .in_set(facility.id, MONTH, from, to)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let rows: Vec<(i64, String, String, i64, Option<i64>, i64)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT visit_id, participant, role, joined_at, left_at, last_seen_at \
                 FROM visit_presence WHERE visit_id IN ({MONTH}) ORDER BY visit_id, joined_at"
            )))
            .bind(facility.id.0)
            .bind(from)
            .bind(to)
            .fetch_all(self.store.db().pool())
            .await
            .or_internal()?;
        let mut presence: std::collections::HashMap<i64, Vec<crate::usage::Presence>> =
            std::collections::HashMap::new();
        for (visit, participant, role, joined_at, left_at, last_seen_at) in rows {
            presence
                .entry(visit)
                .or_default()
                .push(crate::usage::Presence {
                    participant,
                    role: match role.as_str() {
                        "doctor" => crate::usage::Role::Doctor,
                        "patient" => crate::usage::Role::Patient,
                        "guest" => crate::usage::Role::Guest,
                        _ => crate::usage::Role::Staff,
                    },
                    joined_at,
                    left_at,
                    last_seen_at,
                });
        }
        let lines: Vec<UsageLine> = entered
            .into_iter()
            .filter_map(|(id, entered)| {
                Some(UsageLine {
                    usage: crate::usage::visit_usage(presence.get(&id).map_or(&[][..], |p| p)),
                    visit: visits.remove(&id)?,
                    entered,
                })
            })
            .collect();
        let total = crate::usage::month_total(&lines.iter().map(|l| l.usage).collect::<Vec<_>>());
        Ok((lines, total))
    }

    /// What a patient link opens now. A malformed, unknown or cancelled link is `Unknown`:
    /// the page says the link cannot be used and to contact the clinic, never which.
    pub async fn open_link(&self, token: &str) -> DomainResult<LinkAccess> {
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(LinkAccess::Unknown);
        }
        let digest = tsunagu_kernel::secret::token_digest(token);
        let Some(v) = self.store.by_link(&digest).await? else {
            return Ok(LinkAccess::Unknown);
        };
        let facility = self.facilities.get(v.facility_id).await?;
        if v.state == VisitState::Cancelled {
            return Ok(LinkAccess::Unknown);
        }
        if v.state == VisitState::Ended {
            return Ok(LinkAccess::Ended(facility));
        }
        Ok(
            match link_time(self.clock.now_ms(), url_window(v.starts_at, &facility.tz())) {
                LinkTime::Early { opens_at } => LinkAccess::Early { opens_at, facility },
                LinkTime::Expired => LinkAccess::Expired(facility),
                LinkTime::Open => LinkAccess::Open(v, facility),
            },
        )
    }
}
