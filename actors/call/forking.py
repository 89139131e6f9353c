"""Parallel forking: every registered contact of an address of record rings at once.

An agent with a desk phone and a softphone registered under one AOR gets an INVITE on each
(RFC 3261 §16.6 parallel search: all contacts ring, highest q first in the order we send).
The first leg located keeps its name (``b``) and the first contact; every other contact gets
a *fork*: a leg of its own (``b2``, ``b3``...) with ``fork_of = "b"``. The first 2xx wins: it
is ACKed and bridged, the other forks are CANCELled (``Reason: SIP;cause=200``, RFC 3326, so
the phones do not log a missed call), and a 2xx from a loser that crosses our CANCEL is ACKed
and BYEd at once (§13.2.2.4, :func:`actors.call.setup._answered`). When every fork has
failed, the call hears the best of their final responses (:func:`best_final`, §16.7). A 6xx
ends the search: the other forks are CANCELled (§16.7 step 5).

Why separate B2BUA legs (own Call-ID, From tag and branch) rather than one INVITE forked like
a proxy forks it (one Call-ID and From tag, a branch per target):

* the port routes a response by our branch and an in-dialog request by our tag, both of which
  name the leg (``telephony.ids``): a fork that is a leg needs no routing table, survives a
  restart and hands its dialog to the rest of the call actor unchanged;
* two requests with one Call-ID, From tag and CSeq but different branches that reach the same
  UA (a phone registered over two transports, two contacts behind one SBC) are a *merged
  request* it must refuse with 482 (§8.2.2.2): separate Call-IDs cannot be merged;
* the proxy's reason for sharing them (the caller correlates the early dialogs of one
  request) does not apply: the caller only ever sees our one dialog with it.

The cost is that a phone cannot tell that two INVITEs are one call, which only matters for
the "answered elsewhere" notice, and the CANCEL's ``Reason`` carries that.

What must exist once per offer lives on the first leg while the forks ring and passes to the
winner when it answers: ``acd`` (the agent hears one Ring, one Answered, one CallEnded: one
ring is one offer, whichever device takes it), the anchored ``endpoint`` (our offer went to
every fork; the winner's answer sets the endpoint's remote) and a supervisor's ``join`` mode.
The one ring timer is the first leg's (``ring:b``): no answer cancels every fork.

Relay mode: the caller hears ringing once (the first 18x of any fork) and early media from
the first fork that sends SDP; its 200 carries the winner's answer. When the winner is not
the fork whose early media it heard, that answer differs from the SDP of our 183 (RFC 3261
§13.2.1 wants them equal within one dialog, and the caller has one dialog with us): phones
and gateways take the 2xx's description, which is what a forking proxy's caller gets too
(from another early dialog). Anchored mode has no such case: the caller talks to its
endpoint, and only the endpoint's remote changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.call.ending import hang_up
from actors.call.messages import Leg
from actors.call.turn import Turn
from bus.message import evolve

#: contacts rung at once at most (the registrar keeps at most 10 per AOR)
MAX_FORKS = 10
RINGING = ("trying", "early")

#: within the 4xx class, what the caller can act on first (§16.7 step 6 lets a proxy "select
#: any response within that chosen class"); its SHOULD for 401/407/415/420/484 is about
#: resubmitting the request, which a caller of a B2BUA cannot do for a fork we built: a
#: phone's challenge cannot be answered by the caller (they are merged into one outcome and
#: reach it as 480, see ``failure_for_caller``), so busy and unavailable come first
_4XX_PREFERENCE = (486, 480, 408, 484, 415, 420, 404)
_CHALLENGES = frozenset({401, 407})


def group_name(leg: Leg) -> str:
    """The name of the first leg of ``leg``'s forks (its own name if it is not a fork)."""
    return leg.fork_of or leg.name


