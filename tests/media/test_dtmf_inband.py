"""In-band DTMF detection.

``data/speech_female_8k.ulaw`` is 9 s of synthetic female speech (espeak-ng voice en+f3,
resampled to 8 kHz with sox, µ-law encoded): the hardest of the voices tried for talk-off.
"""

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.dtmf_inband import (
    COLUMN_FREQUENCIES,
    KEYPAD,
    ROW_FREQUENCIES,
    InbandDtmfDetector,
    dbm0_to_peak,
    dtmf_sequence,
    dtmf_tone,
    goertzel_basis,
    goertzel_power,
)
from media.g711 import ulaw_decode

SPEECH = Path(__file__).parent / "data" / "speech_female_8k.ulaw"
Pcm = npt.NDArray[np.int16]


def detect(signal: Pcm, **options: float) -> str:
    """Run one session through the detector frame by frame, with trailing silence."""
    padded = np.concatenate([signal, np.zeros(480 + (-len(signal)) % 160, dtype=np.int16)])
    detector = InbandDtmfDetector(1, **options)  # type: ignore[arg-type]
    digits = []
    for frame in padded.reshape(-1, 160):
        digits += [d.digit for d in detector.process(frame[None, :])]
    return "".join(digits)


def silence(ms: float) -> Pcm:
    return np.zeros(int(8 * ms), dtype=np.int16)


def goertzel_recurrence(x: npt.NDArray[np.float64], freq: float, rate: int) -> float:
    """Textbook Goertzel for a (possibly non-integer) bin, as the reference."""
    coeff = 2 * np.cos(2 * np.pi * freq / rate)
    s1 = s2 = 0.0
    for sample in x:
        s1, s2 = sample + coeff * s1 - s2, s1
    w = 2 * np.pi * freq / rate
    # Power of the DFT term at freq, from the final two states.
    real = s1 * np.cos(w) - s2
    imag = s1 * np.sin(w)
    return float(real * real + imag * imag)


def test_matrix_goertzel_equals_the_recurrence() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1000, 160)
    freqs = ROW_FREQUENCIES + COLUMN_FREQUENCIES
    power = goertzel_power(x, goertzel_basis(160, freqs, 8000))
    reference = np.array([goertzel_recurrence(x, f, 8000) for f in freqs]) * 2 / 160
    assert np.allclose(power, reference, rtol=1e-9)


def test_all_sixteen_digits_in_a_fast_sequence() -> None:
    assert detect(dtmf_sequence(KEYPAD, on_ms=40, off_ms=40)) == KEYPAD


@pytest.mark.parametrize("offset", range(0, 160, 16))
def test_minimum_duration(offset: int) -> None:
    for digit in "1D":
        forty = np.concatenate([silence(offset / 8), dtmf_tone(digit, 320)])
        assert detect(forty) == digit
        twenty = np.concatenate([silence(offset / 8), dtmf_tone(digit, 160)])
        assert detect(twenty) == ""


def test_inter_digit_gap() -> None:
    tone = dtmf_tone("8", 800)
    two = np.concatenate([tone[:400], silence(40), tone[400:]])
    assert detect(two) == "88"
    dropout = tone.copy()
    dropout[400:480] = 0  # 10 ms interruption is not a pause
    assert detect(dropout) == "8"


def test_twist_limits() -> None:
    for twist in (6.0, -6.0):
        assert detect(dtmf_tone("6", 800, twist_db=twist)) == "6"
    for twist in (10.0, -10.0):
        assert detect(dtmf_tone("6", 800, twist_db=twist)) == ""


def test_level_limits() -> None:
    assert detect(dtmf_tone("0", 800, level_dbm0=-30)) == "0"
    assert detect(dtmf_tone("0", 800, level_dbm0=-45)) == ""
    assert detect(dtmf_tone("0", 800, level_dbm0=-3)) == "0"


@pytest.mark.parametrize("digit", list(KEYPAD))
def test_frequency_tolerance_of_one_and_a_half_percent(digit: str) -> None:
    for error in (0.015, -0.015):
        assert detect(dtmf_tone(digit, 800, frequency_error=error)) == digit


def test_column_tones_five_percent_off_are_rejected() -> None:
    for digit in "3#":
        assert detect(dtmf_tone(digit, 800, frequency_error=0.05)) == ""


def test_detects_in_noise_at_15_db_snr() -> None:
    rng = np.random.default_rng(5)
    tones = dtmf_sequence("159#", on_ms=60, off_ms=60, level_dbm0=-20)
    signal_power = 2 * dbm0_to_peak(-20) ** 2 / 2
    noise = rng.normal(0, np.sqrt(signal_power / 10**1.5), len(tones))
    assert detect(np.clip(tones + noise, -32768, 32767).astype(np.int16)) == "159#"


