-- Rate-limit events of the service's own logins (wrong passwords per client address), the
-- same shape as the platform's.
CREATE TABLE rate_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    bucket TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX rate_events_bucket ON rate_events (bucket, at);
