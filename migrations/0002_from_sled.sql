-- buildmail's PostgreSQL schema, version 2: natural keys for the rows
-- `buildmail migrate --from-sled` copies from a sled database, so that a
-- copy run again (after it was stopped midway, or to check it) adds
-- nothing twice. `sled_seq` is the sequence number the sled key of the
-- row carried (unique in that database); rows written by buildmail on
-- PostgreSQL leave it NULL.
ALTER TABLE history ADD COLUMN sled_seq bigint;
CREATE UNIQUE INDEX history_by_sled_seq ON history (sled_seq);
ALTER TABLE logs ADD COLUMN sled_seq bigint;
CREATE UNIQUE INDEX logs_by_sled_seq ON logs (sled_seq);
ALTER TABLE replies_sent ADD COLUMN sled_seq bigint;
CREATE UNIQUE INDEX replies_sent_by_sled_seq ON replies_sent (sled_seq);
ALTER TABLE bounces ADD COLUMN sled_seq bigint;
CREATE UNIQUE INDEX bounces_by_sled_seq ON bounces (sled_seq);
