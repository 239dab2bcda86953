-- When the clinic last nudged a patient who had not entered at the start time (C10), and
-- how many times: shown on the visit so staff do not nudge twice by accident.
ALTER TABLE visits ADD COLUMN nudged_at BIGINT;
ALTER TABLE visits ADD COLUMN nudges BIGINT NOT NULL DEFAULT 0;
