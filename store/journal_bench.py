"""Measure journal appends/s through the writer: ``python -m store.journal_bench``.

Starts a throw-away embedded cluster (durable, as in production) unless ``--url`` is
given, runs ``--producers`` coroutines appending ``--events`` in total, each awaiting
its acks, and prints the rate and the latency of a lone append.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from store.embedded import start_embedded, stop_embedded
from store.journal import JournalEvent
from store.journal_writer import JournalWriter
from store.migrations import apply_migrations


async def _measure(url: str, events: int, producers: int, batch_size: int) -> None:
    per_producer = events // producers

    async def produce(writer: JournalWriter, p: int) -> None:
        acks = []
        for i in range(per_producer):
            event = JournalEvent(actor=f"call/bench-{p}", actor_seq=i, kind="call.state",
                                 ts=time.time(), payload={"state": "ringing", "i": i})
            acks.append(await writer.append(event))
        await asyncio.gather(*acks)

    async with JournalWriter(url, batch_size=batch_size) as writer:
        start = time.perf_counter()
        await asyncio.gather(*(produce(writer, p) for p in range(producers)))
        elapsed = time.perf_counter() - start
        total = per_producer * producers
        print(f"{total} acked appends in {elapsed:.2f} s: {total / elapsed:,.0f} appends/s "
              f"({writer.committed_batches} batches)")
        lone = []
        for i in range(50):
            t = time.perf_counter()
            await (await writer.append(JournalEvent(actor="lone", actor_seq=i, kind="k",
                                                    ts=time.time())))
            lone.append(time.perf_counter() - t)
        lone.sort()
        print(f"lone append ack latency: median {lone[25] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="an existing, migrated database (default: embedded)")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--producers", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    if args.url:
        asyncio.run(_measure(args.url, args.events, args.producers, args.batch_size))
        return
    data_dir = Path(tempfile.mkdtemp(prefix="contactor-journal-bench-"))
    data_dir.chmod(0o711)
    try:
        cluster = start_embedded(data_dir)
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench")
        url = cluster.url_for("bench")
        apply_migrations(url)
        asyncio.run(_measure(url, args.events, args.producers, args.batch_size))
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
