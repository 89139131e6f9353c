"""G.711 µ-law (PCMU) and A-law (PCMA) with numpy lookup tables.

The quantisers follow the ITU-T G.191 reference implementation of G.711: 16-bit input,
of which µ-law uses the 14 and A-law the 13 most significant bits, negative values taken by
one's complement so the code is symmetric about zero. Decoding gives 16-bit PCM.

All functions accept arrays of any shape, e.g. (sessions, 160) for one 20 ms tick of many
calls. Encoding indexes a 65536-entry table with the sample's bit pattern.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import numpy.typing as npt

PcmArray = npt.NDArray[np.int16]
CodeArray = npt.NDArray[np.uint8]

ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5


_Scalar = TypeVar("_Scalar", bound=np.generic)


def _read_only(array: npt.NDArray[_Scalar]) -> npt.NDArray[_Scalar]:
    array.flags.writeable = False
    return array


def _ulaw_decode_table() -> PcmArray:
    code = np.arange(256, dtype=np.int32)
    inverted = ~code & 0xFF
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    step = 4 << (exponent + 1)
    magnitude = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    return _read_only(np.where(code < 0x80, -magnitude, magnitude).astype(np.int16))


def _ulaw_encode_table() -> CodeArray:
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    # One's complement of negatives: -1 and 0 share magnitude 0, keeping the law symmetric.
    magnitude = np.minimum(np.where(pcm < 0, ~pcm, pcm) >> 2, 0x1FFF - 33) + 33
    segment = np.zeros_like(magnitude)
    for threshold in (0x40, 0x80, 0x100, 0x200, 0x400, 0x800, 0x1000):
        segment += magnitude >= threshold
    segment += 1  # segment number 1..8 as in G.191
    high = 8 - segment
    low = 0x0F - ((magnitude >> segment) & 0x0F)
    code = (high << 4) | low
    return _read_only(np.where(pcm >= 0, code | 0x80, code).astype(np.uint8))


def _alaw_decode_table() -> PcmArray:
    code = np.arange(256, dtype=np.int32)
    toggled = (code ^ 0x55) & 0x7F
    exponent = toggled >> 4
    mantissa = toggled & 0x0F
    mantissa = np.where(exponent > 0, mantissa + 16, mantissa)
    magnitude = (mantissa << 4) + 0x08
    magnitude = np.where(exponent > 1, magnitude << np.maximum(exponent - 1, 0), magnitude)
    return _read_only(np.where(code > 0x7F, magnitude, -magnitude).astype(np.int16))


def _alaw_encode_table() -> CodeArray:
    pcm = np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)
    ix = np.where(pcm < 0, ~pcm, pcm) >> 4  # 0..2047
    shift = np.zeros_like(ix)
    for threshold in (0x20, 0x40, 0x80, 0x100, 0x200, 0x400):
        shift += ix >= threshold
    # Segments 0 and 1 share one step size; above that each segment doubles it. The
    # leading one of the shifted magnitude is implied by the segment number.
    code = np.where(ix > 15, ((shift + 1) << 4) + (ix >> shift) - 16, ix)
    code = np.where(pcm >= 0, code | 0x80, code)
    return _read_only((code ^ 0x55).astype(np.uint8))


ULAW_DECODE_TABLE = _ulaw_decode_table()
ULAW_ENCODE_TABLE = _ulaw_encode_table()
ALAW_DECODE_TABLE = _alaw_decode_table()
ALAW_ENCODE_TABLE = _alaw_encode_table()


def _as_pcm(pcm: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    array = np.asarray(pcm)
    if array.dtype != np.int16:
        raise TypeError(f"G.711 encode needs int16 PCM, got dtype {array.dtype}")
    return array.view(np.uint16)


def _as_codes(codes: npt.ArrayLike | bytes) -> CodeArray:
    if isinstance(codes, bytes | bytearray | memoryview):
        return np.frombuffer(codes, dtype=np.uint8)
    array = np.asarray(codes)
    if array.dtype != np.uint8:
        raise TypeError(f"G.711 decode needs uint8 codes, got dtype {array.dtype}")
    return array


def ulaw_encode(pcm: npt.ArrayLike) -> CodeArray:
    """int16 PCM of any shape to µ-law codes of the same shape."""
    return ULAW_ENCODE_TABLE.take(_as_pcm(pcm))


def ulaw_decode(codes: npt.ArrayLike | bytes) -> PcmArray:
    """µ-law codes (array or payload bytes) to int16 PCM."""
    return ULAW_DECODE_TABLE.take(_as_codes(codes))


def alaw_encode(pcm: npt.ArrayLike) -> CodeArray:
    """int16 PCM of any shape to A-law codes of the same shape."""
    return ALAW_ENCODE_TABLE.take(_as_pcm(pcm))


def alaw_decode(codes: npt.ArrayLike | bytes) -> PcmArray:
    """A-law codes (array or payload bytes) to int16 PCM."""
    return ALAW_DECODE_TABLE.take(_as_codes(codes))
