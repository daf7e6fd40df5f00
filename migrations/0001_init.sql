-- buildmail's PostgreSQL schema, version 1 (applied by `buildmail migrate`).
--
-- Every table a DBA may read: the columns name what the status pages,
-- the queue and the dedup need; `record` (json, not jsonb: json keeps
-- any text a hostile mail brings, \u0000 included) holds the whole value
-- buildmail decodes. Text keys compare byte-wise (COLLATE "C"), as the
-- sled store orders them.

-- The counters: `Store::generate_id` and quarantine ids (1, 2, 3...).
CREATE SEQUENCE ids;
CREATE SEQUENCE quarantine_ids;

-- Small counters kept in the commit (`unanswered`).
CREATE TABLE meta (
    name text COLLATE "C" PRIMARY KEY,
    value bigint NOT NULL
);

-- One row per build; `rev` is the record's revision (a commit writes a
-- record only while the stored rev is the one it read).
CREATE TABLE builds (
    source text COLLATE "C" NOT NULL,
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    version text NOT NULL,
    state text COLLATE "C" NOT NULL,
    state_change bigint NOT NULL,
    rev bigint NOT NULL,
    record json NOT NULL,
    PRIMARY KEY (source, dist, arch)
);
CREATE INDEX builds_by_state ON builds (dist, arch, state, source);

-- Every build's append-only history.
CREATE TABLE history (
    seq bigserial PRIMARY KEY,
    source text COLLATE "C" NOT NULL,
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    time bigint NOT NULL,
    from_state text,
    to_state text,
    version text NOT NULL,
    event text NOT NULL,
    entry json NOT NULL
);
CREATE INDEX history_by_build ON history (source, dist, arch, seq);

-- The dedup record of every ingested mail, by its content identity: the
-- primary key makes two hosts' concurrent inserts of one mail one insert
-- and one Duplicate.
CREATE TABLE mails (
    id text COLLATE "C" PRIMARY KEY,
    message_id text,
    received bigint NOT NULL,
    kind text NOT NULL,
    outcome text NOT NULL,
    record json NOT NULL
);

-- The first mail that carried each Message-ID.
CREATE TABLE msgids (
    message_id text COLLATE "C" PRIMARY KEY,
    mail text COLLATE "C" NOT NULL
);

-- The archived logs' index (the logs are blobs).
CREATE TABLE logs (
    seq bigserial PRIMARY KEY,
    id text COLLATE "C" NOT NULL,
    source text COLLATE "C" NOT NULL,
    version text NOT NULL,
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    time bigint NOT NULL,
    builder text COLLATE "C",
    record json NOT NULL
);
CREATE INDEX logs_by_source ON logs (source, time, seq);
CREATE INDEX logs_by_builder ON logs (builder, time, seq);

-- Log mails' Message-IDs (reply threading); the first writer wins.
CREATE TABLE log_msgids (
    message_id text COLLATE "C" PRIMARY KEY,
    source text COLLATE "C" NOT NULL,
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL
);

-- Quarantined mails: the entry, and the raw mail when it is kept here.
CREATE TABLE quarantine (
    id bigint PRIMARY KEY,
    time bigint NOT NULL,
    reason text NOT NULL,
    sha256 text COLLATE "C" NOT NULL,
    entry json NOT NULL,
    raw bytea
);

-- Mails of no known kind, kept to be forwarded.
CREATE TABLE unhandled (
    id text COLLATE "C" PRIMARY KEY,
    raw bytea NOT NULL
);

-- Every signature processed (the replay record): the primary key makes
-- two hosts' concurrent uses of one signature one use and one Replay.
CREATE TABLE signatures (
    fingerprint text COLLATE "C" NOT NULL,
    created bigint NOT NULL,
    signed_sha256 text COLLATE "C" NOT NULL,
    first_seen bigint NOT NULL,
    consumed boolean NOT NULL,
    record json NOT NULL,
    PRIMARY KEY (fingerprint, created, signed_sha256)
);

-- Queued effects (claimed with FOR UPDATE SKIP LOCKED).
CREATE TABLE jobs (
    id bigint PRIMARY KEY,
    source text COLLATE "C" NOT NULL,
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    kind text NOT NULL,
    record json NOT NULL
);

-- Mails to send (claimed with FOR UPDATE SKIP LOCKED).
CREATE TABLE outbox (
    id bigint PRIMARY KEY,
    kind text NOT NULL,
    next_attempt bigint NOT NULL,
    dead boolean NOT NULL,
    record json NOT NULL,
    raw bytea NOT NULL
);

-- Error replies sent (rate limits); `*` counts every reply.
CREATE TABLE replies_sent (
    seq bigserial PRIMARY KEY,
    address text COLLATE "C" NOT NULL,
    time bigint NOT NULL
);
CREATE INDEX replies_sent_by_address ON replies_sent (address, time);

