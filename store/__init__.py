"""PostgreSQL storage: ``embedded`` (a private server), ``db`` (pools), ``migrations``,
``journal`` (records, reader, snapshots) and ``journal_writer`` (batched, acked appends)."""
