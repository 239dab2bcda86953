//! Confirming a booking's insurance with the eligibility service (A4, F8): the use cases
//! behind the booking page's insurance section and the API's alike.
//!
//! - normally by the registered card's numbers (method 2), or by the My Number card the
//!   clinic's reader read (method 1), at the facility's today;
//! - while the service is down, the visit is recorded there and the patient's four facts are
//!   kept with the booking (the patient's statement, as on a 被保険者資格申立書);
//! - after recovery, within the operating body's period, the qualification is confirmed by
//!   those facts at the visit date (method 3). 2–5 hits are listed for staff to pick the
//!   patient's own; none or more than five say what to do.
//!
//! Every answer is kept with the booking and with the registration (where the patient sees
//! it) with its audit entry in the same transaction, and pushed to the facility's screens.
//! The platform reaches the service only over HTTP ([`EligibilityClient`]).

use tsunagu_audit::By;
use tsunagu_clinics::Facility;
use tsunagu_insurance::check::{EligibilityClient, FourFactsAnswer, Link, Outcome, Query};
use tsunagu_insurance::links::LinkStore;
use tsunagu_insurance::outage::{Method, StatedFacts};
use tsunagu_insurance::{InsuranceStore, Kind};
use tsunagu_kernel::{DomainError, DomainResult};

use crate::{Booker, Booking, BookingStatus};

/// The insurance checks of bookings.
#[derive(Debug, Clone)]
pub struct Coverage {
    booker: Booker,
    insurance: InsuranceStore,
    links: LinkStore,
    client: EligibilityClient,
}

impl Coverage {
    /// Wires the checks: `client` speaks to the eligibility service, `links` holds the
    /// facilities' accounts there.
    pub fn new(
        booker: Booker,
        insurance: InsuranceStore,
        links: LinkStore,
        client: EligibilityClient,
    ) -> Self {
        Self {
            booker,
            insurance,
            links,
            client,
        }
    }

    /// The facility's account at the eligibility service: the one its admin stored, else the
    /// configuration's.
    pub async fn link_for(&self, facility: &Facility) -> DomainResult<Link> {
        match self.links.get(facility.id).await? {
            Some(l) => Ok(l),
            None => self
                .client
                .configured(&facility.slug)
                .ok_or(DomainError::Conflict("error.insurance.not_linked")),
        }
    }

    /// The account in use and whether it comes from the configuration rather than the
    /// admin's settings screen (never the password to a page).
    pub async fn current_link(&self, facility: &Facility) -> DomainResult<Option<(Link, bool)>> {
        Ok(match self.links.get(facility.id).await? {
            Some(l) => Some((l, false)),
            None => self.client.configured(&facility.slug).map(|l| (l, true)),
        })
    }

    /// Stores the facility's account at the eligibility service after proving it logs in
    /// (admins only), audited.
    pub async fn save_link(
        &self,
        by: &By,
        facility: &Facility,
        institution: &str,
        login_id: &str,
        password: &str,
    ) -> DomainResult<()> {
        let link = Link::parse(institution, login_id, password)?;
        self.client.verify(&link).await?;
        self.links.save(facility.id, &link, by).await
    }

    /// Forgets the facility's stored account (the configuration's, if any, applies again).
    pub async fn remove_link(&self, by: &By, facility: &Facility) -> DomainResult<()> {
        self.links.remove(facility.id, by).await
    }

    /// Keeps an answer with the booking and the registration (the store appends the audit
    /// entry in the same transaction) and tells the facility's screens. The answer keeps
    /// whose qualification it found and where that person differs from the patient.
    async fn keep(
        &self,
        by: &By,
        facility: &Facility,
        b: &Booking,
        method: Method,
        mut outcome: Outcome,
        seen_registration: Option<i64>,
    ) -> DomainResult<Outcome> {
        if let Some(h) = &outcome.holder {
            let p = self
                .booker
                .patients
                .get_at(facility.id, b.patient_id)
                .await?
                .patient;
            outcome.differences = h.differences_from(
                &p.full_name(),
                &format!("{}{}", p.family_name_kana, p.given_name_kana),
                p.birth_date,
                p.sex,
            );
        }
        let registration = seen_registration.map(|seen| (b.patient_id, seen));
        if !self
            .insurance
            .record_answer(b.id, b.patient_id, method, &outcome, by, registration)
            .await?
        {
            return Err(DomainError::Conflict("error.insurance.check_changed"));
        }
        self.booker
            .tell(facility.id, None, "booking.changed", b.id)
            .await;
        Ok(outcome)
    }

