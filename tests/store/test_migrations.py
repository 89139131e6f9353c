from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from store.migrations import (
    Migration,
    MigrationError,
    apply_migrations,
    load_migrations,
    schema_version,
)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_packaged_migrations_are_numbered_from_one() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "journal"


def test_apply_is_idempotent(empty_db_url: str) -> None:
    assert schema_version(empty_db_url) == 0
    latest = load_migrations()[-1].version
    assert apply_migrations(empty_db_url) == list(range(1, latest + 1))
    assert {"schema_version", "journal", "snapshot"} <= _tables(empty_db_url)
    assert apply_migrations(empty_db_url) == []
    assert schema_version(empty_db_url) == latest


def test_concurrent_callers_apply_each_migration_once(empty_db_url: str) -> None:
    # The slow first migration keeps the race window open while the others queue up.
    migrations = [
        Migration(version=1, name="slow", sql="SELECT pg_sleep(0.2); CREATE TABLE a (x int);"),
        Migration(version=2, name="counter", sql="CREATE TABLE b (x int);"),
    ]
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(apply_migrations(empty_db_url, migrations))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(results) == [[], [], [], [1, 2]]
    with psycopg.connect(empty_db_url) as conn:
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert rows == [(1,), (2,)]


def test_failed_migration_rolls_back_entirely(empty_db_url: str) -> None:
    good = Migration(version=1, name="good", sql="CREATE TABLE good (x int);")
    bad = Migration(version=2, name="bad",
                    sql="CREATE TABLE half (x int); SELECT * FROM no_such_table;")
    with pytest.raises(MigrationError, match=r"migration 002_bad\.sql failed: .*no_such_table"):
        apply_migrations(empty_db_url, [good, bad])
    assert _tables(empty_db_url) == {"schema_version", "good"}
    assert schema_version(empty_db_url) == 1


def test_edited_migration_is_refused(empty_db_url: str) -> None:
    apply_migrations(empty_db_url, [Migration(version=1, name="a", sql="CREATE TABLE a (x int);")])
    edited = Migration(version=1, name="a", sql="CREATE TABLE a (x bigint);")
    with pytest.raises(MigrationError, match=r"001_a\.sql changed after it was applied"):
        apply_migrations(empty_db_url, [edited])


def test_database_newer_than_code_is_refused(empty_db_url: str) -> None:
    one = Migration(version=1, name="a", sql="CREATE TABLE a (x int);")
    two = Migration(version=2, name="b", sql="CREATE TABLE b (x int);")
    apply_migrations(empty_db_url, [one, two])
    with pytest.raises(MigrationError, match=r"version 002, newer than this code.*latest.* 001"):
        apply_migrations(empty_db_url, [one])


def test_load_from_directory_orders_and_validates(tmp_path: Path) -> None:
    (tmp_path / "010_later.sql").write_text("SELECT 10;")
    (tmp_path / "002_early.sql").write_text("SELECT 2;")
    assert [(m.version, m.name) for m in load_migrations(tmp_path)] == [(2, "early"), (10, "later")]
    (tmp_path / "002_clash.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="two migrations have version 002"):
        load_migrations(tmp_path)
    (tmp_path / "002_clash.sql").unlink()
    (tmp_path / "3-bad name.sql").write_text("SELECT 3;")
    with pytest.raises(MigrationError, match=r"'3-bad name\.sql' is not named NNN_name\.sql"):
        load_migrations(tmp_path)
