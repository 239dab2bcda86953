-- Stored files (images shared with a booking, insurance card photos), insurance
-- registrations, and menus' questionnaires and consent forms with the answers to them.

CREATE TABLE files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    storage_key TEXT NOT NULL UNIQUE,
    facility_id INTEGER REFERENCES facilities(id),
    account_id INTEGER REFERENCES accounts(id),
    patient_id INTEGER REFERENCES patients(id),
    booking_id INTEGER REFERENCES bookings(id),
    purpose TEXT NOT NULL CHECK (purpose IN ('booking_image', 'insurance_front', 'insurance_back')),
    content_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    original_name TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX files_booking ON files (booking_id);
CREATE INDEX files_patient ON files (patient_id);

CREATE TABLE insurance_registrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id INTEGER NOT NULL UNIQUE REFERENCES patients(id),
    kind TEXT NOT NULL CHECK (kind IN ('card', 'myna')),
    insurer_number TEXT,
    symbol TEXT,
    number TEXT,
    branch TEXT,
    front_file_id INTEGER REFERENCES files(id),
    back_file_id INTEGER REFERENCES files(id),
    verified_at INTEGER,
    verification TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

ALTER TABLE menus ADD COLUMN questionnaire TEXT NOT NULL DEFAULT '[]';
ALTER TABLE menus ADD COLUMN consent_text TEXT NOT NULL DEFAULT '';

CREATE TABLE booking_answers (
    booking_id INTEGER PRIMARY KEY REFERENCES bookings(id),
    answers TEXT NOT NULL,
    consent_signed_name TEXT,
    consent_signed_at INTEGER,
    updated_at INTEGER NOT NULL
);