    /// Confirms the patient's registered insurance card by its numbers (method 2), as the
    /// facility's institution account: at the visit date for an outage-time visit (allowed
    /// after recovery), else at the facility's today.
    pub async fn card_check(
        &self,
        by: &By,
        facility: &Facility,
        booking: i64,
    ) -> DomainResult<Outcome> {
        let b = self.booker.bookings.get_at(facility.id, booking).await?;
        // The card numbers are the patient's until they share their record with the facility.
        self.booker
            .patients
            .ensure_shared(facility.id, b.patient_id)
            .await?;
        let reg = self
            .insurance
            .get(b.patient_id)
            .await?
            .ok_or(DomainError::Conflict("error.insurance.none_registered"))?;
        if reg.kind == Kind::Myna {
            return Err(DomainError::Conflict("error.insurance.check_myna"));
        }
        let on = match self.insurance.outage_visit(b.id).await? {
            Some(o) => o.visit_date,
            None => self.booker.today(facility),
        };
        let query = Query {
            insurer_number: reg.insurer_number.clone().unwrap_or_default(),
            symbol: reg.symbol.clone().unwrap_or_default(),
            number: reg.number.clone().unwrap_or_default(),
            branch: reg.branch.clone().unwrap_or_default(),
            confirmation_date: on.to_string(),
        };
        let link = self.link_for(facility).await?;
        let outcome = self.client.by_card(&link, &query).await?;
        self.keep(
            by,
            facility,
            &b,
            Method::CardNumbers,
            outcome,
            Some(reg.updated_at),
        )
        .await
    }

    /// Confirms by My Number card (method 1) at the facility's today: `card` is what the
    /// clinic's card reader returned after the patient's PIN or face check (no reader exists
    /// here; a real one would post this itself).
    pub async fn my_number_card_check(
        &self,
        by: &By,
        facility: &Facility,
        booking: i64,
        card: &str,
    ) -> DomainResult<Outcome> {
        let b = self.booker.bookings.get_at(facility.id, booking).await?;
        let card = card.trim();
        if card.is_empty() || card.len() > 128 || card.chars().any(char::is_control) {
            return Err(DomainError::invalid(
                "card",
                "error.insurance.card_identity",
            ));
        }
        let seen = self
            .insurance
            .get(b.patient_id)
            .await?
            .map(|r| r.updated_at);
        let link = self.link_for(facility).await?;
        let outcome = self
            .client
            .by_my_number_card(&link, card, self.booker.today(facility))
            .await?;
        self.keep(by, facility, &b, Method::MyNumberCard, outcome, seen)
            .await
    }

    /// Records the booking as a visit while the eligibility service is down, with the four
    /// facts the patient stated. Only a visit taking place today, not cancelled or missed,
    /// and only once; the service must be down (it refuses otherwise).
    pub async fn record_outage_visit(
        &self,
        by: &By,
        facility: &Facility,
        booking: i64,
        stated: &StatedFacts,
    ) -> DomainResult<()> {
        let b = self.booker.bookings.get_at(facility.id, booking).await?;
        outage_visit_allowed(&b, facility, self.booker.today(facility))?;
        if self.insurance.outage_visit(b.id).await?.is_some() {
            return Err(DomainError::Conflict(
                "error.insurance.outage_visit_recorded",
            ));
        }
        let facts = stated.parse()?;
        // The service learns that booking N came and the name noted from the card, as the
        // institution's staff would record it on the service's own screen (its list of
        // outage visits shows date and name); the other facts stay here until the search.
        let name = if facts.name.is_empty() {
            &facts.kana
        } else {
            &facts.name
        };
        let link = self.link_for(facility).await?;
        let remote = self
            .client
            .record_outage_visit(&link, &format!("booking-{}", b.id), name)
            .await?;
        let today = self.booker.today(facility);
        self.insurance
            .record_outage_visit(b.id, b.patient_id, remote, today, &facts, by)
            .await?;
        self.booker
            .tell(facility.id, None, "booking.changed", b.id)
            .await;
        Ok(())
    }

    /// Confirms an outage-time visit by its four facts (method 3) at the visit date; with
    /// `pick`, opens that candidate of an earlier 2–5 hit list. None or more than five hits
    /// are errors saying what to do; a list is returned for the caller to show, and showing
    /// it (other people's qualifications) is audited as an access.
    pub async fn four_facts(
        &self,
        by: &By,
        facility: &Facility,
        booking: i64,
        pick: Option<i64>,
    ) -> DomainResult<FourFactsAnswer> {
        let (b, answer) = self.search_or_keep(by, facility, booking, pick).await?;
        if let FourFactsAnswer::Candidates(c) = &answer {
            self.audit_list(by, &b, c.len()).await?;
        }
        Ok(answer)
    }

    /// The page's 「4情報で資格を確認する」: one hit is confirmed and kept at once; a list is
    /// not shown here (nothing is audited) but by [`Self::four_facts_list`] at the address
    /// the page goes to next, so that a reload never posts again.
    pub async fn four_facts_start(
        &self,
        by: &By,
        facility: &Facility,
        booking: i64,
    ) -> DomainResult<FourFactsAnswer> {
        Ok(self.search_or_keep(by, facility, booking, None).await?.1)
    }

