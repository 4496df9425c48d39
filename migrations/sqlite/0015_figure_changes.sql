-- Why a figure changed (the figure_changes projection). Figures are sums of records, so each
-- import is kept as what it added to each sum: a figure as of a position is the sum of the
-- deltas up to it, a diff of two versions the deltas between them, and the lineage of a change
-- the imports those deltas came from, with who and when.

-- Each record as this read model last saw it (to know what a correction replaces); the
-- projection's own, so it never reads another read model at another position.
CREATE TABLE figure_records (
    org_id      TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    year        INTEGER NOT NULL,
    quarter     INTEGER NOT NULL,
    metric      TEXT NOT NULL,
    data_source TEXT NOT NULL,
    value       REAL NOT NULL,
    hours       REAL,
    PRIMARY KEY (org_id, record_id)
);

-- What one import (at position) did to one sum: the records of a quarter, metric and source.
-- added: its records in the key; replaced: earlier versions it replaced there; records: the net
-- change in their number.
CREATE TABLE figure_deltas (
    org_id      TEXT NOT NULL,
    year        INTEGER NOT NULL,
    quarter     INTEGER NOT NULL,
    metric      TEXT NOT NULL,
    data_source TEXT NOT NULL,
    position    INTEGER NOT NULL,
    value       REAL NOT NULL,
    hours       REAL NOT NULL,
    records     INTEGER NOT NULL,
    added       INTEGER NOT NULL,
    replaced    INTEGER NOT NULL,
    PRIMARY KEY (org_id, year, position, quarter, metric, data_source)
);

-- Each import: who sent it, when, how many records. Times are RFC 3339 UTC text.
CREATE TABLE source_batches (
    position    INTEGER PRIMARY KEY,
    org_id      TEXT NOT NULL,
    import_id   TEXT NOT NULL,
    data_source TEXT NOT NULL,
    actor       TEXT,
    issuer      TEXT,
    imported_at TEXT NOT NULL,
    records     INTEGER NOT NULL
);
CREATE INDEX source_batches_of_org ON source_batches (org_id, imported_at);
