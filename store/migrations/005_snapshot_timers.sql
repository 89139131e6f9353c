-- Pending actor timers travel with the snapshot, so a restarted host re-arms them (an IVR
-- menu's no-input timeout, an agent's wrap-up, a queue's max wait): without them an actor
-- that waits only for a timer would never wake up again.
-- timers is msgpack [[key, deadline, message], ...] (messages in the bus codec's form);
-- deadlines are epoch seconds, on the wall clock: the monotonic clock restarts at a reboot
-- and differs between machines.  wake_at is the earliest deadline, NULL without timers.
ALTER TABLE snapshot
    ADD COLUMN timers  bytea,
    ADD COLUMN wake_at double precision,
    ADD CONSTRAINT snapshot_timers_wake_at CHECK ((timers IS NULL) = (wake_at IS NULL));

-- A starting host pages through its actors that have timers, earliest deadline first.
CREATE INDEX snapshot_wake_idx ON snapshot (wake_at, actor) WHERE wake_at IS NOT NULL;
