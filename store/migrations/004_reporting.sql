-- Reporting tables, projected from the journal by stats.projector (rebuildable from it:
-- `contactor report rebuild`).  Times are the journal's wall-clock ts of the event.

-- Where the projector stands: the last journal seq folded into the tables.  It is updated in
-- the same transaction as the rows it covers, so every event is projected exactly once.
CREATE TABLE report_position (
    name  text   PRIMARY KEY,
    seq   bigint NOT NULL DEFAULT 0
);
INSERT INTO report_position (name, seq) VALUES ('reporting', 0);

-- One row per stay of a call in a queue (an overflow to another queue opens a new one).
CREATE TABLE report_queue_visit (
    call_id     text        NOT NULL,
    queue       text        NOT NULL,
    queued_at   timestamptz NOT NULL,
    opened_seq  bigint      NOT NULL,
    ended_at    timestamptz,
    result      text CHECK (result IN ('answered', 'abandoned', 'overflowed')),
    wait_s      float8,
    agent       text,
    overflow_reason text,
    overflow_target text,
    callback    text,
    PRIMARY KEY (call_id, queue, opened_seq)
);
CREATE INDEX report_queue_visit_time_idx ON report_queue_visit (queued_at);
CREATE INDEX report_queue_visit_open_idx ON report_queue_visit (call_id, queue)
    WHERE result IS NULL;

-- Consecutive agent.transition events of one agent give its state intervals.
CREATE TABLE report_agent_interval (
    agent       text        NOT NULL,
    opened_seq  bigint      NOT NULL,
    state       text        NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    call_id     text,
    queue       text,
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    PRIMARY KEY (agent, opened_seq)
);
CREATE INDEX report_agent_interval_time_idx ON report_agent_interval (started_at);
CREATE INDEX report_agent_interval_open_idx ON report_agent_interval (agent)
    WHERE ended_at IS NULL;

-- The call detail record: one row per call, whichever actors wrote about it.
CREATE TABLE report_call (
    call_id      text PRIMARY KEY,
    caller       text,
    dialled      text,
    route        text,
    ivr_path     jsonb  NOT NULL DEFAULT '[]'::jsonb,
    legs         jsonb  NOT NULL DEFAULT '[]'::jsonb,
    queues       jsonb  NOT NULL DEFAULT '[]'::jsonb,
    queue        text,
    agent        text,
    started_at   timestamptz,
    enqueued_at  timestamptz,
    offered_at   timestamptz,
    answered_at  timestamptz,
    ended_at     timestamptz,
    wait_s       float8,
    talk_s       float8 NOT NULL DEFAULT 0,
    hold_s       float8 NOT NULL DEFAULT 0,
    wrap_s       float8 NOT NULL DEFAULT 0,
    result       text,
    end_cause    text,
    recording_id text
);
CREATE INDEX report_call_time_idx ON report_call (coalesce(enqueued_at, started_at));
