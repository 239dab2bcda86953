-- The eligibility service's own database: insurers and qualification records.
-- Each record is kept whole as JSON (what the result XML and the detail screen show), with
-- the columns searches use beside it: the four facts in comparison form, and the card keys.

CREATE TABLE insurers (
    number TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

CREATE TABLE qualifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    insurer_number TEXT NOT NULL,
    symbol TEXT NOT NULL DEFAULT '',
    number TEXT NOT NULL,
    branch TEXT NOT NULL DEFAULT '',
    birth_date TEXT NOT NULL,
    sex INTEGER NOT NULL,
    name_norm TEXT NOT NULL,
    kana_norm TEXT NOT NULL,
    other_norm TEXT,
    other_kana_norm TEXT,
    myna_card TEXT UNIQUE,
    record TEXT NOT NULL
);
-- Four-facts search: every search has a birth date and sex, and a name or kana.
CREATE INDEX qualifications_facts_name ON qualifications (birth_date, sex, name_norm);
CREATE INDEX qualifications_facts_kana ON qualifications (birth_date, sex, kana_norm);
-- Normal lookup by card (method 2).
CREATE INDEX qualifications_card ON qualifications (insurer_number, number, symbol, branch);