def test_detects_after_mu_law_round_trip() -> None:
    from media.g711 import ulaw_encode

    tones = dtmf_sequence("2580", on_ms=50, off_ms=50, level_dbm0=-25)
    assert detect(ulaw_decode(ulaw_encode(tones))) == "2580"


def test_no_digits_in_silence_or_noise() -> None:
    rng = np.random.default_rng(9)
    assert detect(silence(2000)) == ""
    for sigma in (30.0, 1000.0, 8000.0):
        assert detect(np.clip(rng.normal(0, sigma, 40_000), -32768, 32767).astype(np.int16)) == ""


def test_no_digits_in_speech() -> None:
    speech = ulaw_decode(SPEECH.read_bytes())
    assert len(speech) > 8000 * 8
    for gain in (0.3, 1.0, 1.5):
        scaled = np.clip(speech * gain, -32768, 32767).astype(np.int16)
        assert detect(scaled) == ""


def synthetic_voice(seconds: float, seed: int) -> Pcm:
    """Voiced speech stand-in: gliding pitch, harmonics shaped by moving vowel formants."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 8000)
    t = np.arange(n) / 8000
    f0 = 120 + 80 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)) + 30 * rng.standard_normal()
    phase = 2 * np.pi * np.cumsum(f0) / 8000
    formants = np.array([rng.uniform(300, 900), rng.uniform(900, 2400), rng.uniform(2400, 3200)])
    out = np.zeros(n)
    for k in range(1, 30):
        freq = k * f0
        gain = sum(np.exp(-(((freq - f) / 120) ** 2)) for f in formants) + 0.05
        out += np.where(freq < 3800, gain / k**0.5, 0) * np.sin(k * phase)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2  # syllables
    signal = out * envelope
    scaled: Pcm = (signal / np.abs(signal).max() * 15000).astype(np.int16)
    return scaled


def synthetic_music(seconds: float, seed: int) -> Pcm:
    """Chords of one to three notes, each note a fundamental with decaying harmonics."""
    rng = np.random.default_rng(seed)
    parts = []
    total = 0
    while total < seconds * 8000:
        n = int(rng.uniform(0.15, 0.5) * 8000)
        t = np.arange(n) / 8000
        decay = np.minimum(1, np.arange(n) / 200) * np.exp(-t / rng.uniform(0.3, 2))
        ratio = rng.uniform(0.3, 0.7)  # harmonic k has amplitude ratio**(k-1)
        chord = np.zeros(n)
        for midi in rng.integers(48, 90, size=rng.integers(1, 4)):
            f = 440 * 2 ** ((midi - 69) / 12)
            for k in range(1, 10):
                if k * f < 3800:
                    chord += ratio ** (k - 1) * np.sin(2 * np.pi * k * f * t + rng.uniform(0, 6))
        parts.append(chord * decay)
        total += n
    music = np.concatenate(parts)
    scaled: Pcm = (music / np.abs(music).max() * 12000).astype(np.int16)
    return scaled


@pytest.mark.parametrize("seed", range(6))
def test_no_digits_in_synthetic_voice_or_music(seed: int) -> None:
    assert detect(synthetic_voice(5, seed)) == ""
    assert detect(synthetic_music(10, seed)) == ""


def test_digits_are_found_over_background_speech() -> None:
    speech = ulaw_decode(SPEECH.read_bytes())[: 8000 * 2].astype(np.float64) * 0.1  # ~ -28 dBm0
    tones = dtmf_sequence("47*", on_ms=70, off_ms=250, level_dbm0=-10)
    mixed = tones + speech[: len(tones)]
    assert detect(np.clip(mixed, -32768, 32767).astype(np.int16)) == "47*"


def test_many_sessions_match_single_session_runs() -> None:
    rng = np.random.default_rng(11)
    sessions = 24
    length = 8000
    signals = np.zeros((sessions, length), dtype=np.int16)
    expected = []
    for s in range(sessions):
        digits = "".join(rng.choice(list(KEYPAD), size=s % 4))
        seq = dtmf_sequence(digits, on_ms=60, off_ms=60) if digits else silence(0)
        start = int(rng.integers(0, 2000))
        signals[s, start : start + len(seq)] = seq[: length - start]
        expected.append(detect(signals[s]))
    detector = InbandDtmfDetector(sessions)
    found = [""] * sessions
    for frame in (
        np.concatenate([signals, np.zeros((sessions, 480), np.int16)], axis=1)
        .reshape(sessions, -1, 160)
        .transpose(1, 0, 2)
    ):
        for detection in detector.process(frame):
            found[detection.session] += detection.digit
    assert found == expected
    assert sum(map(len, found)) > 20


def test_reset_forgets_a_session() -> None:
    detector = InbandDtmfDetector(2)
    tone = dtmf_tone("5", 160 * 4).reshape(4, 160)
    frames = [np.stack([f, f]) for f in tone]

    def fired(frame: Pcm) -> list[tuple[int, str]]:
        return [(d.session, d.digit) for d in detector.process(frame)]

    assert fired(frames[0]) == []
    assert fired(frames[1]) == [(0, "5"), (1, "5")]  # three tone windows in a row
    detector.reset(1)
    assert fired(frames[2]) == []  # session 0 holds its digit; session 1 starts over
    assert fired(frames[3]) == [(1, "5")]


def test_shape_is_checked() -> None:
    with pytest.raises(ValueError, match="shape"):
        InbandDtmfDetector(3).process(np.zeros((2, 160), dtype=np.int16))


def test_generator_rejects_unknown_digit() -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        dtmf_tone("E", 10)


@settings(max_examples=40, deadline=None)
@given(
    digits=st.text(alphabet=KEYPAD, min_size=1, max_size=5),
    on_ms=st.integers(45, 120),
    off_ms=st.integers(45, 120),
    lead_ms=st.integers(0, 40),
    level=st.floats(-28, -4),
)
def test_any_well_formed_sequence_is_detected_exactly(
    digits: str, on_ms: int, off_ms: int, lead_ms: int, level: float
) -> None:
    signal = np.concatenate(
        [silence(lead_ms), dtmf_sequence(digits, on_ms=on_ms, off_ms=off_ms, level_dbm0=level)]
    )
    assert detect(signal) == digits


# --- the gates: cheaper, never different --------------------------------------------------


def signal_of(kind: int, level: float, seed: int, samples: int) -> Pcm:
    """A test signal: 0 silence, 1 a digit, 2 noise, 3 a digit in noise, 4 synthetic voice,
    5 a digit at the level where it just passes the detector's minimum."""
    rng = np.random.default_rng(seed)
    peak = dbm0_to_peak(level)
    if kind == 0:
        return silence(samples / 8)
    digit = KEYPAD[seed % 16]
    if kind == 5:
        return dtmf_tone(digit, samples, level_dbm0=-36.0 + level / 100, phase=seed)
    tone = dtmf_tone(digit, samples, level_dbm0=level, phase=seed * 0.7).astype(np.float64)
    noise = rng.normal(0, peak / 2, samples)
    voice = synthetic_voice(samples / 8000, seed)[:samples] * (peak / 8000)
    mixed: npt.NDArray[np.floating[Any]] = {1: tone, 2: noise, 3: tone + noise / 3, 4: voice}[kind]
    clipped: Pcm = np.clip(mixed, -32768, 32767).astype(np.int16)
    return clipped