-- Uploads by `.changes` name.
CREATE TABLE uploads (
    changes_name text COLLATE "C" PRIMARY KEY,
    source text COLLATE "C" NOT NULL,
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL
);

-- Mailer-daemon mails seen (forwarding loop protection).
CREATE TABLE bounces (
    seq bigserial PRIMARY KEY,
    time bigint NOT NULL
);
CREATE INDEX bounces_by_time ON bounces (time);

-- Build-failure notices.
CREATE TABLE notices (
    source text COLLATE "C" NOT NULL,
    version text COLLATE "C" NOT NULL,
    dist text COLLATE "C" NOT NULL,
    due bigint NOT NULL,
    sent boolean NOT NULL,
    record json NOT NULL,
    PRIMARY KEY (source, version, dist)
);

-- Failed logs waiting to be explained (one per build).
CREATE TABLE explain (
    source text COLLATE "C" NOT NULL,
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    log text COLLATE "C" NOT NULL,
    task json NOT NULL,
    PRIMARY KEY (source, dist, arch)
);

-- The last Release of each suite `sync` merged.
CREATE TABLE releases (
    suite text COLLATE "C" PRIMARY KEY,
    date bigint NOT NULL,
    sha256 text NOT NULL,
    synced bigint NOT NULL,
    record json NOT NULL
);

-- The needs-build queue: every queued build and what places it. `grp`
-- orders the groups of builds placed alike (the sled store's queue key
-- part), so that `take` reads one row per group (a loose index scan).
CREATE TABLE queue (
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    source text COLLATE "C" NOT NULL,
    grp bytea NOT NULL,
    admin_priority bigint NOT NULL,
    built_before boolean NOT NULL,
    priority text,
    section text,
    facts json NOT NULL,
    PRIMARY KEY (dist, arch, source)
);
CREATE INDEX queue_by_group ON queue (dist, arch, grp, source);

-- What the status pages read: the builds per state of each suite and
-- architecture, and those counts at the end of each day.
CREATE TABLE counts (
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    state text COLLATE "C" NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (dist, arch, state)
);
CREATE TABLE daily (
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    day bigint NOT NULL,
    counts json NOT NULL,
    PRIMARY KEY (dist, arch, day)
);

-- The builds by the addresses of their source's Maintainer and Uploaders.
CREATE TABLE maintainers (
    address text COLLATE "C" NOT NULL,
    source text COLLATE "C" NOT NULL,
    dist text COLLATE "C" NOT NULL,
    arch text COLLATE "C" NOT NULL,
    name text NOT NULL,
    role text NOT NULL,
    PRIMARY KEY (address, source, dist, arch)
);
-- Each build's rows, which every write of a build whose people changed
-- deletes: without it that delete reads the whole table.
CREATE INDEX maintainers_by_build ON maintainers (source, dist, arch);

-- Blobs by content id, compressed as the local stores keep them: the
-- build logs (store 'logs') and large quarantined and forwarded mails
-- ('mails'); a blob put on one host is read on every other. `codec`:
-- 1 gzip, 2 zstd (`store::blob::Codec::to_byte`).
CREATE TABLE blobs (
    store text COLLATE "C" NOT NULL,
    id bytea NOT NULL,
    codec smallint NOT NULL,
    bytes bytea NOT NULL,
    PRIMARY KEY (store, id)
);

-- What status pages and reporting may read: views without mail bodies,
-- signatures or addresses of error-reply recipients.
CREATE VIEW builds_public AS
    SELECT source, dist, arch, version, state, to_timestamp(state_change) AS state_change
    FROM builds;
CREATE VIEW history_public AS
    SELECT source, dist, arch, to_timestamp(time) AS time, from_state, to_state, version, event
    FROM history;
CREATE VIEW logs_public AS
    SELECT id, source, version, dist, arch, to_timestamp(time) AS time, builder
    FROM logs;
CREATE VIEW queue_public AS
    SELECT dist, arch, source, admin_priority, built_before, priority, section
    FROM queue;
CREATE VIEW counts_public AS
    SELECT dist, arch, state, n FROM counts;

-- The read-only role: it may read the views and nothing else. Creating a
-- role needs CREATEROLE; without it the views are still made, and the
-- role can be created and granted by hand (README).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'buildmail_reader') THEN
        CREATE ROLE buildmail_reader NOLOGIN;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'cannot create the role buildmail_reader (no CREATEROLE): create it by hand';
    -- Roles belong to the whole server: the migration of another database
    -- on it made the role at the same moment.
    WHEN unique_violation OR duplicate_object THEN
        NULL;
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'buildmail_reader') THEN
        EXECUTE 'GRANT SELECT ON builds_public, history_public, logs_public, queue_public, counts_public TO buildmail_reader';
    END IF;
END
$$;
