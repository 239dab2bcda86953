//! The account use cases: sign-up, login, password reset, phone and email changes, and the
//! staff/operator logins with their second factor.

use std::sync::Arc;

use tsunagu_db::{Db, DbResultExt, sqlx};
use tsunagu_i18n::{Lang, t, t_args};
use tsunagu_kernel::secret::{new_token, token_digest};
use tsunagu_kernel::{AccountId, Clock, DomainError, DomainResult, Email, FacilityId, Phone};
use tsunagu_notifications::{Channel, Outbox, OutgoingMessage, SECRET_MARK};

use crate::attempts::{self, Counter};
use crate::codes::{CodeStore, Purpose};
use crate::password;
use crate::patients::{NewPatient, PatientStore};
use crate::ratelimit::{Limit, RateLimiter};
use crate::sessions::{Realm, SessionStore};
use crate::staff::{LoginTable, StaffStore};

/// The knobs of the login and code rules, in one place (tests shorten nothing: they move
/// the clock).
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// Failures before each further attempt is delayed.
    pub free_failures: i64,
    /// First delay after `free_failures` (doubles each time).
    pub first_delay_ms: i64,
    /// Failures that lock the login.
    pub lock_after: i64,
    /// How long a lock lasts.
    pub lock_ms: i64,
    /// Minimum gap between two codes to one number.
    pub resend_cooldown_ms: i64,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            free_failures: 3,
            first_delay_ms: 5_000,
            lock_after: 10,
            lock_ms: 30 * 60 * 1000,
            resend_cooldown_ms: 60_000,
        }
    }
}

impl LoginPolicy {
    /// The earliest next attempt after `failed` consecutive failures at `now`.
    pub fn next_attempt_at(&self, failed: i64, now: i64) -> i64 {
        if failed >= self.lock_after {
            now + self.lock_ms
        } else if failed > self.free_failures {
            let exp = (failed - self.free_failures - 1).min(10);
            now + (self.first_delay_ms << exp).min(self.lock_ms)
        } else {
            0
        }
    }
}

const HOUR: i64 = 3600 * 1000;
const CODE_PER_NUMBER: Limit = Limit {
    max: 5,
    window_ms: HOUR,
    key: "error.rate.codes_number",
};
const CODE_PER_IP: Limit = Limit {
    max: 20,
    window_ms: HOUR,
    key: "error.rate.codes_ip",
};
const VERIFY_PER_IP: Limit = Limit {
    max: 60,
    window_ms: HOUR,
    key: "error.rate.tries_ip",
};
/// Second-factor tries from one address.
const TOTP_PER_IP: Limit = Limit {
    max: 30,
    window_ms: 15 * 60 * 1000,
    key: "error.totp.rate_ip",
};
/// Second-factor tries on one account, whatever the address and session.
const TOTP_PER_ACCOUNT: Limit = Limit {
    max: 10,
    window_ms: HOUR,
    key: "error.totp.rate_account",
};
/// Wrong codes one pending session may try before the password must be entered again.
const TOTP_PER_PENDING: Limit = Limit {
    max: 5,
    window_ms: HOUR,
    key: "error.totp.restart",
};
const LOGIN_PER_IP: Limit = Limit {
    max: 60,
    window_ms: 15 * 60 * 1000,
    key: "error.rate.logins_ip",
};

/// Enrolment codes live three days: long enough to hand over, short enough to expire.
const ENROL_CODE_TTL_MS: i64 = 72 * HOUR;

/// Email verification links live a day.
const EMAIL_LINK_TTL_MS: i64 = 24 * HOUR;

/// The account services.
#[derive(Debug, Clone)]
pub struct Accounts {
    db: Db,
    clock: Arc<dyn Clock>,
    /// Patients and accounts.
    pub patients: PatientStore,
    /// Staff and operators.
    pub staff: StaffStore,
    /// Sessions.
    pub sessions: SessionStore,
    /// SMS codes.
    pub codes: CodeStore,
    /// Rate limits.
    pub limiter: RateLimiter,
    outbox: Outbox,
    audit: tsunagu_audit::AuditLog,
    policy: LoginPolicy,
}

