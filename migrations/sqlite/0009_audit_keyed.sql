-- The audit chain is keyed: each new row's hash is an HMAC under the platform's secret key
-- (kept outside the database), so rewriting a row and the hashes after it needs the key.
-- Rows written before this stay SHA-256 (keyed = 0) and are sealed by the first keyed
-- head. audit_head is the chain's keyed head, moved in the transaction of every append:
-- deleting the newest rows leaves a head that points past the end.
ALTER TABLE audit_events ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT NOT NULL
);
