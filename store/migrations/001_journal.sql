-- Append-only event journal written by every actor (feeds CDRs, reports, recovery).
-- payload is jsonb, not msgpack: reports and CDR builders query fields in SQL
-- (payload->>'queue'), which an opaque blob would forbid.  Snapshots are opaque
-- actor state read back only by that actor, so they stay bytea.
CREATE TABLE journal (
    seq        bigserial   PRIMARY KEY,
    ts         timestamptz NOT NULL,
    actor      text        NOT NULL CHECK (actor <> ''),
    actor_seq  bigint      NOT NULL CHECK (actor_seq >= 0),
    kind       text        NOT NULL CHECK (kind <> ''),
    payload    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- A re-sent event (same actor, same actor_seq) is a no-op, not a duplicate.
    CONSTRAINT journal_actor_seq_key UNIQUE (actor, actor_seq)
);

-- Reports select by event type over time ranges.
CREATE INDEX journal_kind_ts_idx ON journal (kind, ts);
-- ts grows with seq, so a tiny BRIN index serves plain time-range scans.
CREATE INDEX journal_ts_brin ON journal USING brin (ts);

-- Last persisted state of an actor, for crash recovery.
CREATE TABLE snapshot (
    actor      text        PRIMARY KEY,
    actor_seq  bigint      NOT NULL CHECK (actor_seq >= 0),
    ts         timestamptz NOT NULL DEFAULT now(),
    state      bytea       NOT NULL
);
