"""A scripted caller: drives the pure interpreter the way a call actor would, with a fake
clock, host timers and a media player that remembers what it plays."""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Mapping
from typing import TypeVar

from ivr.interpreter import start, step
from ivr.loader import parse_scheme
from ivr.messages import (
    CallerHangup,
    CancelTimer,
    Digit,
    IvrAction,
    IvrEvent,
    IvrState,
    Log,
    Play,
    PlayDone,
    StartTimer,
    StopPlay,
    Timeout,
)
from ivr.scheme import Scheme

A = TypeVar("A")

#: Tuesday 2025-03-04 10:00 in Paris (09:00 UTC): inside opening hours
T0 = dt.datetime(2025, 3, 4, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))).timestamp()

MENU_SCHEME = """
name: shop
start: welcome
timezone: Europe/Paris
nodes:
  welcome:
    type: play
    prompt: welcome
    next: menu
  menu:
    type: menu
    prompt: main-menu
    choices:
      1: sales
      2: support
    timeout_s: 5
    retries: 2
    invalid_prompt: invalid
    no_input_prompt: no-input
    failure: goodbye
  sales:
    type: queue
    queue: sales
    priority: 5
    skills: {french: 3}
  support:
    type: queue
    queue: support
  goodbye:
    type: hangup
    prompt: goodbye
"""


def scheme_of(text: str, **kwargs: object) -> Scheme:
    return parse_scheme(textwrap.dedent(text), source="test.yaml", **kwargs)  # type: ignore[arg-type]


class ScriptedCall:
    def __init__(self, scheme: Scheme, *, now: float = T0,
                 call_vars: Mapping[str, str] | None = None,
                 state: IvrState | None = None) -> None:
        self.scheme = scheme
        self.now = now
        self.timers: dict[str, float] = {}
        self.playing: str | None = None
        self.history: list[IvrAction] = []
        if state is None:
            self.state, actions = start(scheme, call_vars or {"caller": "+33612345678"}, now)
            self._track(actions)
        else:
            self.state = state

    def send(self, event: IvrEvent) -> tuple[IvrAction, ...]:
        self.state, actions = step(self.scheme, self.state, event, self.now)
        self._track(actions)
        return actions

    def _track(self, actions: tuple[IvrAction, ...]) -> None:
        self.history.extend(actions)
        for action in actions:
            if isinstance(action, StartTimer):
                self.timers[action.key] = self.now + action.after_s
            elif isinstance(action, CancelTimer):
                self.timers.pop(action.key, None)
            elif isinstance(action, Play):
                self.playing = action.prompt
            elif isinstance(action, StopPlay):
                self.playing = None

    def prompt_ends(self) -> tuple[IvrAction, ...]:
        assert self.playing is not None, "nothing is playing"
        prompt, self.playing = self.playing, None
        return self.send(PlayDone(prompt=prompt))

    def listen(self) -> list[str]:
        """Let every prompt play to its end; the prompts heard."""
        heard = []
        while self.playing is not None:
            heard.append(self.playing)
            self.prompt_ends()
        return heard

    def press(self, keys: str) -> None:
        for key in keys:
            self.send(Digit(digit=key))

    def wait(self, seconds: float) -> None:
        """Let time pass, firing due timers in deadline order."""
        until = self.now + seconds
        while self.timers and min(self.timers.values()) <= until:
            key = min(self.timers, key=self.timers.__getitem__)
            self.now = self.timers.pop(key)
            self.send(Timeout(key=key))
        self.now = until

    def hang_up(self) -> None:
        self.send(CallerHangup())

    def actions_of(self, kind: type[A]) -> list[A]:
        return [a for a in self.history if isinstance(a, kind)]

    def logs(self, kind: str | None = None) -> list[str]:
        return [f"{a.node}: {a.text}" for a in self.history
                if isinstance(a, Log) and (kind is None or a.kind == kind)]
