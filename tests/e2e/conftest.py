from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.center import Center, write_config


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    """One running demo center for a test module (starting one costs ~3 s)."""
    # Not under pytest's tmp (0700 root): the embedded PostgreSQL runs as its own user.
    workdir = Path(tempfile.mkdtemp(prefix="contactor-e2e-"))
    workdir.chmod(0o755)
    c = write_config(workdir)
    up = c.cli("up", "--detach", timeout=120)
    assert up.returncode == 0, f"up failed:\n{up.stdout}\n{up.stderr}"
    try:
        yield c
    finally:
        down = c.cli("down", timeout=60)
        assert down.returncode == 0, down.stderr
        shutil.rmtree(workdir, ignore_errors=True)
