-- Where each projection has read the log to, written in the same transaction as its rows.
-- position is the store's opaque position string, '' before the first event.
CREATE TABLE projection_checkpoints (
    name       TEXT PRIMARY KEY,
    position   TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);

-- The organisations registry. Timestamps are RFC 3339 text in UTC with microseconds, the same
-- on both backends, so that they sort as text.
CREATE TABLE organizations (
    org_id              TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    organisasjonsnummer TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    created_by          TEXT,
    -- The log position of the event that last changed the row.
    position            TEXT NOT NULL
);
CREATE INDEX organizations_newest_first ON organizations (created_at DESC, org_id DESC);

-- Answers to POST requests by Idempotency-Key, so a retry gets the first answer. status is NULL
-- while the first request is still being handled.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,
    content_type TEXT,
    location     TEXT,
    body         TEXT,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
