-- The name the institution noted from the patient's card during the outage (the first of
-- the four facts), so its staff can tell the recorded visits apart when they search after
-- recovery. Optional: visits recorded before, or by a client that sends only a label, have
-- none and are shown by their label.
ALTER TABLE outage_visits ADD COLUMN name TEXT;
