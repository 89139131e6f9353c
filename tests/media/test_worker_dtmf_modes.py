"""Which legs a media worker watches for in-band DTMF: by leg kind, and (in the opt-in
``dtmf_mode=auto`` style, ``inband_with_rfc4733=False``) by what the leg's SDP negotiated."""

from __future__ import annotations

from pathlib import Path

from bus.message import Message
from media.dtmf_inband import dtmf_sequence
from media.g711 import ulaw_encode
from media.messages import DtmfDetected
from media.session import Endpoint
from media.worker import MediaWorker

PORTS = range(31200, 31300, 2)


def make_worker(tmp: Path, events: list[tuple[str, Message]], **options: bool) -> MediaWorker:
    return MediaWorker(worker_id="media-d", host="127.0.0.1", ports=PORTS,
                       recordings_dir=tmp / "rec", clock=lambda: 0.0,
                       on_event=lambda call, msg: events.append((call, msg)),
                       on_recording=lambda finished: None, **options)  # type: ignore[arg-type]


def watched(w: MediaWorker) -> set[str]:
    return {e.leg for e in w._digits.bank.owners if e is not None}


def play_digit(w: MediaWorker, leg: Endpoint, digit: str) -> None:
    """The digit's tone as the leg's received frames, one tick each."""
    codes = ulaw_encode(dtmf_sequence(digit, on_ms=100, off_ms=60)).tobytes()
    for n in range(len(codes) // 160):
        w._frames.add(leg.slot, codes[n * 160 : (n + 1) * 160])
        w.tick(n * 0.02)


def inband_digits(events: list[tuple[str, Message]]) -> list[str]:
    return [m.digit for _, m in events if isinstance(m, DtmfDetected) and m.method == "inband"]


def test_auto_mode_stops_watching_a_leg_that_negotiated_telephone_event(tmp_path: Path) -> None:
    events: list[tuple[str, Message]] = []
    w = make_worker(tmp_path, events, inband_with_rfc4733=False)
    caller, trunk, agent = w.open("c", "caller"), w.open("c", "trunk"), w.open("c", "agent")
    assert watched(w) == {"caller", "trunk"}  # before SDP: listen in-band (agents never)
    w.set_remote(caller.id, host="127.0.0.1", port=4000, payload_type=0,
                 telephone_event_pt=101)
    w.set_remote(trunk.id, host="127.0.0.1", port=4002, payload_type=0,
                 telephone_event_pt=None)
    assert watched(w) == {"trunk"}
    play_digit(w, caller, "4")  # tones on the leg that speaks RFC 4733: not looked for
    play_digit(w, trunk, "6")
    assert inband_digits(events) == ["6"]
    # A re-INVITE without telephone-event: the caller is watched again, from a fresh state.
    w.set_remote(caller.id, host="127.0.0.1", port=4000, payload_type=0,
                 telephone_event_pt=None)
    assert watched(w) == {"caller", "trunk"}
    play_digit(w, caller, "8")
    assert inband_digits(events) == ["6", "8"]
    for endpoint in (caller, trunk, agent):
        w.close_endpoint(endpoint.id)
    assert not w._digits.bank.owners
    w.close()


def test_by_default_legs_with_telephone_event_are_still_watched(tmp_path: Path) -> None:
    """Phones that negotiate RFC 4733 but send tones are heard (the default)."""
    events: list[tuple[str, Message]] = []
    w = make_worker(tmp_path, events)
    caller = w.open("c", "caller")
    w.set_remote(caller.id, host="127.0.0.1", port=4000, payload_type=0,
                 telephone_event_pt=101)
    assert watched(w) == {"caller"}
    play_digit(w, caller, "9")
    assert inband_digits(events) == ["9"]
    w.close()


def test_no_inband_watches_nothing(tmp_path: Path) -> None:
    events: list[tuple[str, Message]] = []
    w = make_worker(tmp_path, events, inband_dtmf=False)
    caller = w.open("c", "caller")
    w.set_remote(caller.id, host="127.0.0.1", port=4000, payload_type=0,
                 telephone_event_pt=None)
    assert watched(w) == set()
    w.close()