    /// The 2–5 candidates of the booking's four facts, to show and pick from (audited as an
    /// access). Asked again each time, so the list is always the service's current one; if
    /// it has become a single hit, the caller is told to confirm again.
    pub async fn four_facts_list(
        &self,
        by: &By,
        facility: &Facility,
        booking: i64,
    ) -> DomainResult<Vec<tsunagu_insurance::check::Candidate>> {
        let (b, visit, link) = self.four_facts_context(facility, booking).await?;
        match self
            .client
            .four_facts(&link, visit.remote_id, &visit.facts, visit.visit_date)
            .await?
        {
            FourFactsAnswer::Candidates(c) => {
                self.audit_list(by, &b, c.len()).await?;
                Ok(c)
            }
            FourFactsAnswer::Confirmed(_) => {
                Err(DomainError::Conflict("error.insurance.four_facts_again"))
            }
            FourFactsAnswer::TooMany(_) => {
                Err(DomainError::Conflict("error.insurance.four_facts_too_many"))
            }
            FourFactsAnswer::NotFound => {
                Err(DomainError::Conflict("error.insurance.four_facts_none"))
            }
        }
    }

    /// The booking, its outage-time visit and the facility's link.
    async fn four_facts_context(
        &self,
        facility: &Facility,
        booking: i64,
    ) -> DomainResult<(Booking, tsunagu_insurance::outage::OutageVisit, Link)> {
        let b = self.booker.bookings.get_at(facility.id, booking).await?;
        let visit = self
            .insurance
            .outage_visit(b.id)
            .await?
            .ok_or(DomainError::Conflict("error.insurance.no_outage_visit"))?;
        let link = self.link_for(facility).await?;
        Ok((b, visit, link))
    }

    /// Searches (or opens `pick`); a single answer is kept on the booking, audited and
    /// pushed; none or too many are errors.
    async fn search_or_keep(
        &self,
        by: &By,
        facility: &Facility,
        booking: i64,
        pick: Option<i64>,
    ) -> DomainResult<(Booking, FourFactsAnswer)> {
        let (b, visit, link) = self.four_facts_context(facility, booking).await?;
        let answer = match pick {
            Some(c) => FourFactsAnswer::Confirmed(
                self.client
                    .four_facts_pick(&link, visit.remote_id, c, visit.visit_date)
                    .await?,
            ),
            None => {
                self.client
                    .four_facts(&link, visit.remote_id, &visit.facts, visit.visit_date)
                    .await?
            }
        };
        match answer {
            FourFactsAnswer::Confirmed(outcome) => {
                let seen = self
                    .insurance
                    .get(b.patient_id)
                    .await?
                    .map(|r| r.updated_at);
                let kept = self
                    .keep(by, facility, &b, Method::FourFacts, outcome, seen)
                    .await?;
                Ok((b, FourFactsAnswer::Confirmed(kept)))
            }
            FourFactsAnswer::Candidates(c) => Ok((b, FourFactsAnswer::Candidates(c))),
            FourFactsAnswer::TooMany(_) => {
                Err(DomainError::Conflict("error.insurance.four_facts_too_many"))
            }
            FourFactsAnswer::NotFound => {
                Err(DomainError::Conflict("error.insurance.four_facts_none"))
            }
        }
    }

    /// Showing a list of other people's qualifications is an access to them.
    async fn audit_list(&self, by: &By, b: &Booking, n: usize) -> DomainResult<()> {
        self.booker
            .audit
            .append(by.entry(
                Some(b.patient_id),
                "insurance.four_facts",
                format!("booking={} candidates={n}", b.id),
            ))
            .await
            .map(|_| ())
    }

    /// Whether the booking's page offers the outage-visit form: only where it can be used.
    pub fn offers_outage_visit(&self, b: &Booking, facility: &Facility) -> bool {
        outage_visit_allowed(b, facility, self.booker.today(facility)).is_ok()
    }
}

/// An outage-time visit is the visit happening now: a booking of today that is neither
/// cancelled nor missed.
fn outage_visit_allowed(
    b: &Booking,
    facility: &Facility,
    today: jiff::civil::Date,
) -> DomainResult<()> {
    if matches!(b.status, BookingStatus::Cancelled | BookingStatus::NoShow) {
        return Err(DomainError::Conflict("error.insurance.outage_visit_closed"));
    }
    let day = tsunagu_kernel::clock::from_ms(b.starts_at)
        .to_zoned(facility.tz())
        .date();
    if day != today {
        return Err(DomainError::Conflict("error.insurance.outage_visit_today"));
    }
    Ok(())
}
