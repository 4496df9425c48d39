-- The event log. `position` is the rowid: the global order, given by the single writer inside
-- BEGIN IMMEDIATE so that commit order equals position order. Events are never updated or deleted.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY,
    stream         TEXT    NOT NULL,
    category       TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_id       TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL,
    metadata       TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    -- Named so that a violation can be told apart from any other error.
    CONSTRAINT events_stream_version UNIQUE (stream, version),
    CONSTRAINT events_stream_event_id UNIQUE (stream, event_id)
);
CREATE INDEX events_category_position ON events (category, position);
CREATE INDEX events_type_position ON events (event_type, position);
