"""One running telephony service per test module, on a fresh database."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from store.embedded import EmbeddedPostgres
from tests.telephony.harness import Ports, Service, config_text, free_port


@dataclass(frozen=True, slots=True)
class Running:
    service: Service
    ports: Ports
    db_url: str
    data_dir: Path
    config_path: Path


@pytest.fixture(scope="module")
def module_db(pg_cluster: EmbeddedPostgres, migrated_template: str) -> Iterator[str]:
    name = f"tel_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}" '
                     "STRATEGY file_copy")
    try:
        yield pg_cluster.url_for(name)
    finally:
        with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_service(db_url: str, data_dir: Path, *, t1: float = 0.1, **args: object) -> Running:
    ports = Ports(sip=free_port(), far_end=free_port("127.0.0.2"))
    config_path = data_dir / "contactor.toml"
    config_path.write_text(config_text(db_url, ports, t1=t1), encoding="utf-8")
    service = Service(config_path, data_dir, **args)
    service.start()
    return Running(service=service, ports=ports, db_url=db_url, data_dir=data_dir,
                   config_path=config_path)


@pytest.fixture(scope="module")
def running(module_db: str) -> Iterator[Running]:
    data_dir = Path(tempfile.mkdtemp(prefix="contactor-tel-"))
    started = start_service(module_db, data_dir, media="relay", keepalive_s=600.0)
    try:
        yield started
    finally:
        started.service.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
