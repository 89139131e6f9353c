from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from media.g711 import (
    ALAW_DECODE_TABLE,
    ULAW_DECODE_TABLE,
    ULAW_ENCODE_TABLE,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)

ALL_PCM = np.arange(-32768, 32768).astype(np.int16)
Codec = Callable[[Any], npt.NDArray[Any]]


def test_known_reference_values() -> None:
    # Decoder ends and zeros of G.711 (16-bit scaling of the 14/13-bit tables).
    assert ULAW_DECODE_TABLE[[0x00, 0x80, 0xFF, 0x7F, 0x7E, 0xFE]].tolist() == [
        -32124,
        32124,
        0,
        0,
        -8,
        8,
    ]
    assert ALAW_DECODE_TABLE[[0x2A, 0xAA, 0x55, 0xD5, 0x54, 0xD4]].tolist() == [
        -32256,
        32256,
        -8,
        8,
        -24,
        24,
    ]
    pcm = np.array([0, -1, 1000, -1000, 32767, -32768], dtype=np.int16)
    assert ulaw_encode(pcm).tolist() == [0xFF, 0x7F, 0xCE, 0x4E, 0x80, 0x00]
    assert alaw_encode(pcm).tolist() == [0xD5, 0x55, 0xFA, 0x7A, 0xAA, 0x2A]


def test_digital_milliwatt_decodes_to_a_0_dbm0_sine() -> None:
    # G.711 Table 5/6: the 8-byte periodic sequences that give 1 kHz at 0 dBm0.
    ulaw = ulaw_decode(bytes([0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E])).astype(float)
    alaw = alaw_decode(bytes([0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4])).astype(float)
    phase = np.pi / 8 + np.arange(8) * np.pi / 4
    for decoded, full_scale, overload_dbm0 in ((ulaw, 32636, 3.17), (alaw, 32768, 3.14)):
        peak = full_scale * 10 ** (-overload_dbm0 / 20)
        # The codes are sign-inverted relative to sin(), as tabulated; every sample is
        # within half a quantisation step (512 at these levels) of the ideal sine.
        assert np.allclose(decoded, -peak * np.sin(phase), rtol=0, atol=256)


def _table_from_decision_intervals(
    edges: list[int], steps: list[int], scale: int, shift: int
) -> npt.NDArray[np.int64]:
    """Expected decoded value for every int16 sample, built from G.711's decision intervals.

    ``edges``/``steps`` describe segments on the positive magnitude axis (in 14-bit units for
    µ-law, 13-bit for A-law); each interval decodes to its midpoint, negatives mirror.
    """
    pcm = ALL_PCM.astype(np.int64)
    magnitude = np.where(pcm < 0, ~pcm, pcm) >> shift  # one's complement, as G.191
    out = np.zeros_like(magnitude)
    top = edges[-1]
    for lo, hi, step in zip(edges[:-1], edges[1:], steps, strict=True):
        inside = (magnitude >= lo) & (magnitude < hi)
        out[inside] = lo + (magnitude[inside] - lo) // step * step + step // 2
    out[magnitude >= top] = top - steps[-1] // 2
    return np.where(pcm < 0, -out, out) * scale


def test_ulaw_matches_g711_decision_table_for_every_sample() -> None:
    # µ-law: the first interval is [-1, 1) around zero, then segments double their step.
    edges = [-1, 31, 95, 223, 479, 991, 2015, 4063, 8159]
    steps = [2, 4, 8, 16, 32, 64, 128, 256]
    expected = _table_from_decision_intervals(edges, steps, scale=4, shift=2)
    assert np.array_equal(ULAW_DECODE_TABLE[ulaw_encode(ALL_PCM)], expected)


def test_alaw_matches_g711_decision_table_for_every_sample() -> None:
    edges = [0, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    steps = [2, 2, 4, 8, 16, 32, 64, 128]
    expected = _table_from_decision_intervals(edges, steps, scale=8, shift=3)
    assert np.array_equal(ALAW_DECODE_TABLE[alaw_encode(ALL_PCM)], expected)


def test_codes_survive_decode_then_encode() -> None:
    codes = np.arange(256, dtype=np.uint8)
    assert np.array_equal(alaw_encode(alaw_decode(codes)), codes)
    again = ulaw_encode(ulaw_decode(codes))
    positive_zero_only = codes != 0x7F  # µ-law's negative zero decodes to 0 = code 0xFF
    assert np.array_equal(again[positive_zero_only], codes[positive_zero_only])
    assert again[0x7F] == 0xFF


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_quantiser_is_monotonic(encode: Codec, decode: Codec) -> None:
    quantised = decode(encode(ALL_PCM)).astype(np.int32)
    assert np.all(np.diff(quantised) >= 0)


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError):
        ULAW_ENCODE_TABLE[0] = 1


def test_batch_shapes_and_bytes_input() -> None:
    rng = np.random.default_rng(3)
    pcm = rng.integers(-32768, 32768, size=(7, 160)).astype(np.int16)
    codes = ulaw_encode(pcm)
    assert codes.shape == (7, 160) and codes.dtype == np.uint8
    assert np.array_equal(ulaw_decode(codes[2].tobytes()), ulaw_decode(codes)[2])
    assert alaw_decode(alaw_encode(pcm)).shape == (7, 160)


def test_wrong_dtypes_are_rejected() -> None:
    with pytest.raises(TypeError, match="int16"):
        ulaw_encode(np.zeros(4, dtype=np.int32))
    with pytest.raises(TypeError, match="uint8"):
        alaw_decode(np.zeros(4, dtype=np.int16))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.int16, hnp.array_shapes(min_dims=1, max_dims=2, max_side=200)))
def test_arrays_of_any_shape_are_symmetric_and_close(pcm: npt.NDArray[np.int16]) -> None:
    wide = pcm.astype(np.int64)
    for encode, decode in ((ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)):
        codes = encode(pcm)
        assert codes.shape == pcm.shape
        out = decode(codes).astype(np.int64)
        # The largest step is 1024 (µ-law) / 1024 (A-law); beyond the top level it clips.
        assert np.all((np.abs(out - wide) <= 512) | (np.abs(wide) > 32000))
        mirrored = decode(encode(~pcm)).astype(np.int64)  # ~x = -x-1, the one's complement
        assert np.array_equal(mirrored, -out)