def forks_of(t: Turn, leg: Leg) -> list[Leg]:
    """Every leg of the offer ``leg`` rings for (itself included), as they are now."""
    first = group_name(leg)
    return [other for other in t.s.legs.values()
            if other.name == first or other.fork_of == first]


def still_ringing(t: Turn, leg: Leg) -> bool:
    """Whether the offer ``leg`` belongs to is still ringing on some fork."""
    return any(other.status in RINGING for other in forks_of(t, leg))


def first_of(t: Turn, leg: Leg) -> Leg:
    return t.leg(group_name(leg))


def fork_name(t: Turn, first: str, n: int) -> str:
    """``b2``, ``b3``...: a name no leg of this call has (leg names are never reused)."""
    while f"{first}{n}" in t.s.legs or f"{first}{n}" in t.s.moved:
        n += 1
    return f"{first}{n}"


def new_fork(t: Turn, first: Leg, n: int) -> Leg:
    """A fork of ``first`` for its ``n``th contact: who it rings for, not what it owns once
    (``acd``, ``endpoint``: see the module docstring)."""
    return t.put(Leg(name=fork_name(t, first.name, n), role="uac", agent=first.agent,
                     target_uri=first.target_uri, local_sdp=first.local_sdp,
                     supervisor=first.supervisor, join=first.join, fork_of=first.name))


def won(t: Turn, winner: Leg) -> Leg:
    """``winner`` answered first: the other forks are cancelled and it takes the offer over."""
    forks = forks_of(t, winner)
    if len(forks) == 1:
        return winner
    for other in forks:
        if other.name != winner.name and other.status in RINGING:
            hang_up(t, other)
    if not winner.fork_of:
        return winner
    first = t.leg(winner.fork_of)
    winner = t.put(evolve(winner, acd=first.acd, endpoint=first.endpoint, join=first.join))
    t.put(evolve(first, acd=False, endpoint=""))
    transfer = t.s.transfer
    if transfer is not None and transfer.new_leg == first.name:
        t.update(transfer=evolve(transfer, new_leg=winner.name))
    return winner


def fork_failed(t: Turn, leg: Leg, status: int) -> tuple[Leg, int] | None:
    """``leg`` (ended) failed with ``status``. None while other forks still ring; else the
    first leg (which owns the offer) and the status the whole search failed with."""
    forks = forks_of(t, leg)
    if len(forks) == 1:
        return leg, status
    if status >= 600:
        hang_up(t, leg)  # §16.7 step 5: a 6xx ends the search (the other forks are CANCELled)
    elif still_ringing(t, leg):
        return None
    finals = [f.final_status for f in forks_of(t, leg) if f.final_status >= 300]
    return first_of(t, leg), best_final(finals)


def best_final(statuses: Iterable[int]) -> int:
    """The response a failed search answers with (RFC 3261 §16.7 step 6): a 6xx if any, else
    the lowest class; within 4xx see :data:`_4XX_PREFERENCE`; 408 when there is none."""
    found = [s for s in statuses if 300 <= s < 700]
    if not found:
        return 408

    def rank(status: int) -> tuple[int, int, int]:
        klass = 0 if status >= 600 else status // 100
        if klass != 4:
            return klass, 0, status
        if status in _4XX_PREFERENCE:
            return klass, _4XX_PREFERENCE.index(status), status
        return klass, len(_4XX_PREFERENCE) + (1 if status in _CHALLENGES else 0), status

    return min(found, key=rank)


def relays_provisional(t: Turn, leg: Leg, caller: Leg, sdp: bytes) -> bool:
    """Whether a provisional response of ``leg`` goes on to the unanswered caller: the first
    one of any fork (the caller hears ringing once), then those of the leg it came from,
    or of the first fork that sends SDP if that one had none (early media, relay mode)."""
    if caller.status == "trying":
        return True
    source = t.s.legs.get(t.s.early_from)
    if source is None or source.name == leg.name or source.status not in RINGING:
        return True
    return bool(sdp) and not source.sdp