@settings(max_examples=60, deadline=None)
@given(
    kinds=st.lists(st.integers(0, 5), min_size=1, max_size=6),
    level=st.floats(-50, 0),
    seed=st.integers(0, 2**16),
)
def test_gated_detector_finds_exactly_what_checking_every_window_finds(
    kinds: list[int], level: float, seed: int
) -> None:
    """The energy and fundamental gates are necessary conditions of a hit: skipping the
    windows they reject changes no detection (signals from silence to digits in noise)."""
    samples = 160 * 12
    frames = np.stack([signal_of(k, level, seed + i, samples) for i, k in enumerate(kinds)])
    gated, full = InbandDtmfDetector(len(kinds)), InbandDtmfDetector(len(kinds), gate=False)
    for frame in frames.reshape(len(kinds), -1, 160).transpose(1, 0, 2):
        windows = np.stack([frame, frame], axis=1).astype(np.float32)
        assert gated.classify(windows).tolist() == full.classify(windows).tolist()
        assert gated.process(frame) == full.process(frame)


def test_the_energy_gate_passes_a_digit_at_minus_30_dbm0_and_skips_quiet_windows() -> None:
    detector = InbandDtmfDetector(1)
    quiet = dtmf_tone("8", 160, level_dbm0=-45).astype(np.float32)
    loud = dtmf_tone("8", 160, level_dbm0=-30).astype(np.float32)
    minimum = detector._min_energy
    assert float(quiet @ quiet) < minimum < float(loud @ loud)
    assert detect(dtmf_tone("8", 800, level_dbm0=-30)) == "8"
    assert detect(dtmf_tone("8", 800, level_dbm0=-36.5), min_level_dbm0=-37.0) == "8"


def test_process_leading_feeds_only_the_first_sessions() -> None:
    detector = InbandDtmfDetector(4)
    tone = dtmf_tone("#", 160 * 3).reshape(3, 160)
    found = []
    for frame in tone:
        found += detector.process_leading(np.stack([frame, frame]))
    assert [(d.session, d.digit) for d in found] == [(0, "#"), (1, "#")]
    assert detector._run[2:].tolist() == [0, 0]  # untouched
    with pytest.raises(ValueError, match="at most 4 frames"):
        detector.process_leading(np.zeros((5, 160), dtype=np.int16))
