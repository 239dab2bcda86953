-- The audit chain is keyed: each new row's hash is an HMAC under the platform's secret key
-- (kept outside the database), so rewriting a row and the hashes after it needs the key.
-- Rows written before this stay SHA-256 (keyed = 0) and are sealed by the first keyed
-- head. audit_head is the chain's keyed head, moved in the transaction of every append:
-- deleting the newest rows leaves a head that points past the end.
ALTER TABLE audit_events ADD COLUMN keyed BIGINT NOT NULL DEFAULT 0;
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT NOT NULL
);
-- TRUNCATE passed the row triggers: it is refused too, and the application's role may
-- not do it at all.
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
REVOKE TRUNCATE ON audit_events FROM PUBLIC;
