"""The numpy work of one tick: decode every leg's frame, mix, encode, detect in-band DTMF.

Rows are endpoint slots: row ``s`` of a ``(slots, 160)`` array is the 20 ms frame of the
endpoint in slot ``s``. The worker keeps slots dense (lowest free first), so the arrays
stay as small as the number of live endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from media.dtmf_inband import InbandDtmfDetector
from media.g711 import (
    ALAW_DECODE_TABLE,
    ALAW_ENCODE_TABLE,
    ALAW_SILENCE,
    ULAW_DECODE_TABLE,
    ULAW_ENCODE_TABLE,
    ULAW_SILENCE,
    alaw_encode,
    ulaw_encode,
)
from media.session import FRAME_SAMPLES, Endpoint

PcmFrames = npt.NDArray[np.int16]
CodeFrames = npt.NDArray[np.uint8]

#: decode table indexed by ``law * 256 + code`` (law 0 µ-law, 1 A-law)
DECODE = np.concatenate([ULAW_DECODE_TABLE, ALAW_DECODE_TABLE])
#: one silent frame per law, as bytes
SILENCE = (bytes([ULAW_SILENCE]) * FRAME_SAMPLES, bytes([ALAW_SILENCE]) * FRAME_SAMPLES)
#: ``bytes.translate`` tables for relaying between legs that speak different laws
ULAW_TO_ALAW = ALAW_ENCODE_TABLE.take(ULAW_DECODE_TABLE.view(np.uint16)).tobytes()
ALAW_TO_ULAW = ULAW_ENCODE_TABLE.take(ALAW_DECODE_TABLE.view(np.uint16)).tobytes()
TRANSCODE = {(0, 1): ULAW_TO_ALAW, (1, 0): ALAW_TO_ULAW}


def decode_frames(codes: CodeFrames, laws: npt.NDArray[np.intp]) -> PcmFrames:
    """(n, 160) codes plus each row's law to (n, 160) int16 PCM, in one table lookup."""
    decoded: PcmFrames = DECODE.take(codes.astype(np.intp) + (laws * 256)[:, None])
    return decoded


def encode_frame(pcm: PcmFrames, law: int) -> bytes:
    return (alaw_encode(pcm) if law else ulaw_encode(pcm)).tobytes()


def mix_frames(pcm: PcmFrames, sources: Sequence[Sequence[int]]) -> PcmFrames:
    """Row ``i`` of the result is the clipped sum of ``pcm[s]`` for ``s`` in ``sources[i]``."""
    if not sources:
        return np.zeros((0, pcm.shape[1]), dtype=np.int16)
    width = max(len(s) for s in sources)
    silent = len(pcm)  # index of an extra all-zero row pads short source lists
    index = np.full((len(sources), width), silent, dtype=np.intp)
    for i, rows in enumerate(sources):
        index[i, : len(rows)] = rows
    padded = np.concatenate([pcm, np.zeros((1, pcm.shape[1]), dtype=np.int16)])
    total = padded[index].astype(np.int32).sum(axis=1)
    mixed: PcmFrames = np.clip(total, -32768, 32767).astype(np.int16)
    return mixed


class DtmfBank:
    """In-band DTMF detectors for the legs being watched, in blocks of ``block`` rows.

    Each watched leg has a detector row (the lowest free one, so blocks fill densely) and
    is read from its endpoint slot. ``InbandDtmfDetector`` has a fixed session count and
    costs in proportion to the rows fed; blocks let a worker pay only for the rows in use
    (the last block is fed only up to its last row in use). A block has a fixed cost per
    tick whatever its size, so blocks are large (measured per tick for 500 legs: 6.3 ms in
    blocks of 32, 1.8 ms in blocks of 256, before the detector's gates).
    """

    def __init__(self, block: int = 256) -> None:
        self.block = block
        self._detectors: list[InbandDtmfDetector] = []
        self.owners: list[Endpoint | None] = []  # the endpoint each row watches
        self._slots = np.zeros(0, dtype=np.intp)  # the slot each row reads

    def watch(self, owner: Endpoint) -> None:
        """Start detecting on ``owner`` (its slot must not change while watched)."""
        try:
            row = self.owners.index(None)
        except ValueError:
            row = len(self.owners)
            self.owners.append(None)
            self._slots = np.concatenate([self._slots, np.zeros(1, np.intp)])
        self.owners[row] = owner
        self._slots[row] = owner.slot
        b, session = divmod(row, self.block)
        if b < len(self._detectors):
            self._detectors[b].reset(session)

    def unwatch(self, owner: Endpoint) -> None:
        row = self.owners.index(owner)
        self.owners[row] = None
        self._slots[row] = 0
        while self.owners and self.owners[-1] is None:
            self.owners.pop()
        self._slots = self._slots[: len(self.owners)].copy()

    def gather(self, pcm: PcmFrames) -> PcmFrames:
        """Each row's frame from a tick's (slots, 160) frames; a copy."""
        watched: PcmFrames = pcm[self._slots]
        return watched

    def blocks(self, rows: int) -> int:
        """How many blocks ``rows`` rows span."""
        return -(-rows // self.block)

    def process(self, watched: PcmFrames) -> list[tuple[int, str]]:
        """Feed one frame per row (``gather``'s result); returns (row, digit) detections."""
        found: list[tuple[int, str]] = []
        for b in range(self.blocks(len(watched))):
            found += self.process_block(b, watched)
        return found

    def process_block(self, b: int, watched: PcmFrames) -> list[tuple[int, str]]:
        """Feed block ``b`` its rows' frames (``watched`` holds every row).

        Blocks are independent, so a caller may spread them over time (the worker runs one
        per poll, so no detection step holds up relayed packets for long).
        """
        while b >= len(self._detectors):
            self._detectors.append(InbandDtmfDetector(self.block))
        # The last block's unused rows are not fed (their state is reset when taken).
        part = watched[b * self.block : (b + 1) * self.block]
        return [(b * self.block + hit.session, hit.digit)
                for hit in self._detectors[b].process_leading(part)]