impl Accounts {
    /// Wires the services over one database; `sealer` keys the SMS code digests.
    pub fn new(
        db: Db,
        clock: Arc<dyn Clock>,
        outbox: Outbox,
        sealer: tsunagu_kernel::seal::Sealer,
        audit: tsunagu_audit::AuditLog,
    ) -> Self {
        Self {
            audit,
            patients: PatientStore::new(db.clone(), clock.clone()),
            staff: StaffStore::new(db.clone(), clock.clone()),
            sessions: SessionStore::new(db.clone(), clock.clone(), sealer.clone()),
            codes: CodeStore::new(db.clone(), clock.clone(), sealer),
            limiter: RateLimiter::new(db.clone(), clock.clone()),
            db,
            clock,
            outbox,
            policy: LoginPolicy::default(),
        }
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The login policy in force.
    pub fn policy(&self) -> LoginPolicy {
        self.policy
    }

    /// The facility's patients as staff list them: one audited access to the list.
    pub async fn patients_seen_by(
        &self,
        by: &tsunagu_audit::By,
        facility: FacilityId,
        limit: i64,
    ) -> DomainResult<Vec<crate::patients::FacilityPatient>> {
        let list = self.patients.list_at(facility, limit).await?;
        self.audit
            .append(by.entry(None, "patient.list", format!("count={}", list.len())))
            .await?;
        Ok(list)
    }

    /// One patient of the facility as staff open them, audited. Scope first: another
    /// facility's patient is "not found" and nothing is recorded, because nothing was shown.
    pub async fn patient_seen_by(
        &self,
        by: &tsunagu_audit::By,
        facility: FacilityId,
        patient: tsunagu_kernel::PatientId,
    ) -> DomainResult<crate::patients::FacilityPatient> {
        let fp = self.patients.get_at(facility, patient).await?;
        self.audit
            .append(by.entry(Some(patient), "patient.view", String::new()))
            .await?;
        Ok(fp)
    }

    /// Opens a staff session at `stage` after a login step; a full session (password alone,
    /// or after the second factor) is the `staff.login` of the audit log, from the page and
    /// the API alike.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_staff_session(
        &self,
        facility: FacilityId,
        staff: tsunagu_kernel::StaffId,
        stage: crate::sessions::Stage,
        origin: &crate::sessions::Origin,
        ip: &str,
        request_id: &str,
    ) -> DomainResult<String> {
        let user = self.staff.get(facility, staff).await?;
        let (token, _) = self
            .sessions
            .create(
                crate::sessions::Realm::Staff,
                Some(staff.0),
                Some(facility),
                stage,
                origin,
                serde_json::Map::new(),
            )
            .await?;
        if stage == crate::sessions::Stage::Full {
            self.audit
                .append(tsunagu_audit::Entry {
                    actor: tsunagu_audit::Actor {
                        kind: "staff",
                        id: Some(staff.0),
                        label: format!("{} ({})", user.display_name, user.role.as_str()),
                    },
                    facility_id: Some(facility),
                    patient_id: None,
                    action: "staff.login",
                    detail: String::new(),
                    ip: ip.to_string(),
                    request_id: request_id.to_string(),
                })
                .await?;
        }
        Ok(token)
    }

