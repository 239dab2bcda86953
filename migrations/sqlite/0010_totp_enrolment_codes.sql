-- A first (or renewed) TOTP enrolment needs a one-time code that an admin (for staff) or
-- the operating side (for a facility's first admin, for operators) hands over: the
-- password alone no longer lets anyone bind their own authenticator to an account.
-- Stored as a keyed digest with an expiry; cleared when used.
ALTER TABLE staff_users ADD COLUMN enrol_code_digest TEXT;
ALTER TABLE staff_users ADD COLUMN enrol_code_expires_at BIGINT;
ALTER TABLE operators ADD COLUMN enrol_code_digest TEXT;
ALTER TABLE operators ADD COLUMN enrol_code_expires_at BIGINT;
-- Enrolments started without a code are void: the secret was shown to whoever had the
-- password.
UPDATE staff_users SET totp_secret = NULL WHERE totp_enabled = 0;
UPDATE operators SET totp_secret = NULL WHERE totp_enabled = 0;
