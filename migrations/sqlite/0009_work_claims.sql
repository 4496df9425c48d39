-- Which worker process holds which piece of work, and until when (issue 17). Not a projection:
-- no event makes these rows and a rebuild leaves them alone. A claim is taken with one
-- conditional upsert, so of two workers that race for the same piece exactly one gets it; one
-- that dies loses it when `held_until` passes. The status poll keeps its claim as its schedule: the
-- next poll of a submission is not before `held_until`, across restarts.
CREATE TABLE work_claims (
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    holder     TEXT NOT NULL,
    held_until TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
