-- The state beside the log given one home (store/src/tables). The contact person's data subject
-- of a submission gets a column of its own, indexed, so that erasure finds the submissions that
-- carry a subject without reading every payload; rows written before are filled from their
-- payload here, as the projection fills new ones. Secrets at rest are "encrypted" (a "seal" is
-- only ever the log's).
ALTER TABLE bufdir_submissions ADD COLUMN contact_subject TEXT;
UPDATE bufdir_submissions
   SET contact_subject = json_extract(payload, '$.kontaktperson.encrypted.subject')
 WHERE json_valid(payload);
CREATE INDEX bufdir_submissions_contact_subject ON bufdir_submissions (contact_subject)
    WHERE contact_subject IS NOT NULL;
ALTER TABLE bufdir_credentials RENAME COLUMN sealed_secret TO encrypted_secret;
ALTER TABLE webhook_endpoints RENAME COLUMN sealed_secret TO encrypted_secret;
