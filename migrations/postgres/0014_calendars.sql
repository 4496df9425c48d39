-- Deadlines (domain::calendar). An organisation's own reporting calendar, as set by an admin;
-- NULL while it follows the service's.
ALTER TABLE organizations ADD COLUMN calendar JSONB;

-- The calendar-feed links an organisation's admins handed out, revoked or not. The link names
-- the feed alone; revoked_at set: the link answers 403 from then on.
CREATE TABLE calendar_feeds (
    feed_id    TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL,
    issued_at  TIMESTAMPTZ NOT NULL,
    issued_by  TEXT,
    revoked_at TIMESTAMPTZ,
    position   TEXT NOT NULL
);
CREATE INDEX calendar_feeds_of_org ON calendar_feeds (org_id, issued_at);
