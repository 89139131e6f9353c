"""Ordered SQL migrations (``store/migrations/NNN_name.sql``) tracked in ``schema_version``.

Each migration runs in its own transaction together with its ``schema_version`` row,
so a failure leaves the schema at the previous version.  A session advisory lock
serialises concurrent callers: two processes starting together both succeed and each
migration is applied exactly once.  Applied files are checksummed; editing one after
it shipped is an error (write a new migration instead).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import psycopg

# Arbitrary constant shared by every Contactor process: "contactor" in ASCII hex, 63-bit.
MIGRATION_LOCK_KEY = 0x636F6E7461637472
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


class MigrationError(RuntimeError):
    """Migrations are malformed, were edited after being applied, or failed to apply."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Migrations from ``directory`` (default: the packaged ``store/migrations``), in order."""
    if directory is None:
        files = [(f.name, f.read_text(encoding="utf-8"))
                 for f in resources.files("store").joinpath("migrations").iterdir()
                 if f.name.endswith(".sql")]
    else:
        files = [(p.name, p.read_text(encoding="utf-8")) for p in directory.glob("*.sql")]
    migrations = []
    for file_name, sql in files:
        match = _FILE_NAME.match(file_name)
        if match is None:
            raise MigrationError(f"migration file {file_name!r} is not named NNN_name.sql")
        migrations.append(Migration(version=int(match[1]), name=match[2], sql=sql))
    migrations.sort(key=lambda m: m.version)
    for previous, current in itertools.pairwise(migrations):
        if previous.version == current.version:
            raise MigrationError(f"two migrations have version {current.version:03d}: "
                                 f"{previous.name!r} and {current.name!r}")
    return migrations


def apply_migrations(url: str, migrations: Sequence[Migration] | None = None) -> list[int]:
    """Bring the database at ``url`` up to date; returns the versions applied by this call."""
    candidates = load_migrations() if migrations is None else list(migrations)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        try:
            return _apply_locked(conn, candidates)
        finally:
            # A broken connection has released the lock already; keep the first error.
            with contextlib.suppress(psycopg.Error):
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def schema_version(url: str) -> int:
    """Highest applied migration version, 0 for a database never migrated."""
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
        return int(row[0]) if row else 0


def _apply_locked(conn: psycopg.Connection, migrations: Iterable[Migration]) -> list[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = {
        int(version): (str(name), str(checksum))
        for version, name, checksum in conn.execute(
            "SELECT version, name, checksum FROM schema_version"
        ).fetchall()
    }
    known = {m.version: m for m in migrations}
    newer = sorted(set(applied) - set(known))
    if newer and newer[-1] > max(known, default=0):
        raise MigrationError(
            f"database schema is at version {newer[-1]:03d}, newer than this code "
            f"(latest migration {max(known, default=0):03d}); upgrade the code"
        )
    done = []
    for version in sorted(known):
        migration = known[version]
        if version in applied:
            name, checksum = applied[version]
            if checksum != migration.checksum:
                raise MigrationError(
                    f"migration {version:03d}_{migration.name}.sql changed after it was "
                    f"applied (as {version:03d}_{name}); add a new migration instead"
                )
            continue
        try:
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_version (version, name, checksum) VALUES (%s, %s, %s)",
                    (version, migration.name, migration.checksum),
                )
        except psycopg.Error as exc:
            raise MigrationError(
                f"migration {version:03d}_{migration.name}.sql failed: {exc}"
            ) from exc
        done.append(version)
    return done
