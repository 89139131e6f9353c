"""Key presses on a media worker's legs, from RFC 4733 events and in-band tones, reported to
the call actor as :class:`DtmfDetected`.

RFC 4733 events arrive on the receive path and their end (or its timeout) on the tick.
In-band detection runs in blocks of legs (``media.mixer.DtmfBank``) that the worker queues
as steps on the polls after a tick, so no detection stands between a packet and its relay
for long. A tone heard shortly after an RFC 4733 event on the same leg is the same key
press (phones that send both) and is not reported twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import numpy.typing as npt

from bus.message import Message
from media.messages import DtmfDetected
from media.mixer import DtmfBank
from media.session import CLOCK_RATE, Endpoint
from media.telephone_event import (
    DigitReceived,
    TelephoneEventError,
    TelephoneEventReceiver,
    parse_telephone_event,
)

#: an in-band tone this soon after an RFC 4733 event on the same leg is the same key press
INBAND_AFTER_RFC4733_S = 1.0
#: legs of the center's own phones speak RFC 4733; in-band detection watches the others
NO_INBAND_LEGS = frozenset({"agent", "supervisor"})

EventSink = Callable[[str, Message], None]


class DigitEvents:
    """``inband_with_rfc4733=False`` is Asterisk's ``dtmf_mode=auto``: a leg whose SDP
    negotiated telephone-event is not watched in-band (its digits come as RFC 4733 events),
    which saves the detection for most calls; legs that did not negotiate it are still
    watched. The default watches every leg of a watched kind (phones that negotiate RFC 4733
    but send tones are heard)."""

    def __init__(self, on_event: EventSink, *, inband: bool,
                 inband_with_rfc4733: bool = True) -> None:
        self.on_event = on_event
        self.inband = inband
        self.inband_with_rfc4733 = inband_with_rfc4733
        self.bank = DtmfBank()
        #: endpoints whose RFC 4733 receiver has a timer running
        self.pending: set[Endpoint] = set()

    def watches(self, leg: str) -> bool:
        """Whether in-band detection should watch a leg of this kind."""
        return self.inband and leg not in NO_INBAND_LEGS

    def should_watch(self, endpoint: Endpoint) -> bool:
        """Whether in-band detection should watch this leg now (its kind, and what its SDP
        negotiated once the remote is set: ``te_pt`` None means no telephone-event)."""
        return self.watches(endpoint.leg) and (
            self.inband_with_rfc4733 or endpoint.remote is None or endpoint.te_pt is None)

    def telephone_event(self, endpoint: Endpoint, ts: int, payload: bytes, now: float) -> None:
        try:
            event = parse_telephone_event(payload)
        except TelephoneEventError:
            return
        receiver: TelephoneEventReceiver = endpoint.events  # type: ignore[assignment]
        endpoint.last_rfc4733 = now
        for item in receiver.receive(event, timestamp=ts, now=now):
            if isinstance(item, DigitReceived):
                self._digit(endpoint, item)
        if receiver.next_timer() is not None:
            self.pending.add(endpoint)

    def timers(self, now: float) -> None:
        for endpoint in list(self.pending):
            receiver: TelephoneEventReceiver = endpoint.events  # type: ignore[assignment]
            for item in receiver.handle_timer(now):
                if isinstance(item, DigitReceived):
                    self._digit(endpoint, item)
            if receiver.next_timer() is None:
                self.pending.discard(endpoint)

    def _digit(self, endpoint: Endpoint, item: DigitReceived) -> None:
        self.on_event(endpoint.call_id, DtmfDetected(
            call_id=endpoint.call_id, endpoint=endpoint.id, digit=item.digit,
            method="rfc4733", duration_ms=item.duration * 1000 // CLOCK_RATE))

    def inband_steps(self, pcm: npt.NDArray[np.int16],
                     now: float) -> list[Callable[[], None]]:
        """One detection step per block of watched legs, for a tick's frames."""
        watched = self.bank.gather(pcm)  # a copy: later frames cannot change it
        return [partial(self._inband, block, watched, now)
                for block in range(self.bank.blocks(len(watched)))]

    def _inband(self, block: int, watched: npt.NDArray[np.int16], now: float) -> None:
        for row, digit in self.bank.process_block(block, watched):
            endpoint = self.bank.owners[row]
            if endpoint is None or now - endpoint.last_rfc4733 < INBAND_AFTER_RFC4733_S:
                continue
            self.on_event(endpoint.call_id, DtmfDetected(
                call_id=endpoint.call_id, endpoint=endpoint.id, digit=digit, method="inband"))
