-- Guests of a visit (C9 groundwork): family, an interpreter or a remote specialist, each
-- with a link of their own (derived from link_nonce with the server's key, looked up by
-- digest, never stored), a validity, and the doctor's admission. Revoking clears the
-- digest: the link stops at once and the guest's page is closed.
CREATE TABLE visit_guests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    visit_id INTEGER NOT NULL REFERENCES visits(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('family', 'interpreter', 'specialist')),
    link_nonce TEXT NOT NULL,
    link_digest TEXT UNIQUE,
    valid_until INTEGER NOT NULL,
    admitted_at INTEGER,
    revoked_at INTEGER,
    created_by INTEGER REFERENCES staff_users(id),
    created_at INTEGER NOT NULL
);
CREATE INDEX visit_guests_visit ON visit_guests (visit_id);
