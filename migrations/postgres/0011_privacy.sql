-- Erasable personal data (commands/src/privacy.rs): one key per data subject, kept here and not
-- in the log. The log holds the subject's data encrypted under it; erasing destroys the key and
-- the lookup (a hash of who the subject is), and keeps only that an erasure happened.
CREATE TABLE privacy_subjects (
    subject_id   TEXT PRIMARY KEY,
    lookup       TEXT UNIQUE,
    subject_key  TEXT,
    created_at   TEXT NOT NULL,
    erased_at    TEXT
);
