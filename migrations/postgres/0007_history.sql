-- Report history and re-exports.
--
-- A re-export is an export job that reads the log as it stood at its report's position, so it
-- lives in the exports table; these columns say whose it is, how it is written and whether its
-- completion webhook went out (the webhook outbox is the completed rows with notify_pending).
ALTER TABLE exports ADD COLUMN requested_by TEXT;
ALTER TABLE exports ADD COLUMN locale TEXT NOT NULL DEFAULT 'nb-NO';
ALTER TABLE exports ADD COLUMN reexport_of TEXT;
ALTER TABLE exports ADD COLUMN as_of_position TEXT;
ALTER TABLE exports ADD COLUMN notify_on_completion BIGINT NOT NULL DEFAULT 0;
ALTER TABLE exports ADD COLUMN notified BIGINT NOT NULL DEFAULT 0;
ALTER TABLE exports ADD COLUMN notify_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE exports ADD COLUMN notify_retry_at TEXT;
ALTER TABLE exports ADD COLUMN notify_error TEXT;
CREATE INDEX exports_reexports ON exports (reexport_of, created_at);
CREATE INDEX exports_notify ON exports (notify_on_completion, notified, notify_retry_at);

-- The report history projection. Deleted reports keep their row (hidden from the API) so the
-- history worker knows which exports were already recorded and which files still have to go.
CREATE TABLE reports (
    report_id       TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL,
    report_type     TEXT NOT NULL,
    period_from     TEXT NOT NULL,
    period_to       TEXT NOT NULL,
    status          TEXT NOT NULL,
    file_ref        TEXT,
    file_name       TEXT,
    content_type    TEXT,
    file_size_bytes BIGINT,
    generated_by    TEXT,
    generated_at    TEXT,
    source_position TEXT,
    as_of_position  TEXT NOT NULL,
    export_id       TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted         BIGINT NOT NULL DEFAULT 0,
    deleted_at      TEXT,
    deleted_by      TEXT,
    file_removed    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX reports_list ON reports (org_id, deleted, created_at, report_id);
CREATE UNIQUE INDEX reports_export ON reports (export_id);
CREATE INDEX reports_files ON reports (deleted, file_removed);

-- Where completion webhooks of an organisation go. Configuration, not history: the secret is
-- sealed like Bufdir credentials and stays out of the log.
CREATE TABLE webhook_endpoints (
    org_id        TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
