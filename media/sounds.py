"""The sound library: prompts as 8 kHz mono files under ``<data>/sounds``.

Anything sox reads can be imported; it is stored as 16-bit PCM WAV (``.wav``) or raw
µ-law (``.ul``). Text prompts are spoken with espeak-ng, either into a named prompt
(``contactor sounds say``) or on first use of a ``tts:<text>`` prompt (IVR schemes, queue
announcements), cached by the text's hash under ``<sounds>/.tts``. A prompt still named by an IVR
scheme (``[[ivr]] scheme`` YAML files) or a queue's music on hold cannot be deleted. The
demo prompts are made at first start, not shipped: speech by espeak-ng, hold music as a
generated melody.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from media.g711 import ulaw_decode
from media.session import CLOCK_RATE
from media.wav import WavError, WavWriter, read_wav

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SUFFIXES = (".wav", ".ul")
TOOL_TIMEOUT_S = 60.0
TTS = "tts:"
#: ``tone:<hz>/<ms>``: a generated sine tone, e.g. the voicemail beep ``tone:1000/500``
TONE = "tone:"
_TONE = re.compile(r"tone:(\d{2,4})/(\d{1,4})")
TTS_VOICE = "en"
#: prompts kept decoded in memory per process
CACHE_PROMPTS = 256
HOLD_MUSIC = "hold-music"
#: ``moh = "default"`` in a queue means the generated hold music
ALIASES = {"default": HOLD_MUSIC}
DEMO_SPEECH = {
    "welcome": "Welcome to Contactor.",
    "menu": "For sales, press 1. For support, press 2.",
    "invalid": "Sorry, that is not a valid choice.",
    "goodbye": "Thank you for calling. Goodbye.",
}


class SoundError(ValueError):
    """A prompt name, file or tool problem; the message names the prompt and the cause."""


class SoundInUse(SoundError):
    """Deletion refused: the prompt is still referenced."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SoundInfo:
    name: str
    path: Path
    format: str  # "wav" or "ulaw"
    seconds: float


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise SoundError(f"{command[0]} is not installed (needed to {what})")
    result = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S,
                            check=False)
    if result.returncode != 0:
        raise SoundError(f"{command[0]} failed to {what}: {result.stderr.strip()[-300:]}")


def tone(prompt: str) -> npt.NDArray[np.int16]:
    """Samples of a ``tone:<hz>/<ms>`` prompt (20-3999 Hz, 1-5000 ms, 10 ms fades)."""
    match = _TONE.fullmatch(prompt)
    if match is None:
        raise SoundError(f"tone prompt {prompt!r}: expected tone:<hz>/<ms>, e.g. tone:1000/500")
    hz, ms = int(match[1]), int(match[2])
    if not 20 <= hz < CLOCK_RATE // 2 or not 1 <= ms <= 5000:
        raise SoundError(f"tone prompt {prompt!r}: frequency must be 20-3999 Hz and "
                         f"length 1-5000 ms")
    t = np.arange(CLOCK_RATE * ms // 1000) / CLOCK_RATE
    # fade in and out (10 ms) so that the tone does not click
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)
    samples: npt.NDArray[np.int16] = np.rint(
        np.sin(2 * np.pi * hz * t) * fade * 8000).astype(np.int16)
    return samples


def hold_music(seconds: float = 16.0) -> npt.NDArray[np.int16]:
    """A soft, looping tone melody (a few KB of code instead of a binary blob in git)."""
    notes = (523.25, 659.25, 783.99, 659.25, 587.33, 698.46, 880.0, 698.46)  # C E G E D F A F
    beat = 0.5
    t = np.arange(int(beat * CLOCK_RATE)) / CLOCK_RATE
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-3.0 * t)
    bar = np.concatenate([
        np.sin(2 * np.pi * f * t) * envelope + 0.3 * np.sin(2 * np.pi * f / 2 * t) * envelope
        for f in notes
    ])
    repeats = max(1, round(seconds / (beat * len(notes))))
    music: npt.NDArray[np.int16] = np.rint(np.tile(bar, repeats) * 6000).astype(np.int16)
    return music


