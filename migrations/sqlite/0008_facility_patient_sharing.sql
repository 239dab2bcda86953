-- When a patient's record became the facility's to see: the patient booked there
-- themselves, confirmed a booking staff made by phone, or the facility created the record
-- (a walk-in). NULL means staff booked a member by phone and the patient has not yet
-- shared: the facility sees the booking and the name, not the insurance or documents.
ALTER TABLE facility_patients ADD COLUMN shared_at BIGINT;
UPDATE facility_patients SET shared_at = created_at;
