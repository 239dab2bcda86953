-- Every eligibility answer taken for a booking (A4). The booking keeps its own record of how
-- and when the patient's insurance was confirmed, whatever the registration becomes later.
CREATE TABLE booking_insurance_checks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id INTEGER NOT NULL REFERENCES bookings(id),
    method TEXT NOT NULL CHECK (method IN ('card_numbers', 'my_number_card', 'four_facts')),
    validity TEXT NOT NULL,
    validity_name TEXT NOT NULL,
    confirmation_date TEXT NOT NULL,
    institution TEXT NOT NULL,
    checked_by INTEGER REFERENCES staff_users(id),
    checked_at INTEGER NOT NULL
);
CREATE INDEX booking_insurance_checks_booking ON booking_insurance_checks (booking_id, checked_at);

-- A visit while the eligibility system was down (F8): the service's record of it and the four
-- facts noted then, with which the qualification is confirmed after recovery (method 3).
CREATE TABLE booking_outage_visits (
    booking_id INTEGER PRIMARY KEY REFERENCES bookings(id),
    remote_id INTEGER NOT NULL,
    visit_date TEXT NOT NULL,
    name TEXT NOT NULL,
    kana TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex INTEGER NOT NULL CHECK (sex IN (1, 2, 3)),
    address TEXT NOT NULL,
    insurer_name TEXT NOT NULL,
    recorded_by INTEGER REFERENCES staff_users(id),
    recorded_at INTEGER NOT NULL
);
