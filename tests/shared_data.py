"""Where the project's shared test data lives: ``shared/`` beside the repository (CI lays a
copy there), or the workplace's ``/work/shared``. A missing folder is an error, not a skip."""

from __future__ import annotations

from pathlib import Path

_CANDIDATES = (
    Path(__file__).resolve().parents[2] / "shared",
    Path("/work/shared"),
)


def shared_dir() -> Path:
    for candidate in _CANDIDATES:
        if (candidate / "testdata").is_dir():
            return candidate
    raise FileNotFoundError(f"shared test data not found in any of {[str(c) for c in _CANDIDATES]}")


TORTURE = shared_dir() / "testdata" / "sip-torture"
