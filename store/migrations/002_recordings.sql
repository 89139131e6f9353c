-- Call recordings written by the media workers (one row per finished or recovered file).
-- path is unique: registering the same file twice (an orphan found by two restarts) is a
-- no-op.  Retention moves files to the archive (path changes, archived_at set) and deletes
-- them later (row removed with the file).
CREATE TABLE recording (
    id            bigserial        PRIMARY KEY,
    call_id       text             NOT NULL CHECK (call_id <> ''),
    agent         text             NOT NULL DEFAULT '',
    queue         text             NOT NULL DEFAULT '',
    started_at    timestamptz      NOT NULL,
    ended_at      timestamptz      NOT NULL CHECK (ended_at >= started_at),
    duration_s    double precision NOT NULL CHECK (duration_s >= 0),
    path          text             NOT NULL UNIQUE,
    format        text             NOT NULL CHECK (format IN ('wav', 'flac', 'opus')),
    sha256        text             NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    bytes         bigint           NOT NULL CHECK (bytes >= 0),
    -- false: recovered after its media worker died (the file ends at its last flush)
    complete      boolean          NOT NULL DEFAULT true,
    archived_at   timestamptz,
    registered_at timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX recording_call_idx ON recording (call_id);
CREATE INDEX recording_queue_started_idx ON recording (queue, started_at);
