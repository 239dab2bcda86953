-- A facility's own terms of use and privacy policy (利用規約・プライバシーポリシー), shown to
-- patients in place of the platform's default text. One row per facility and kind; no row
-- means the platform's default applies. Kinds can grow (特定商取引法に基づく表記 with payments).
CREATE TABLE facility_documents (
    facility_id INTEGER NOT NULL REFERENCES facilities(id),
    kind TEXT NOT NULL CHECK (kind IN ('terms', 'privacy')),
    body TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (facility_id, kind)
);