    /// Staff set their facility's chart number for a patient it knows (empty clears it);
    /// the change and its audit entry commit together.
    pub async fn set_chart_number(
        &self,
        facility: FacilityId,
        patient: tsunagu_kernel::PatientId,
        input: &str,
        by: &tsunagu_audit::By,
    ) -> DomainResult<()> {
        let chart = crate::patients::parse_chart_number(input)?;
        let mut tx = self.db.begin_write().await?;
        self.patients
            .set_chart_number_in(&mut tx, facility, patient, chart.as_deref())
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(Some(patient), "patient.update", "chart_number".into()),
            )
            .await?;
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// Sends a code for `purpose` to `phone`, honouring cooldown and rate limits.
    ///
    /// The answer never says whether the number has an account: for `Reset` an unknown
    /// number gets no SMS, and for `Signup` or `PhoneChange` a number already registered
    /// gets, instead of a code, a notice that only its holder reads. Both after the same
    /// limits, so the form cannot be used to find out who is a member.
    pub async fn send_code(
        &self,
        purpose: Purpose,
        phone: &Phone,
        ip: &str,
        lang: Lang,
    ) -> DomainResult<()> {
        let existing = self.patients.account_by_phone(phone).await?;
        if let Some(since) = self.codes.since_last(purpose, phone).await?
            && since < self.policy.resend_cooldown_ms
        {
            let wait = (self.policy.resend_cooldown_ms - since) / 1000 + 1;
            return Err(DomainError::TooManyRequests {
                key: "error.code.cooldown",
                retry_after_secs: u64::try_from(wait).unwrap_or(60),
            });
        }
        self.limiter
            .hit(&format!("code:ip:{ip}"), CODE_PER_IP)
            .await?;
        self.limiter
            .hit(&format!("code:phone:{}", phone.e164()), CODE_PER_NUMBER)
            .await?;
        match (purpose, &existing) {
            (Purpose::Reset, None) => return Ok(()),
            (Purpose::Signup | Purpose::PhoneChange, Some(account)) => {
                let key = if purpose == Purpose::Signup {
                    "sms.already_registered"
                } else {
                    "sms.phone_in_use"
                };
                let mut tx = self.db.begin_write().await?;
                self.outbox
                    .enqueue_in(
                        &mut tx,
                        OutgoingMessage {
                            channel: Channel::Sms,
                            destination: phone.e164().to_string(),
                            subject: String::new(),
                            body: t(lang, key).into_owned(),
                            secret: None,
                            purpose: "number_in_use",
                            facility_id: None,
                            account_id: Some(account.id),
                        },
                    )
                    .await?;
                tx.commit().await.or_internal()?;
                return Ok(());
            }
            _ => {}
        }
        let mut tx = self.db.begin_write().await?;
        let code = self.codes.issue_in(&mut tx, purpose, phone).await?;
        let key = match purpose {
            Purpose::Signup => "sms.signup_code",
            Purpose::Reset => "sms.reset_code",
            Purpose::PhoneChange => "sms.phone_change_code",
        };
        self.outbox
            .enqueue_in(
                &mut tx,
                OutgoingMessage {
                    channel: Channel::Sms,
                    destination: phone.e164().to_string(),
                    subject: String::new(),
                    body: t_args(lang, key, &[("code", SECRET_MARK), ("minutes", "10")]),
                    secret: Some(code.as_str().to_string()),
                    purpose: purpose.as_str(),
                    facility_id: None,
                    account_id: existing.map(|a| a.id),
                },
            )
            .await?;
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// Checks a code typed by the user (rate-limited per address as well as per code).
    pub async fn check_code(
        &self,
        purpose: Purpose,
        phone: &Phone,
        code: &str,
        ip: &str,
    ) -> DomainResult<()> {
        self.limiter
            .hit(&format!("verify:ip:{ip}"), VERIFY_PER_IP)
            .await?;
        self.codes.verify(purpose, phone, code).await
    }

    /// Creates the account once the number is proved and the form is valid.
    pub async fn complete_signup(
        &self,
        phone: &Phone,
        password_input: &str,
        me: &NewPatient,
    ) -> DomainResult<AccountId> {
        let pw = password::validate_new("password", password_input)?;
        let hash = password::hash(pw).await?;
        let mut tx = self.db.begin_write().await?;
        let (account, _) = self
            .patients
            .create_account_in(&mut tx, phone, &hash, me)
            .await?;
        tx.commit().await.or_internal()?;
        Ok(account)
    }

    /// Checks phone and password; applies the slow-down and lock rules. The attempt is
    /// counted before the password is hashed (see [`crate::attempts`]).
    pub async fn patient_login(
        &self,
        phone_input: &str,
        password_input: &str,
        ip: &str,
    ) -> DomainResult<AccountId> {
        self.limiter
            .hit(&format!("login:ip:{ip}"), LOGIN_PER_IP)
            .await?;
        let phone = Phone::parse("phone", phone_input)?;
        if password_input.is_empty() {
            return Err(DomainError::invalid("password", "error.password.required"));
        }
        let now = self.clock.now_ms();
        let Some(account) = self.patients.account_by_phone(&phone).await? else {
            // Same work as a real check, so timing does not reveal unknown numbers.
            let _ =
                password::verify(password_input.to_string(), password::dummy_hash().into()).await;
            return Err(DomainError::Unauthorized("error.login.failed"));
        };
        let claim =
            attempts::claim(&self.db, &self.policy, Counter::Patient, account.id.0, now).await?;
        if password::verify(password_input.to_string(), account.password_hash.clone()).await? {
            claim.succeeded(&self.db).await?;
            Ok(account.id)
        } else {
            Err(claim.failed(&self.policy))
        }
    }

    /// Sets a new password after a reset code was proved; ends every session.
    pub async fn complete_reset(
        &self,
        phone: &Phone,
        password_input: &str,
    ) -> DomainResult<AccountId> {
        let pw = password::validate_new("password", password_input)?;
        let account = self
            .patients
            .account_by_phone(phone)
            .await?
            .ok_or(DomainError::invalid("phone", "error.reset.no_account"))?;
        let hash = password::hash(pw).await?;
        self.patients.set_password(account.id, &hash).await?;
        self.sessions
            .delete_all(Realm::Patient, account.id.0)
            .await?;
        Ok(account.id)
    }

    /// Changes the password of a signed-in account after checking the current one; every
    /// other session of the account ends (a thief signed in elsewhere is signed out), the
    /// session `keep` that asked stays.
    pub async fn change_password(
        &self,
        account: AccountId,
        current: &str,
        new: &str,
        keep: &str,
    ) -> DomainResult<()> {
        let a = self.patients.account(account).await?;
        if !password::verify(current.to_string(), a.password_hash).await? {
            return Err(DomainError::invalid(
                "current_password",
                "error.password.current_wrong",
            ));
        }
        let pw = password::validate_new("password", new)?;
        let hash = password::hash(pw).await?;
        self.patients.set_password(account, &hash).await?;
        self.sessions
            .delete_others(Realm::Patient, account.0, keep)
            .await?;
        Ok(())
    }

    /// Sends a verification link to a new email address.
    pub async fn request_email(
        &self,
        account: AccountId,
        email: &Email,
        base_url: &str,
        lang: Lang,
    ) -> DomainResult<()> {
        self.limiter
            .hit(
                &format!("email:acct:{}", account.0),
                Limit {
                    max: 5,
                    window_ms: HOUR,
                    key: "error.rate.emails",
                },
            )
            .await?;
        let token = new_token();
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO email_verifications (token_digest, account_id, email, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_digest(&token))
        .bind(account.0)
        .bind(email.as_str())
        .bind(now + EMAIL_LINK_TTL_MS)
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_internal()?;
        let link = format!("{base_url}/my/email/verify?token={token}");
        self.outbox
            .enqueue_in(
                &mut tx,
                OutgoingMessage {
                    channel: Channel::Email,
                    destination: email.as_str().to_string(),
                    subject: t(lang, "mail.verify.subject").into_owned(),
                    body: t_args(
                        lang,
                        "mail.verify.body",
                        &[("link", SECRET_MARK), ("hours", "24")],
                    ),
                    secret: Some(link),
                    purpose: "email_verify",
                    facility_id: None,
                    account_id: Some(account),
                },
            )
            .await?;
        tx.commit().await.or_internal()?;
        Ok(())
    }

    /// Follows a verification link: the address becomes the account's verified email.
    pub async fn verify_email(&self, token: &str) -> DomainResult<AccountId> {
        let now = self.clock.now_ms();
        let mut tx = self.db.begin_write().await?;
        let row: Option<(i64, String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT account_id, email, expires_at, used_at FROM email_verifications WHERE token_digest = $1",
        )
        .bind(token_digest(token))
        .fetch_optional(&mut *tx)
        .await
        .or_internal()?;
        let Some((account, email, expires_at, used_at)) = row else {
            return Err(DomainError::invalid("token", "error.email_link.invalid"));
        };
        if used_at.is_some() {
            return Err(DomainError::invalid("token", "error.email_link.used"));
        }
        if expires_at <= now {
            return Err(DomainError::invalid("token", "error.email_link.expired"));
        }
        sqlx::query("UPDATE email_verifications SET used_at = $2 WHERE token_digest = $1")
            .bind(token_digest(token))
            .bind(now)
            .execute(&mut *tx)
            .await
            .or_internal()?;
        sqlx::query(
            "UPDATE accounts SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(account)
        .bind(&email)
        .bind(now)
        .execute(&mut *tx)
        .await
        .or_internal()?;
        tx.commit().await.or_internal()?;
        Ok(AccountId(account))
    }

    /// Checks a staff login at a facility; returns the staff id and whether TOTP must be
    /// entered (`Some(true)`), enrolled (`Some(false)`), or is not required (`None`).
    pub async fn staff_login(
        &self,
        facility: FacilityId,
        require_totp_all: bool,
        login_id: &str,
        password_input: &str,
        ip: &str,
    ) -> DomainResult<(i64, Option<bool>)> {
        self.limiter
            .hit(&format!("login:ip:{ip}"), LOGIN_PER_IP)
            .await?;
        let login_id = login_id.trim().to_ascii_lowercase();
        let now = self.clock.now_ms();
        let user = self.staff.find_login(facility, &login_id).await?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            let _ =
                password::verify(password_input.to_string(), password::dummy_hash().into()).await;
            return Err(DomainError::Unauthorized("error.login.failed_id"));
        };
        let claim = attempts::claim(&self.db, &self.policy, Counter::Staff, user.id.0, now).await?;
        if !password::verify(password_input.to_string(), user.password_hash.clone()).await? {
            return Err(claim.failed(&self.policy));
        }
        let needs = user.role.always_needs_totp() || require_totp_all || user.totp_enabled;
        if needs {
            claim.passed_first_factor(&self.db).await?;
        } else {
            claim.succeeded(&self.db).await?;
        }
        Ok((user.id.0, needs.then_some(user.totp_enabled)))
    }

    /// Checks an operator login; operators always use TOTP. Returns the id and whether TOTP
    /// is already enrolled.
    pub async fn operator_login(
        &self,
        login_id: &str,
        password_input: &str,
        ip: &str,
    ) -> DomainResult<(i64, bool)> {
        self.limiter
            .hit(&format!("login:ip:{ip}"), LOGIN_PER_IP)
            .await?;
        let now = self.clock.now_ms();
        let Some(op) = self.staff.find_operator(login_id.trim()).await? else {
            let _ =
                password::verify(password_input.to_string(), password::dummy_hash().into()).await;
            return Err(DomainError::Unauthorized("error.login.failed_id"));
        };
        let claim =
            attempts::claim(&self.db, &self.policy, Counter::Operator, op.id.0, now).await?;
        if !password::verify(password_input.to_string(), op.password_hash.clone()).await? {
            return Err(claim.failed(&self.policy));
        }
        claim.passed_first_factor(&self.db).await?;
        Ok((op.id.0, op.totp_enabled))
    }

    /// One try at the second factor (a TOTP code or an enrolment code), limited per
    /// client address, per account and per pending login; the pending login ends after its
    /// last try, so the password must be given again.
    async fn second_factor_try(
        &self,
        table: LoginTable,
        id: i64,
        pending_digest: &str,
        ip: &str,
    ) -> DomainResult<()> {
        self.limiter
            .hit(&format!("totp:ip:{ip}"), TOTP_PER_IP)
            .await?;
        let counter = Counter::from(table);
        self.limiter
            .hit(&format!("totp:{counter:?}:{id}"), TOTP_PER_ACCOUNT)
            .await?;
        if self
            .limiter
            .hit(&format!("totp:pending:{pending_digest}"), TOTP_PER_PENDING)
            .await
            .is_err()
        {
            self.sessions.delete_digest(pending_digest).await?;
            return Err(DomainError::Unauthorized("error.totp.restart"));
        }
        Ok(())
    }

    /// Issues a one-time code that lets staff member `id` enrol an authenticator (first
    /// time, or after losing the phone: any enrolled one is removed). Shown once to the
    /// admin or operator who hands it over; valid 72 hours; audited with it.
    pub async fn issue_enrolment_code(
        &self,
        id: tsunagu_kernel::StaffId,
        by: &tsunagu_audit::By,
    ) -> DomainResult<String> {
        let mut tx = self.db.begin_write().await?;
        let code = self
            .new_enrolment_code_in(&mut tx, LoginTable::Staff, id.0)
            .await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "staff.enrol_code", format!("staff={}", id.0)),
            )
            .await?;
        tx.commit().await.or_internal()?;
        Ok(code)
    }

    /// The operator opens a facility with its first admin: the facility, the admin, the
    /// admin's enrolment code (returned, to hand over) and the audit entry commit together,
    /// so a failure leaves no facility without its admin.
    pub async fn open_facility(
        &self,
        facility: &tsunagu_clinics::NewFacility,
        admin_login: String,
        admin_password: &str,
        by: &tsunagu_audit::By,
    ) -> DomainResult<(FacilityId, String)> {
        let pw = password::validate_new("password", admin_password)?;
        let hash = password::hash(pw).await?;
        let facilities = tsunagu_clinics::FacilityStore::new(self.db.clone(), self.clock.clone());
        let mut tx = self.db.begin_write().await?;
        let id = facilities.create_in(&mut tx, facility).await?;
        let admin = self
            .staff
            .create_in(
                &mut tx,
                id,
                &crate::staff::NewStaff {
                    login_id: admin_login,
                    display_name: "管理者".into(),
                    role: crate::Role::Admin,
                    medical_registration_year: None,
                },
                &hash,
            )
            .await?;
        let code = self
            .new_enrolment_code_in(&mut tx, LoginTable::Staff, admin.0)
            .await?;
        let mut entry = by.entry(None, "facility.create", format!("admin={}", admin.0));
        entry.facility_id = Some(id);
        self.audit.append_in(&mut tx, entry).await?;
        tx.commit().await.or_internal()?;
        Ok((id, code))
    }

    /// An admin adds a staff member to their facility, audited with it.
    pub async fn create_staff(
        &self,
        facility: FacilityId,
        new: &crate::staff::NewStaff,
        password_input: &str,
        by: &tsunagu_audit::By,
    ) -> DomainResult<tsunagu_kernel::StaffId> {
        let pw = password::validate_new("password", password_input)?;
        let hash = password::hash(pw).await?;
        let mut tx = self.db.begin_write().await?;
        let id = self.staff.create_in(&mut tx, facility, new, &hash).await?;
        self.audit
            .append_in(
                &mut tx,
                by.entry(None, "staff.create", format!("staff_id={}", id.0)),
            )
            .await?;
        tx.commit().await.or_internal()?;
        Ok(id)
    }

    /// A fresh enrolment code for `id`, stored (digest, 72-hour expiry) in the caller's
    /// transaction; the code itself is returned once, to be handed over.
    async fn new_enrolment_code_in(
        &self,
        tx: &mut tsunagu_db::Tx,
        table: LoginTable,
        id: i64,
    ) -> DomainResult<String> {
        let code = crate::totp::new_enrolment_code();
        let digest = crate::totp::enrolment_digest(self.codes.sealer(), &code);
        self.staff
            .set_enrolment_code_in(
                tx,
                table,
                id,
                &digest,
                self.clock.now_ms() + ENROL_CODE_TTL_MS,
            )
            .await?;
        Ok(code)
    }

    /// Issues a chosen enrolment code (the demo data's, printed with its logins).
    pub async fn issue_enrolment_code_as(
        &self,
        table: LoginTable,
        id: i64,
        code: &str,
        ttl_ms: i64,
    ) -> DomainResult<()> {
        let digest = self.codes.sealer().mac(&format!(
            "enrol:{}",
            crate::totp::normalise_enrolment_code(code)
        ));
        self.staff
            .set_enrolment_code(table, id, &digest, self.clock.now_ms() + ttl_ms)
            .await
    }

    /// Proves an enrolment code on the pending session `pending_digest` and starts the
    /// enrolment: a fresh secret is stored (not yet enabled) and returned for the QR code.
    /// Limited like the second factor; the code works once.
    pub async fn redeem_enrolment_code(
        &self,
        table: LoginTable,
        id: i64,
        pending_digest: &str,
        code: &str,
        ip: &str,
    ) -> DomainResult<String> {
        self.second_factor_try(table, id, pending_digest, ip)
            .await?;
        let given = crate::totp::normalise_enrolment_code(code);
        if given.is_empty() {
            return Err(DomainError::invalid(
                "enrol_code",
                "error.totp.enrol_code_required",
            ));
        }
        let digest = crate::totp::enrolment_digest(self.codes.sealer(), &given);
        let secret = crate::totp::new_secret();
        if !self
            .staff
            .take_enrolment_code(table, id, &digest, self.clock.now_ms(), &secret)
            .await?
        {
            return Err(DomainError::invalid(
                "enrol_code",
                "error.totp.enrol_code_wrong",
            ));
        }
        Ok(secret)
    }

    /// Checks a TOTP code for a staff member or operator (enrolling it if not yet enabled)
    /// on the pending session `pending_digest`.
    ///
    /// The second factor is guarded like the password: limits per client address and per
    /// account, the account's own failure counter (shared with password failures, so the
    /// lock applies to both), and a pending session that ends after a few wrong codes.
    pub async fn check_totp(
        &self,
        table: LoginTable,
        id: i64,
        pending_digest: &str,
        code: &str,
        ip: &str,
    ) -> DomainResult<()> {
        self.second_factor_try(table, id, pending_digest, ip)
            .await?;
        let now = self.clock.now();
        let claim = attempts::claim(
            &self.db,
            &self.policy,
            Counter::from(table),
            id,
            now.as_millisecond(),
        )
        .await?;
        let (secret, last_step) = self.staff.totp_state(table, id).await?;
        let Some(secret) = secret else {
            return Err(DomainError::invalid("code", "error.totp.not_enrolled"));
        };
        let secs = u64::try_from(now.as_second()).unwrap_or(0);
        match crate::totp::verify(&secret, code, secs, last_step)? {
            Some(step) if self.staff.accept_totp_step(table, id, step).await? => {
                claim.succeeded(&self.db).await?;
                Ok(())
            }
            _ => match claim.failed(&self.policy) {
                DomainError::Unauthorized(_) => {
                    Err(DomainError::invalid("code", "error.totp.wrong"))
                }
                locked => {
                    self.sessions.delete_digest(pending_digest).await?;
                    Err(locked)
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_slows_then_locks() {
        let p = LoginPolicy::default();
        assert_eq!(p.next_attempt_at(1, 0), 0);
        assert_eq!(p.next_attempt_at(3, 0), 0);
        assert_eq!(p.next_attempt_at(4, 0), 5_000);
        assert_eq!(p.next_attempt_at(5, 0), 10_000);
        assert_eq!(p.next_attempt_at(9, 0), 160_000);
        assert_eq!(p.next_attempt_at(10, 0), 30 * 60 * 1000);
    }
}
