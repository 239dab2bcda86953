-- Menu changes proposed by staff who are not admins wait here for an admin's decision (B9).
CREATE TABLE menu_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    menu_id INTEGER REFERENCES menus(id),
    proposed_by INTEGER NOT NULL REFERENCES staff_users(id),
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by INTEGER REFERENCES staff_users(id),
    created_at INTEGER NOT NULL,
    decided_at INTEGER
);
CREATE INDEX menu_changes_pending ON menu_changes (facility_id, status);
