-- Read models in real column types (issue 16): times as timestamptz, dates as date, flags as
-- boolean, JSON documents as jsonb. The text they held is RFC 3339 UTC, YYYY-MM-DD and JSON, so
-- every value converts in place; no projection needs a rebuild. The submission payload stays
-- text: it is the exact document sent to Bufdir, and its digest is over those bytes.
ALTER TABLE projection_checkpoints
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz;

ALTER TABLE organizations
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;

ALTER TABLE idempotency_keys
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;

ALTER TABLE source_records
    ALTER COLUMN occurred_on TYPE date USING occurred_on::date,
    ALTER COLUMN imported_at TYPE timestamptz USING imported_at::timestamptz;

ALTER TABLE snapshots
    ALTER COLUMN invalidated_at TYPE timestamptz USING invalidated_at::timestamptz,
    ALTER COLUMN sections TYPE jsonb USING sections::jsonb,
    ALTER COLUMN prior_values TYPE jsonb USING prior_values::jsonb,
    ALTER COLUMN aggregated_at TYPE timestamptz USING aggregated_at::timestamptz,
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz;

ALTER TABLE bufdir_submissions
    ALTER COLUMN submitted_at TYPE timestamptz USING submitted_at::timestamptz,
    ALTER COLUMN processed_at TYPE timestamptz USING processed_at::timestamptz,
    ALTER COLUMN next_attempt_at TYPE timestamptz USING next_attempt_at::timestamptz,
    ALTER COLUMN requested_at TYPE timestamptz USING requested_at::timestamptz,
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz;

ALTER TABLE bufdir_credentials
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz;

ALTER TABLE webhook_endpoints
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz;

ALTER TABLE exports
    ALTER COLUMN period_from TYPE date USING period_from::date,
    ALTER COLUMN period_to TYPE date USING period_to::date,
    ALTER COLUMN activity_types TYPE jsonb USING activity_types::jsonb,
    ALTER COLUMN include_attachments TYPE boolean USING include_attachments <> 0,
    ALTER COLUMN submit_to_bufdir_api TYPE boolean USING submit_to_bufdir_api <> 0,
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz,
    ALTER COLUMN queued_at TYPE timestamptz USING queued_at::timestamptz,
    ALTER COLUMN started_at TYPE timestamptz USING started_at::timestamptz,
    ALTER COLUMN completed_at TYPE timestamptz USING completed_at::timestamptz,
    ALTER COLUMN cancelled_at TYPE timestamptz USING cancelled_at::timestamptz,
    ALTER COLUMN lease_until TYPE timestamptz USING lease_until::timestamptz,
    ALTER COLUMN file_expires_at TYPE timestamptz USING file_expires_at::timestamptz,
    ALTER COLUMN file_removed DROP DEFAULT,
    ALTER COLUMN file_removed TYPE boolean USING file_removed <> 0,
    ALTER COLUMN file_removed SET DEFAULT false,
    ALTER COLUMN submission_errors TYPE jsonb USING submission_errors::jsonb,
    ALTER COLUMN deleted DROP DEFAULT,
    ALTER COLUMN deleted TYPE boolean USING deleted <> 0,
    ALTER COLUMN deleted SET DEFAULT false,
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz,
    ALTER COLUMN notify_on_completion DROP DEFAULT,
    ALTER COLUMN notify_on_completion TYPE boolean USING notify_on_completion <> 0,
    ALTER COLUMN notify_on_completion SET DEFAULT false,
    ALTER COLUMN notified DROP DEFAULT,
    ALTER COLUMN notified TYPE boolean USING notified <> 0,
    ALTER COLUMN notified SET DEFAULT false,
    ALTER COLUMN notify_retry_at TYPE timestamptz USING notify_retry_at::timestamptz;

ALTER TABLE reports
    ALTER COLUMN period_from TYPE date USING period_from::date,
    ALTER COLUMN period_to TYPE date USING period_to::date,
    ALTER COLUMN generated_at TYPE timestamptz USING generated_at::timestamptz,
    ALTER COLUMN created_at TYPE timestamptz USING created_at::timestamptz,
    ALTER COLUMN updated_at TYPE timestamptz USING updated_at::timestamptz,
    ALTER COLUMN deleted DROP DEFAULT,
    ALTER COLUMN deleted TYPE boolean USING deleted <> 0,
    ALTER COLUMN deleted SET DEFAULT false,
    ALTER COLUMN deleted_at TYPE timestamptz USING deleted_at::timestamptz,
    ALTER COLUMN file_removed DROP DEFAULT,
    ALTER COLUMN file_removed TYPE boolean USING file_removed <> 0,
    ALTER COLUMN file_removed SET DEFAULT false;
