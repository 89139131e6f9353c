-- A stopped actor leaves a tombstone: a snapshot with an empty state that keeps its
-- actor_seq (actors.persistence.StoreSnapshots.delete). Every ended call leaves one, so
-- tombstones past a retention are purged (JournalReader.purge_tombstones); this index
-- finds the old ones without reading the snapshots of live actors.
CREATE INDEX snapshot_tombstone_ts_idx ON snapshot (ts) WHERE state = ''::bytea;
