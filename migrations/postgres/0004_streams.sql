-- The current version of every stream, so an append checks its expected version with one
-- primary-key lookup instead of reading the stream's events.
CREATE TABLE streams (
    stream  TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO streams (stream, version) SELECT stream, max(version) FROM events GROUP BY stream;
