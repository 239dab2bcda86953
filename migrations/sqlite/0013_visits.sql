-- A visit (B8, C1–C8): the medical encounter of one booking or of one video-call URL,
-- separate from the connections that join it (a reload or a network change rejoins the
-- same visit). The patient link of a URL call is never stored: it is derived from
-- link_nonce with the server's key, so staff can show it again, and only its digest is
-- kept to look it up. Rotating the nonce revokes the old link.
CREATE TABLE visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    booking_id INTEGER UNIQUE REFERENCES bookings(id),
    kind TEXT NOT NULL CHECK (kind IN ('booking', 'url')),
    doctor_id INTEGER NOT NULL REFERENCES staff_users(id),
    title TEXT NOT NULL DEFAULT '',
    starts_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('scheduled', 'waiting', 'in_progress', 'ended', 'cancelled')),
    link_nonce TEXT,
    link_digest TEXT UNIQUE,
    sent_channel TEXT CHECK (sent_channel IN ('sms', 'email')),
    sent_to TEXT,
    sent_at INTEGER,
    started_at INTEGER,
    ended_at INTEGER,
    created_by INTEGER REFERENCES staff_users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX visits_facility_start ON visits (facility_id, starts_at);

-- When a member's 「ビデオ通話画面へ進む」 appears: minutes before the start, or NULL for
-- "any time before" (GMO's renewal). Seed 000: 15 minutes.
ALTER TABLE facilities ADD COLUMN video_entry_minutes INTEGER DEFAULT 15;
