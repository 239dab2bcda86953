-- Who is in a visit's room and when (C8, C12): one row per connection of one participant,
-- opened when the visit page's socket connects, closed when it closes; a connection lost
-- without a close counts until its last heartbeat (last_seen_at). The reception list reads
-- the open rows; usage metering reads the doctor's intervals.
CREATE TABLE visit_presence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    visit_id INTEGER NOT NULL REFERENCES visits(id),
    participant TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'staff', 'guest')),
    joined_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    left_at INTEGER
);
CREATE INDEX visit_presence_visit ON visit_presence (visit_id, joined_at);
