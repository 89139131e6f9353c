"""Versions, reload without dropping calls, the file watcher."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from ivr.interpreter import step
from ivr.messages import Digit, Enqueue, IvrState, PlayDone
from ivr.registry import SchemeNotFound, SchemeRegistry
from ivr.watch import SchemeWatcher
from tests.ivr.scripted import MENU_SCHEME, T0

V2 = MENU_SCHEME.replace("1: sales", "1: support").replace("2: support", "2: sales")


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(textwrap.dedent(text))
    os.utime(path, (mtime, mtime))


class Caller:
    """A call held by the registry the way a call actor holds it: only the state is kept."""

    def __init__(self, registry: SchemeRegistry, now: float) -> None:
        self.registry = registry
        self.state, self.actions = registry.start_call("shop", {"caller": "1"}, now)

    def send(self, event: object, now: float) -> None:
        scheme = self.registry.scheme_for(self.state)
        self.state, self.actions = step(scheme, self.state, event, now)  # type: ignore[arg-type]
        if self.state.phase == "done":
            self.registry.release(self.state.scheme, self.state.version)

    def to_menu(self, now: float) -> None:
        self.send(PlayDone(), now)  # welcome
        self.send(PlayDone(), now)  # the menu prompt; now waiting for a key

    def queue(self) -> str:
        [enqueue] = [a for a in self.actions if isinstance(a, Enqueue)]
        return enqueue.queue


@pytest.fixture
def scheme_file(tmp_path: Path) -> Path:
    path = tmp_path / "shop.yaml"
    write(path, MENU_SCHEME, T0)
    return path


def test_reload_during_calls(scheme_file: Path) -> None:
    registry = SchemeRegistry(queues=["sales", "support"], grace_s=60.0)
    v1 = registry.load("shop", scheme_file, T0).version
    old_calls = [Caller(registry, T0) for _ in range(3)]
    for call in old_calls:
        call.to_menu(T0)
    assert registry.versions("shop") == {v1: 3}

    write(scheme_file, V2, T0 + 10)
    result = registry.reload("shop", T0 + 10)
    assert result.changed and result.error is None and result.version != v1
    v2 = result.version
    new_call = Caller(registry, T0 + 11)
    new_call.to_menu(T0 + 11)
    assert registry.versions("shop") == {v1: 3, v2: 1}

    for call in old_calls:
        call.send(Digit(digit="1"), T0 + 12)
        assert call.state.version == v1 and call.queue() == "sales"  # the old menu
    new_call.send(Digit(digit="1"), T0 + 12)
    assert new_call.state.version == v2 and new_call.queue() == "support"  # the new menu
    assert registry.versions("shop") == {v1: 0, v2: 0}

    assert registry.collect(T0 + 69) == []  # within the grace period
    assert registry.collect(T0 + 70) == [("shop", v1)]
    assert registry.versions("shop") == {v2: 0}
    with pytest.raises(SchemeNotFound, match="version .* is no longer loaded"):
        registry.get("shop", v1)


def test_a_held_version_outlives_the_grace_period(scheme_file: Path) -> None:
    registry = SchemeRegistry(grace_s=1.0)
    v1 = registry.load("shop", scheme_file, T0).version
    call = Caller(registry, T0)
    write(scheme_file, V2, T0 + 1)
    registry.reload("shop", T0 + 1)
    assert registry.collect(T0 + 1000) == []
    call.to_menu(T0 + 1000)
    call.send(Digit(digit="2"), T0 + 1000)
    assert call.state.version == v1 and call.queue() == "support"
    assert registry.collect(T0 + 1000) == [("shop", v1)]


def test_a_broken_file_never_replaces_the_working_scheme(scheme_file: Path) -> None:
    registry = SchemeRegistry(queues=["sales", "support"])
    v1 = registry.load("shop", scheme_file, T0).version
    write(scheme_file, MENU_SCHEME.replace("queue: sales", "queue: sails"), T0 + 5)
    result = registry.reload("shop", T0 + 5)
    assert not result.changed and result.version == v1 and result.error is not None
    assert str(result.error) == (
        f"{scheme_file}:23: node 'sales': queue: unknown queue 'sails' (did you mean "
        "'sales'?); known: sales, support")
    assert str(result).startswith(f"shop: kept version {v1}; the new file is refused:\n")
    assert registry.current("shop").version == v1
    assert registry.revision("shop") == 1
    with pytest.raises(Exception, match="unknown queue 'sails'"):
        registry.load("shop", scheme_file, T0 + 6)  # load() raises, and still keeps v1
    assert registry.current("shop").version == v1


def test_same_text_is_the_same_version(scheme_file: Path) -> None:
    registry = SchemeRegistry()
    v1 = registry.load("shop", scheme_file, T0).version
    write(scheme_file, MENU_SCHEME, T0 + 5)  # touched, not changed
    result = registry.reload("shop", T0 + 5)
    assert not result.changed and result.version == v1 and str(result) == (
        f"shop: unchanged (version {v1})")


def test_a_call_whose_version_is_gone_goes_on_with_the_current_one(scheme_file: Path) -> None:
    """A telephony process restarted after the file changed: the snapshot names an unknown
    version; the caller is carried over at the same node."""
    registry = SchemeRegistry()
    registry.load("shop", scheme_file, T0)
    state = IvrState(scheme="shop", version="0123456789ab", node="menu", phase="input",
                     timer="t3", seq=3, vars={"caller": "1"})
    scheme = registry.scheme_for(state)
    assert scheme is registry.current("shop")
    state, _ = step(scheme, state, Digit(digit="1"), T0)
    assert state.version == scheme.version and state.node == "menu" and state.prompts
    with pytest.raises(SchemeNotFound, match="no IVR scheme 'nope' \\(loaded: shop\\)"):
        registry.current("nope")


def test_watcher_reloads_changed_files_only(tmp_path: Path, scheme_file: Path) -> None:
    other = tmp_path / "other.yaml"
    write(other, "start: a\nnodes: {a: {type: hangup}}\n", T0)
    registry = SchemeRegistry()
    registry.load("shop", scheme_file, T0)
    registry.load("other", other, T0)
    watcher = SchemeWatcher(registry)
    assert watcher.poll(T0 + 1) == []
    write(scheme_file, V2, T0 + 2)
    [result] = watcher.poll(T0 + 2)
    assert result.name == "shop" and result.changed
    assert watcher.poll(T0 + 3) == []
    write(scheme_file, "start: [", T0 + 4)  # an editor's half-written save
    [refused] = watcher.poll(T0 + 4)
    assert refused.error is not None and registry.current("shop").version == result.version
    scheme_file.unlink()  # saved by rename: briefly missing
    assert watcher.poll(T0 + 5) == []
    write(scheme_file, MENU_SCHEME, T0 + 6)
    [back] = watcher.poll(T0 + 6)
    assert back.changed and registry.revision("shop") == 3
