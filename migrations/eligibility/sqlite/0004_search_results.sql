-- What each outage-time search put on screen (F4): a record is opened, downloaded or given
-- an inquiry number only from a search that listed it, by the same account, shortly after.
-- Without this, any record id could be opened during a period, seen only in the log.
CREATE TABLE search_results (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    qualification_id INTEGER NOT NULL REFERENCES qualifications(id),
    searched_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, qualification_id)
);
