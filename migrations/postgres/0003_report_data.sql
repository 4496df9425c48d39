-- The report_data projection: source records, where they last changed, and snapshots.

-- One row per (organisation, record_id): a re-sent record replaces the earlier one.
-- occurred_on is ISO text (YYYY-MM-DD), so date ranges compare as text.
CREATE TABLE source_records (
    org_id      TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    occurred_on TEXT NOT NULL,
    metric      TEXT NOT NULL,
    value       DOUBLE PRECISION NOT NULL,
    hours       DOUBLE PRECISION,
    data_source TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    -- The log position of the import that last wrote the row.
    position    BIGINT NOT NULL,
    PRIMARY KEY (org_id, record_id)
);
-- Covers aggregation: a range scan per organisation and period that never touches the table.
CREATE INDEX source_records_aggregation ON source_records (org_id, occurred_on, metric, data_source, value, hours);
CREATE INDEX source_records_by_metric ON source_records (org_id, metric, occurred_on);

-- The newest log position at which an organisation's records of a year changed. A snapshot
-- aggregated before that position (for its year or its prior year) is stale.
CREATE TABLE source_changes (
    org_id   TEXT NOT NULL,
    year     INTEGER NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (org_id, year)
);

CREATE TABLE snapshots (
    snapshot_id           TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL,
    period_id             TEXT NOT NULL,
    period_year           INTEGER NOT NULL,
    prior_year            INTEGER NOT NULL,
    status                TEXT NOT NULL,
    job_id                TEXT NOT NULL,
    invalidation_reason   TEXT,
    invalidated_at        TEXT,
    -- JSON: SectionValues and the prior period's values by field key.
    sections              TEXT,
    prior_values          TEXT,
    populated_field_count INTEGER NOT NULL DEFAULT 0,
    -- The log position (commit part) the source data was read at; 0 before the first aggregation.
    source_position       BIGINT NOT NULL DEFAULT 0,
    duration_ms           BIGINT,
    error                 TEXT,
    aggregated_at         TEXT,
    created_at            TEXT NOT NULL,
    position              TEXT NOT NULL
);
CREATE INDEX snapshots_by_org_period ON snapshots (org_id, period_id, created_at DESC);
