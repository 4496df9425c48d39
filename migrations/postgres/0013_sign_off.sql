-- Sign-off before submission (domain::signoff). An organisation's approval policy is shown with
-- it; NULL while it has none.
ALTER TABLE organizations ADD COLUMN approval_policy JSONB;

-- Who made the newest change to an organisation's records of a year: nobody approves figures
-- they changed themselves. Rows written before are filled from the event at their position, as
-- the projection fills new ones (a log kept elsewhere, EventStoreDB, leaves them NULL).
ALTER TABLE source_changes ADD COLUMN changed_by TEXT;
ALTER TABLE source_changes ADD COLUMN changed_by_issuer TEXT;
UPDATE source_changes s
   SET changed_by = e.metadata->>'actor', changed_by_issuer = e.metadata->>'issuer'
  FROM events e
 WHERE e.position = s.position;

-- Every approval of a report (an organisation's period), standing or not: status is standing,
-- withdrawn or voided; voided_notified_at: when the organisation's webhook answered for the
-- voiding (recorded as an event).
CREATE TABLE approvals (
    approval_id        TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL,
    period_id          TEXT NOT NULL,
    digest             TEXT NOT NULL,
    role               TEXT NOT NULL,
    subject            TEXT NOT NULL,
    issuer             TEXT,
    comment            TEXT,
    approved_at        TIMESTAMPTZ NOT NULL,
    status             TEXT NOT NULL,
    ended_at           TIMESTAMPTZ,
    void_reason        TEXT,
    current_digest     TEXT,
    voided_notified_at TIMESTAMPTZ,
    position           TEXT NOT NULL
);
CREATE INDEX approvals_of_report ON approvals (org_id, period_id, approved_at);
CREATE INDEX approvals_standing ON approvals (status, org_id, period_id);
