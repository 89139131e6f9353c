"""Connection pools and the choice between a configured and the embedded database."""

from __future__ import annotations

from pathlib import Path

from psycopg_pool import AsyncConnectionPool, ConnectionPool

from store.embedded import start_embedded


def database_url(configured_url: str | None, data_dir: Path | str) -> str:
    """The configured URL if any (production), else the embedded cluster's, started if needed."""
    if configured_url:
        return configured_url
    return start_embedded(data_dir).url


def open_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 8,
    name: str | None = None,
    timeout: float = 10.0,
    check: bool = True,
) -> ConnectionPool:
    """An opened thread-safe pool; close it with ``pool.close()`` or use it as a context manager.

    ``check=True`` validates a connection (one round trip) before lending it, so a
    database restart costs failed checks, not failed application queries.
    """
    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        timeout=timeout,
        open=False,
        check=ConnectionPool.check_connection if check else None,
    )
    pool.open(wait=True, timeout=timeout)
    return pool


async def open_async_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 8,
    name: str | None = None,
    timeout: float = 10.0,
    check: bool = True,
) -> AsyncConnectionPool:
    """The asyncio flavour of :func:`open_pool`."""
    pool = AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        name=name,
        timeout=timeout,
        open=False,
        check=AsyncConnectionPool.check_connection if check else None,
    )
    await pool.open(wait=True, timeout=timeout)
    return pool
