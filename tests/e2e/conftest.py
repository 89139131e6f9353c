from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.center import Center, running_center
from tests.telephony.harness import Sipp


@pytest.fixture(scope="module")
def center() -> Iterator[Center]:
    """One running demo center for a test module (starting one costs ~3 s)."""
    with running_center() as c:
        yield c


@pytest.fixture
def procs() -> Iterator[list[Sipp]]:
    """SIPp (and other peer) processes a test starts: killed when it ends, whatever happens."""
    started: list[Sipp] = []
    yield started
    for proc in started:
        proc.kill()
