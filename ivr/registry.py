"""The schemes a telephony process serves, by name, with every version still in use.

A reload that fails validation never replaces the working scheme: the old version stays
current and the problems are returned. A replaced version stays available to the calls that
started on it while they hold it (``acquire``/``release``) or, for calls that never say, for
``grace_s`` after it was replaced; ``collect(now)`` forgets the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr import interpreter
from ivr.checks import PromptExists
from ivr.interpreter import Result
from ivr.loader import load_scheme
from ivr.messages import IvrState
from ivr.problems import SchemeError
from ivr.scheme import Scheme


class SchemeNotFound(KeyError):
    """No scheme by that name (or that version of it) is loaded."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "scheme not found"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadResult:
    name: str
    version: str  # the current version after the attempt
    changed: bool  # a new version became current
    error: SchemeError | None = None  # why the file was refused (the old version stays)

    def __str__(self) -> str:
        if self.error is not None:
            return f"{self.name}: kept version {self.version}; the new file is refused:\n" \
                   f"{self.error}"
        if self.changed:
            return f"{self.name}: now version {self.version}"
        return f"{self.name}: unchanged (version {self.version})"


@dataclass(slots=True)
class _Entry:
    scheme: Scheme
    refs: int = 0
    retired_at: float | None = None  # when it stopped being current


@dataclass(slots=True)
class _Named:
    path: Path
    current: str  # version
    revision: int  # how many versions became current, for people
    versions: dict[str, _Entry] = field(default_factory=dict)


class SchemeRegistry:
    def __init__(self, *, prompt_exists: PromptExists | None = None,
                 queues: Collection[str] | None = None, agents: Collection[str] | None = None,
                 default_timezone: str = "UTC", grace_s: float = 3600.0) -> None:
        self.prompt_exists = prompt_exists
        self.queues = queues
        self.agents = agents
        self.default_timezone = default_timezone
        self.grace_s = grace_s
        self._named: dict[str, _Named] = {}

    def _load(self, path: Path, name: str) -> Scheme:
        return load_scheme(path, name=name, prompt_exists=self.prompt_exists,
                           queues=self.queues, agents=self.agents,
                           default_timezone=self.default_timezone)

    # -- loading -------------------------------------------------------------------------

    def load(self, name: str, path: Path | str, now: float) -> Scheme:
        """Load (or replace) ``name`` from ``path``; on :class:`SchemeError` nothing changes."""
        scheme = self._load(Path(path), name)
        named = self._named.get(name)
        if named is None:
            self._named[name] = _Named(path=Path(path), current=scheme.version, revision=1,
                                       versions={scheme.version: _Entry(scheme)})
        else:
            named.path = Path(path)
            self._make_current(named, scheme, now)
        return scheme

    def reload(self, name: str, now: float) -> ReloadResult:
        """Read ``name``'s file again; a broken file keeps the working version current."""
        named = self._get(name)
        try:
            scheme = self._load(named.path, name)
        except SchemeError as exc:
            return ReloadResult(name=name, version=named.current, changed=False, error=exc)
        changed = self._make_current(named, scheme, now)
        return ReloadResult(name=name, version=named.current, changed=changed)

    def _make_current(self, named: _Named, scheme: Scheme, now: float) -> bool:
        if scheme.version == named.current:
            return False
        named.versions[named.current].retired_at = now
        entry = named.versions.get(scheme.version)
        if entry is None:
            named.versions[scheme.version] = _Entry(scheme)
        else:  # back to an older text still held by calls
            entry.retired_at = None
        named.current = scheme.version
        named.revision += 1
        return True

    # -- looking up ----------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._named)

    def path(self, name: str) -> Path:
        return self._get(name).path

    def revision(self, name: str) -> int:
        return self._get(name).revision

    def current(self, name: str) -> Scheme:
        named = self._get(name)
        return named.versions[named.current].scheme

    def get(self, name: str, version: str) -> Scheme:
        entry = self._get(name).versions.get(version)
        if entry is None:
            raise SchemeNotFound(f"scheme {name!r} version {version!r} is no longer loaded")
        return entry.scheme

    def scheme_for(self, state: IvrState) -> Scheme:
        """The version a call started on; the current one if that is gone (the interpreter
        then carries the call over, saying so in the debug log)."""
        named = self._get(state.scheme)
        entry = named.versions.get(state.version) or named.versions[named.current]
        return entry.scheme

    def versions(self, name: str) -> dict[str, int]:
        """Loaded versions of ``name`` and how many calls hold each."""
        return {v: e.refs for v, e in self._get(name).versions.items()}

    def _get(self, name: str) -> _Named:
        named = self._named.get(name)
        if named is None:
            raise SchemeNotFound(f"no IVR scheme {name!r} (loaded: "
                                 f"{', '.join(self.names()) or 'none'})")
        return named

    # -- calls ---------------------------------------------------------------------------

    def start_call(self, name: str, call_vars: Mapping[str, str], now: float) -> Result:
        """Start a call on the current version and hold that version for it."""
        scheme = self.current(name)
        self.acquire(name, scheme.version)
        return interpreter.start(scheme, call_vars, now)

    def acquire(self, name: str, version: str) -> None:
        entry = self._get(name).versions.get(version)
        if entry is not None:
            entry.refs += 1

    def release(self, name: str, version: str) -> None:
        entry = self._get(name).versions.get(version)
        if entry is not None and entry.refs > 0:
            entry.refs -= 1

    def collect(self, now: float) -> list[tuple[str, str]]:
        """Forget replaced versions no call holds whose grace period is over."""
        dropped = []
        for name, named in self._named.items():
            for version, entry in list(named.versions.items()):
                if version != named.current and entry.refs == 0 and \
                        entry.retired_at is not None and now - entry.retired_at >= self.grace_s:
                    del named.versions[version]
                    dropped.append((name, version))
        return dropped
