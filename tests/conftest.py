"""PostgreSQL fixtures: one embedded cluster per session, a fresh database per test.

Self-contained (imports nothing from this folder) so it can move to tests/conftest.py.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from store.embedded import EmbeddedPostgres, start_embedded, stop_embedded
from store.migrations import apply_migrations

_TEMPLATE_DB = "contactor_template"


def _new_data_dir(prefix: str) -> Path:
    # Not under tmp_path: pytest's base temp dir is 0700, which the unprivileged server
    # user (when tests run as root) could not traverse.
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedPostgres]:
    """The session's embedded cluster (fsync off: tests never survive power loss)."""
    data_dir = _new_data_dir("contactor-pg-")
    cluster = start_embedded(data_dir, durable=False)
    try:
        yield cluster
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_template(pg_cluster: EmbeddedPostgres) -> str:
    """Name of a database with all migrations applied, used as CREATE DATABASE template."""
    with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{_TEMPLATE_DB}" TEMPLATE template0')
    apply_migrations(pg_cluster.url_for(_TEMPLATE_DB))
    return _TEMPLATE_DB


def _fresh_database(cluster: EmbeddedPostgres, template: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY file_copy')
    try:
        yield cluster.url_for(name)
    finally:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(pg_cluster: EmbeddedPostgres) -> Iterator[str]:
    """URL of a new, empty database (no migrations), dropped after the test."""
    yield from _fresh_database(pg_cluster, "template0")


@pytest.fixture
def db_url(pg_cluster: EmbeddedPostgres, migrated_template: str) -> Iterator[str]:
    """URL of a new database at the latest schema, dropped after the test."""
    yield from _fresh_database(pg_cluster, migrated_template)


@pytest.fixture
def pg_data_dir() -> Iterator[Path]:
    """A data_dir for tests that run their own embedded cluster; stopped and removed after."""
    data_dir = _new_data_dir("contactor-pgt-")
    try:
        yield data_dir
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)
