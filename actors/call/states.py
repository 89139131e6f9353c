"""The call's phase machine: ONE transition table.

``TRANSITIONS[(phase, event)]`` is the phase a call moves to. Legs have their own SIP states
(the dialog's early/confirmed/terminated plus ``cancelling``/``ending`` while our CANCEL or
BYE is out); the phase says what the call as a whole is doing:

* ``idle``: the actor has never seen its INVITE (a stray message activated it);
* ``routing``: the caller's INVITE is here, the destination is being looked up;
* ``ivr``: the caller is answered and in an IVR scheme (menus, prompts, digits);
* ``queued``: waiting in an ACD queue for an agent (the caller hears ringback);
* ``ringing``: an outgoing leg is being called;
* ``connected``: two legs talk (hold and transfers happen inside this phase);
* ``ending``: BYEs and CANCELs are out, waiting for the last leg to finish;
* ``ended``: done, journaled; the actor stops (once an INVITE it still has to CANCEL, that
  never drew a provisional response, is over: a fork to a dead contact must not hold the
  call's end up for Timer B).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal

from actors.call.messages import CallPhase

CallEvent = Literal["invite", "ivr", "ring", "queue", "answer", "requeue", "end", "done"]

TRANSITIONS: Final[Mapping[tuple[CallPhase, CallEvent], CallPhase]] = {
    ("idle", "invite"): "routing",
    ("routing", "ring"): "ringing",
    ("routing", "queue"): "queued",
    ("routing", "ivr"): "ivr",
    ("ivr", "queue"): "queued",
    ("ivr", "ring"): "ringing",
    ("ivr", "end"): "ending",
    ("queued", "ring"): "ringing",
    ("ringing", "ring"): "ringing",
    ("ringing", "answer"): "connected",
    ("ringing", "requeue"): "queued",
    ("routing", "end"): "ending",
    ("queued", "end"): "ending",
    ("ringing", "end"): "ending",
    ("connected", "end"): "ending",
    ("ending", "end"): "ending",
    ("ending", "done"): "ended",
}


class IllegalCallEvent(RuntimeError):
    """A call event the table does not allow in the current phase (a bug, not a peer's fault)."""


def advance(phase: CallPhase, event: CallEvent) -> CallPhase:
    try:
        return TRANSITIONS[(phase, event)]
    except KeyError:
        allowed = sorted(e for (p, e) in TRANSITIONS if p == phase)
        raise IllegalCallEvent(
            f"call event {event!r} is not allowed in phase {phase!r} (allowed: {allowed})"
        ) from None


def can(phase: CallPhase, event: CallEvent) -> bool:
    return (phase, event) in TRANSITIONS
