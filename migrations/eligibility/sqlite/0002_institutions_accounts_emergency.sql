-- Who uses the eligibility service and under which rules: institutions and their accounts
-- (general / medical-information viewer / admin) and the operating body (実施機関); the
-- system's outage state; emergency periods opened for chosen institutions with a notice;
-- visits recorded during an outage; inquiry numbers; and the monitoring log of every
-- restricted search and view (F2, F5, F7, F8).

CREATE TABLE institutions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    institution_code TEXT REFERENCES institutions(code),
    login_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('general', 'viewer', 'admin', 'operator')),
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    next_login_at INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (institution_code, login_id)
);

CREATE TABLE system_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    outage_since INTEGER,
    updated_at INTEGER NOT NULL
);
INSERT INTO system_state (id, outage_since, updated_at) VALUES (1, NULL, 0);

CREATE TABLE emergency_periods (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    notice TEXT NOT NULL,
    created_by INTEGER NOT NULL REFERENCES accounts(id),
    created_at INTEGER NOT NULL,
    CHECK (starts_at < ends_at)
);

CREATE TABLE emergency_institutions (
    period_id INTEGER NOT NULL REFERENCES emergency_periods(id),
    institution_code TEXT NOT NULL REFERENCES institutions(code),
    PRIMARY KEY (period_id, institution_code)
);

CREATE TABLE outage_visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    institution_code TEXT NOT NULL REFERENCES institutions(code),
    label TEXT NOT NULL,
    visited_at INTEGER NOT NULL,
    recorded_by INTEGER NOT NULL REFERENCES accounts(id)
);
CREATE INDEX outage_visits_institution ON outage_visits (institution_code, visited_at);

CREATE TABLE inquiry_numbers (
    institution_code TEXT NOT NULL REFERENCES institutions(code),
    qualification_id INTEGER NOT NULL REFERENCES qualifications(id),
    inquiry_number TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (institution_code, qualification_id)
);

CREATE TABLE monitoring_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    institution_code TEXT,
    account_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    conditions TEXT NOT NULL DEFAULT '',
    hits INTEGER,
    qualification_id INTEGER
);
CREATE INDEX monitoring_events_at ON monitoring_events (at);