class SoundLibrary:
    def __init__(self, directory: Path, *, ivr_schemes: Iterable[Path] = (),
                 moh_prompts: Iterable[str] = ()) -> None:
        self.directory = directory
        self.ivr_schemes = tuple(ivr_schemes)
        self.moh_prompts = tuple(moh_prompts)
        self._cache: dict[str, npt.NDArray[np.int16]] = {}

    # ------------------------------------------------------------------ names and files

    def _checked(self, name: str) -> str:
        if not NAME.fullmatch(name):
            raise SoundError(f"prompt name {name!r} must be letters, digits, '_', '.', '-' "
                             "(at most 64)")
        return name

    def path_of(self, name: str) -> Path | None:
        name = ALIASES.get(name, name) if not self._exists(name) else name
        for suffix in SUFFIXES:
            path = self.directory / f"{name}{suffix}"
            if path.exists():
                return path
        return None

    def _exists(self, name: str) -> bool:
        return any((self.directory / f"{name}{s}").exists() for s in SUFFIXES)

    def entries(self) -> list[SoundInfo]:
        out: list[SoundInfo] = []
        if not self.directory.is_dir():
            return out
        for path in sorted(self.directory.iterdir()):
            if path.suffix not in SUFFIXES:
                continue
            samples = self._read(path)
            out.append(SoundInfo(name=path.stem, path=path,
                                 format="wav" if path.suffix == ".wav" else "ulaw",
                                 seconds=len(samples) / CLOCK_RATE))
        return out

    # ------------------------------------------------------------------ import, speak, delete

    def import_file(self, name: str, source: Path, *, fmt: str = "wav") -> Path:
        """Convert anything sox reads to an 8 kHz mono prompt; replaces one of that name."""
        self._checked(name)
        if not source.exists():
            raise SoundError(f"cannot import prompt {name!r}: {source} does not exist")
        if fmt not in ("wav", "ulaw"):
            raise SoundError(f"prompt format must be 'wav' or 'ulaw', got {fmt!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{name}{'.wav' if fmt == 'wav' else '.ul'}"
        partial = target.with_name(target.name + ".part")
        encoding = (["-t", "wav", "-e", "signed-integer", "-b", "16"] if fmt == "wav"
                    else ["-t", "ul"])
        _run(["sox", "-q", "-V1", str(source), "-r", str(CLOCK_RATE), "-c", "1", *encoding,
              str(partial)], f"import {source} as prompt {name!r}")
        for other in SUFFIXES:  # one file per name
            (self.directory / f"{name}{other}").unlink(missing_ok=True)
        partial.replace(target)
        self._cache.pop(name, None)
        return target

    def say(self, name: str, text: str, *, voice: str = "en") -> Path:
        """Speak ``text`` with espeak-ng into prompt ``name``."""
        self._checked(name)
        with tempfile.TemporaryDirectory() as tmp:
            spoken = Path(tmp) / "spoken.wav"
            _run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(spoken), text],
                 f"speak prompt {name!r}")
            return self.import_file(name, spoken)

    def speech(self, text: str, *, voice: str = TTS_VOICE) -> Path:
        """The spoken ``text`` as an 8 kHz prompt file, made once and cached by its hash."""
        if not text.strip():
            raise SoundError("tts: prompt has no text to speak")
        digest = hashlib.sha1(f"{voice}\0{text}".encode()).hexdigest()[:20]
        cache = self.directory / ".tts"
        target = cache / f"{digest}.wav"
        if target.exists():
            return target
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            spoken = Path(tmp) / "spoken.wav"
            _run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(spoken), text],
                 f"speak {text[:40]!r}")
            partial = Path(tmp) / "prompt.wav"
            _run(["sox", "-q", "-V1", str(spoken), "-r", str(CLOCK_RATE), "-c", "1", "-t", "wav",
                  "-e", "signed-integer", "-b", "16", str(partial)], f"convert {text[:40]!r}")
            shutil.move(str(partial), target)  # whole or absent: never a half-written prompt
        return target

    def save_samples(self, name: str, samples: npt.NDArray[np.int16]) -> Path:
        self._checked(name)
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{name}.wav"
        with target.open("wb") as f:
            writer = WavWriter(f, sample_rate=CLOCK_RATE, channels=1)
            writer.write(samples)
            writer.close()
        self._cache.pop(name, None)
        return target

    def references(self, name: str) -> list[str]:
        """Where ``name`` is used: IVR scheme files and queues' music on hold."""
        token = re.compile(rf"(?<![\w.-]){re.escape(name)}(?![\w-])")
        found = [f"queue music on hold {name!r}" for moh in self.moh_prompts
                 if ALIASES.get(moh, moh) == name or moh == name]
        for scheme in self.ivr_schemes:
            try:
                text = scheme.read_text(encoding="utf-8")
            except OSError:
                continue
            if token.search(text):
                found.append(str(scheme))
        return found

    def delete(self, name: str) -> None:
        self._checked(name)
        if not self._exists(name):
            raise SoundError(f"no prompt {name!r} in {self.directory}")
        users = self.references(name)
        if users:
            raise SoundInUse(f"prompt {name!r} is still used by: {', '.join(users)}")
        for suffix in SUFFIXES:
            (self.directory / f"{name}{suffix}").unlink(missing_ok=True)
        self._cache.pop(name, None)

    def ensure_demo_prompts(self) -> list[str]:
        """Make the demo prompts that are missing; returns the names made."""
        made = []
        if not self._exists(HOLD_MUSIC):
            self.save_samples(HOLD_MUSIC, hold_music())
            made.append(HOLD_MUSIC)
        for name, text in DEMO_SPEECH.items():
            if not self._exists(name):
                try:
                    self.say(name, text)
                except SoundError:
                    continue  # no espeak-ng: the center runs, that prompt plays as silence
                made.append(name)
        return made

    # ------------------------------------------------------------------ samples

    def _read(self, path: Path) -> npt.NDArray[np.int16]:
        data = path.read_bytes()
        if path.suffix == ".ul":
            return ulaw_decode(data)
        try:
            wav = read_wav(data)
        except WavError as exc:
            raise SoundError(f"prompt file {path} is not a 16-bit WAV: {exc}") from exc
        if wav.sample_rate != CLOCK_RATE or wav.channels != 1:
            raise SoundError(f"prompt file {path} is {wav.sample_rate} Hz, {wav.channels} "
                             f"channels; expected {CLOCK_RATE} Hz mono (import it)")
        return wav.samples[:, 0].copy()

    def samples(self, prompt: str) -> npt.NDArray[np.int16]:
        """8 kHz mono samples of a library prompt, or of a file path (converted if needed)."""
        cached = self._cache.get(prompt)
        if cached is not None:
            return cached
        path = self.path_of(prompt) if NAME.fullmatch(prompt) else None
        if prompt.startswith(TTS):
            samples = self._read(self.speech(prompt[len(TTS):]))
        elif prompt.startswith(TONE):
            samples = tone(prompt)
        elif path is not None:
            samples = self._read(path)
        else:
            source = Path(prompt)
            if not source.is_absolute() or not source.exists():
                raise SoundError(f"no prompt {prompt!r} in {self.directory} and no such file")
            samples = self._convert(source)
        if len(self._cache) >= CACHE_PROMPTS:
            self._cache.pop(next(iter(self._cache)))  # oldest first: spoken positions churn
        self._cache[prompt] = samples
        return samples

    def _convert(self, source: Path) -> npt.NDArray[np.int16]:
        try:
            return self._read(source)
        except SoundError:
            pass
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "prompt.wav"
            _run(["sox", "-q", "-V1", str(source), "-r", str(CLOCK_RATE), "-c", "1", "-t", "wav",
                  "-e", "signed-integer", "-b", "16", str(out)], f"convert {source}")
            return self._read(out)
