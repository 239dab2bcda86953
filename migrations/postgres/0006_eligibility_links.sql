-- A facility's own account at the eligibility service (A4), set by its admin. The password
-- is sealed with the platform's key (kept outside the database), bound to the facility.
CREATE TABLE facility_eligibility_links (
    facility_id BIGINT PRIMARY KEY REFERENCES facilities(id),
    institution TEXT NOT NULL,
    login_id TEXT NOT NULL,
    password_sealed TEXT NOT NULL,
    updated_by BIGINT REFERENCES staff_users(id),
    updated_at BIGINT NOT NULL
);
