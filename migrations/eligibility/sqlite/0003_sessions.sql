-- Server-side sessions of the eligibility service's own accounts (same shape as the
-- platform's, in this database: the two services share no tables).
CREATE TABLE sessions (
    id_digest TEXT PRIMARY KEY,
    realm TEXT NOT NULL CHECK (realm IN ('patient', 'staff', 'operator')),
    principal_id INTEGER,
    facility_id INTEGER,
    stage TEXT NOT NULL DEFAULT 'full',
    csrf TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_principal ON sessions (realm, principal_id);
