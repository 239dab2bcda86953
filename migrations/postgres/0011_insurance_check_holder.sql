-- Whose qualification an insurance check found (name, kana, birth date, sex, as the
-- eligibility service answered) and where it differed from the patient, kept with the
-- check: a child registered with a parent's card numbers must not just read 「有効」.
ALTER TABLE booking_insurance_checks ADD COLUMN holder_json TEXT;
