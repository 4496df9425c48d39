-- The event log. Positions are handed out from event_log_head under its row lock, held to
-- commit, so commit order equals position order (see store/src/postgres.rs).
CREATE TABLE events (
    position       BIGINT      PRIMARY KEY,
    stream         TEXT        NOT NULL,
    category       TEXT        NOT NULL,
    version        BIGINT      NOT NULL,
    event_id       UUID        NOT NULL,
    event_type     TEXT        NOT NULL,
    schema_version INT         NOT NULL,
    -- json, not jsonb: legal records keep the exact text they were given.
    payload        JSON        NOT NULL,
    metadata       JSON        NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (stream, version),
    CONSTRAINT events_stream_event_id UNIQUE (stream, event_id)
);
CREATE INDEX events_category_position ON events (category, position);
CREATE INDEX events_type_position ON events (event_type, position);

CREATE TABLE event_log_head (
    id       INT    PRIMARY KEY CHECK (id = 1),
    position BIGINT NOT NULL
);
INSERT INTO event_log_head (id, position) VALUES (1, 0);
