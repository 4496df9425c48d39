-- The submissions projection: one row per submission to Bufdir. Rows still 'pending' are the
-- delivery outbox; rows 'received' are polled for Bufdir's verdict. Times are RFC 3339 text in
-- UTC with a fixed number of digits, so they compare as text.
CREATE TABLE bufdir_submissions (
    submission_id   TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    report_id       TEXT NOT NULL,
    payload_version TEXT NOT NULL,
    payload         TEXT NOT NULL,
    payload_digest  TEXT NOT NULL,
    status          TEXT NOT NULL,
    reference_id    TEXT,
    submitted_at    TEXT,
    confirmation    TEXT,
    processed_at    TEXT,
    notes           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    requested_at    TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX bufdir_submissions_due ON bufdir_submissions (status, next_attempt_at);
CREATE INDEX bufdir_submissions_reference ON bufdir_submissions (reference_id);
CREATE INDEX bufdir_submissions_report ON bufdir_submissions (org_id, report_id, requested_at);

-- Each organisation's Bufdir client credentials, sealed (ChaCha20-Poly1305) with a key derived
-- from the server secret. Deliberately outside the event log, which is kept for years and read
-- by auditors; the log records only that an authentication happened.
CREATE TABLE bufdir_credentials (
    org_id        TEXT PRIMARY KEY,
    client_id     TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
