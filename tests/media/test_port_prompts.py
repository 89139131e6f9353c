"""Prompts through the media port: ``tts:`` text spoken once and cached, and a prompt that
loads slowly never starts once it was stopped or replaced."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from media.messages import MediaOk, Play, PlayDone, StopPlay
from media.sounds import SoundLibrary
from tests.media.phones import Phone
from tests.media.test_worker_port import Center


@pytest.fixture
async def center(tmp_path: Path) -> AsyncIterator[Center]:
    c = Center(tmp_path)
    c.worker.start(asyncio.get_running_loop())
    try:
        yield c
    finally:
        c.worker.close()


def test_tts_prompts_are_spoken_at_8khz_and_cached_by_text(tmp_path: Path) -> None:
    library = SoundLibrary(tmp_path / "sounds")
    samples = library.samples("tts:You are number 2 in the queue.")
    assert 0.8 < len(samples) / 8000 < 6.0  # a spoken sentence, 8 kHz
    assert float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > 100.0  # not silence
    cached = list((tmp_path / "sounds" / ".tts").glob("*.wav"))
    assert len(cached) == 1
    again = SoundLibrary(tmp_path / "sounds")  # another worker process: the file is reused
    assert np.array_equal(again.samples("tts:You are number 2 in the queue."), samples)
    assert len(list((tmp_path / "sounds" / ".tts").glob("*.wav"))) == 1
    assert library.entries() == []  # spoken prompts are not library entries


async def test_a_tts_prompt_plays_to_its_end(center: Center) -> None:
    opened = await center.leg(Phone(), "caller")
    assert await center.ask(Play(endpoint=opened.endpoint, prompt="tts:Hi.")) == MediaOk()
    for _ in range(100):
        if any(isinstance(m, PlayDone) for _, m in center.tells):
            break
        await asyncio.sleep(0.05)
    assert [m for _, m in center.tells if isinstance(m, PlayDone)] == [
        PlayDone(call_id="c1", endpoint=opened.endpoint, prompt="tts:Hi.")]


async def test_a_prompt_stopped_while_it_loads_never_starts(center: Center) -> None:
    opened = await center.leg(Phone(), "caller")
    gate = threading.Event()
    quick: npt.NDArray[np.int16] = np.zeros(800, dtype=np.int16)

    def slow_samples(prompt: str) -> npt.NDArray[np.int16]:
        if prompt == "slow":
            gate.wait(5.0)
        return quick

    center.port.samples = slow_samples
    slow = asyncio.ensure_future(center.ask(Play(endpoint=opened.endpoint, prompt="slow")))
    await asyncio.sleep(0.05)
    assert await center.ask(StopPlay(endpoint=opened.endpoint)) == MediaOk()
    gate.set()
    assert await slow == MediaOk()
    assert center.worker.endpoints[opened.endpoint].player is None
    assert await center.ask(Play(endpoint=opened.endpoint, prompt="fast")) == MediaOk()
    assert center.worker.endpoints[opened.endpoint].player is not None
