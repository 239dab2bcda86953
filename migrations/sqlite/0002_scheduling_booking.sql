-- Menus, doctors' weekly hours and exceptions, bookings and the slot claims that make
-- double-booking impossible at the database level.

ALTER TABLE facilities ADD COLUMN capacity_per_doctor INTEGER NOT NULL DEFAULT 1;
ALTER TABLE facilities ADD COLUMN open_on_holidays INTEGER NOT NULL DEFAULT 0;
ALTER TABLE facilities ADD COLUMN online_suspended INTEGER NOT NULL DEFAULT 0;

CREATE TABLE menus (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL CHECK (mode IN ('online', 'in_person')),
    first_minutes INTEGER NOT NULL CHECK (first_minutes BETWEEN 5 AND 240 AND first_minutes % 5 = 0),
    return_minutes INTEGER NOT NULL CHECK (return_minutes BETWEEN 5 AND 240 AND return_minutes % 5 = 0),
    insured INTEGER NOT NULL,
    booking_fee_yen INTEGER NOT NULL DEFAULT 0 CHECK (booking_fee_yen >= 0),
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX menus_facility ON menus (facility_id);

CREATE TABLE weekly_hours (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    doctor_id INTEGER NOT NULL REFERENCES staff_users(id),
    weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1435),
    end_minute INTEGER NOT NULL CHECK (end_minute BETWEEN 5 AND 1440),
    CHECK (start_minute < end_minute)
);
CREATE INDEX weekly_hours_doctor ON weekly_hours (doctor_id, weekday);

CREATE TABLE schedule_exceptions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    doctor_id INTEGER REFERENCES staff_users(id),
    day TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('closed', 'extra')),
    start_minute INTEGER NOT NULL DEFAULT 0,
    end_minute INTEGER NOT NULL DEFAULT 1440,
    note TEXT NOT NULL DEFAULT '',
    CHECK (start_minute < end_minute)
);
CREATE INDEX schedule_exceptions_day ON schedule_exceptions (facility_id, day);

CREATE TABLE bookings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    patient_id INTEGER NOT NULL REFERENCES patients(id),
    account_id INTEGER REFERENCES accounts(id),
    booked_by_staff INTEGER REFERENCES staff_users(id),
    menu_id INTEGER NOT NULL REFERENCES menus(id),
    doctor_id INTEGER NOT NULL REFERENCES staff_users(id),
    mode TEXT NOT NULL CHECK (mode IN ('online', 'in_person')),
    visit_kind TEXT NOT NULL CHECK (visit_kind IN ('first', 'return')),
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('booked', 'cancelled', 'completed', 'no_show')),
    source TEXT NOT NULL CHECK (source IN ('web', 'phone', 'in_clinic')),
    booking_fee_yen INTEGER NOT NULL DEFAULT 0,
    staff_memo TEXT NOT NULL DEFAULT '',
    late_cancel INTEGER NOT NULL DEFAULT 0,
    cancelled_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    CHECK (starts_at < ends_at)
);
CREATE INDEX bookings_facility_time ON bookings (facility_id, starts_at);
CREATE INDEX bookings_account ON bookings (account_id, starts_at);
CREATE INDEX bookings_patient ON bookings (patient_id);

-- One row per 5-minute unit and seat a live booking occupies. The unique key is what
-- makes a doctor's time impossible to book beyond capacity, whatever the concurrency.
CREATE TABLE slot_claims (
    doctor_id INTEGER NOT NULL,
    unit_start INTEGER NOT NULL,
    seat INTEGER NOT NULL,
    booking_id INTEGER NOT NULL REFERENCES bookings(id),
    PRIMARY KEY (doctor_id, unit_start, seat)
);
CREATE INDEX slot_claims_booking ON slot_claims (booking_id);
