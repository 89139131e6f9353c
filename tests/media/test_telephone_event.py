import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from media.telephone_event import (
    DigitReceived,
    DigitStarted,
    EventPacket,
    TelephoneEvent,
    TelephoneEventError,
    TelephoneEventReceiver,
    TelephoneEventSender,
    digit_packets,
    event_code,
    parse_telephone_event,
)


def test_payload_wire_vector() -> None:
    # RFC 4733 §2.3: event 5, E=1, R=0, volume 10, duration 800 (0x0320)
    wire = bytes.fromhex("058a0320")
    event = parse_telephone_event(wire)
    assert event == TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert event.build() == wire
    assert event.digit == "5"


def test_reserved_bit_is_ignored_and_extra_blocks_tolerated() -> None:
    event = parse_telephone_event(bytes.fromhex("0b4a00a0") + b"\x00" * 4)
    assert event == TelephoneEvent(event=11, end=False, volume=10, duration=160)
    assert event.digit == "#"


def test_event_codes() -> None:
    assert [event_code(d) for d in "0123456789*#ABCDabcd"] == [*range(16), 12, 13, 14, 15]
    for bad in ("E", "", "12", " "):
        with pytest.raises(TelephoneEventError, match="not a DTMF digit"):
            event_code(bad)
    assert TelephoneEvent(event=16, end=False, volume=0, duration=0).digit is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"event": 256}, "code"), ({"volume": 64}, "volume"), ({"duration": 65536}, "duration")],
)
def test_build_rejects_out_of_range(kwargs: dict[str, int], field: str) -> None:
    fields = {"event": 1, "volume": 10, "duration": 0, **kwargs}
    with pytest.raises(TelephoneEventError, match=field):
        TelephoneEvent(end=False, **fields).build()


def test_short_payload_is_rejected() -> None:
    with pytest.raises(TelephoneEventError, match="3 bytes"):
        parse_telephone_event(b"\x01\x02\x03")


def test_digit_packet_sequence() -> None:
    packets = digit_packets("7", timestamp=12345, duration_ms=100)
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert {p.timestamp for p in packets} == {12345}
    assert [p.event.duration for p in packets] == [160, 320, 480, 640, 800, 800, 800]
    assert [p.event.end for p in packets] == [False] * 4 + [True] * 3
    assert all(p.event.event == 7 and p.event.volume == 10 for p in packets)
    assert packets[0].payload == bytes.fromhex("070a00a0")


def test_single_interval_digit_marks_its_first_end_packet() -> None:
    packets = digit_packets("1", timestamp=0, duration_ms=20)
    assert [(p.marker, p.event.end) for p in packets] == [
        (True, True),
        (False, True),
        (False, True),
    ]


def test_digit_duration_limits() -> None:
    with pytest.raises(TelephoneEventError, match="shorter than one packet"):
        digit_packets("1", timestamp=0, duration_ms=10)
    with pytest.raises(TelephoneEventError, match="16-bit"):
        digit_packets("1", timestamp=0, duration_ms=9000)


def test_sender_paces_digits_one_packet_per_tick_with_gaps() -> None:
    sender = TelephoneEventSender(duration_ms=60, gap_ms=40)
    sender.send("12")
    assert sender.busy
    ticks: list[EventPacket | None] = []
    for tick in range(16):
        ticks.append(sender.next_packet(timestamp=1000 + 160 * tick))
    sent = [(t.event.digit, t.timestamp, t.event.end) if t else None for t in ticks]
    first = [("1", 1000, False), ("1", 1000, False)] + [("1", 1000, True)] * 3
    second = [("2", 2120, False), ("2", 2120, False)] + [("2", 2120, True)] * 3
    assert sent == first + [None, None] + second + [None] * 4
    assert not sender.busy
    with pytest.raises(TelephoneEventError):
        sender.send("1X")


def run(
    receiver: TelephoneEventReceiver, packets: list[EventPacket], now: float = 0.0
) -> list[object]:
    out: list[object] = []
    for i, p in enumerate(packets):
        out += receiver.receive(p.event, timestamp=p.timestamp, now=now + 0.02 * i)
    return out


def test_receiver_reports_each_digit_once_despite_repeated_end_packets() -> None:
    receiver = TelephoneEventReceiver()
    packets = digit_packets("9", timestamp=500, duration_ms=100)
    out = run(receiver, packets + packets[-3:])  # the end packets arrive twice more
    assert out == [
        DigitStarted(digit="9", timestamp=500),
        DigitReceived(digit="9", timestamp=500, duration=800),
    ]
    assert receiver.next_timer() is None


def test_receiver_survives_loss_of_first_packets() -> None:
    receiver = TelephoneEventReceiver()
    packets = digit_packets("#", timestamp=77, duration_ms=100)[3:]  # marker and two updates lost
    out = run(receiver, packets)
    assert out == [
        DigitStarted(digit="#", timestamp=77),
        DigitReceived(digit="#", timestamp=77, duration=800),
    ]


def test_same_digit_twice_is_two_events() -> None:
    receiver = TelephoneEventReceiver()
    first = digit_packets("5", timestamp=0, duration_ms=60)
    second = digit_packets("5", timestamp=1600, duration_ms=60)
    out = run(receiver, first + second)
    assert [type(e).__name__ for e in out] == ["DigitStarted", "DigitReceived"] * 2


def test_lost_end_packets_complete_on_timer_or_next_event() -> None:
    receiver = TelephoneEventReceiver(end_timeout=0.3)
    updates = digit_packets("3", timestamp=0, duration_ms=100)[:4]
    assert run(receiver, updates, now=10.0) == [DigitStarted(digit="3", timestamp=0)]
    deadline = receiver.next_timer()
    assert deadline is not None
    assert deadline == pytest.approx(10.06 + 0.3)
    assert receiver.handle_timer(deadline - 0.01) == []
    assert receiver.handle_timer(deadline) == [DigitReceived(digit="3", timestamp=0, duration=640)]
    assert receiver.next_timer() is None
    # a late retransmission of the timed-out event stays silent
    assert run(receiver, updates[-1:], now=11.0) == []
    # an unfinished event is completed by the next event's first packet
    run(receiver, digit_packets("4", timestamp=4000, duration_ms=60)[:1], now=12.0)
    out = run(receiver, digit_packets("6", timestamp=8000, duration_ms=60)[1:2], now=13.0)
    assert out == [
        DigitReceived(digit="4", timestamp=4000, duration=160),
        DigitStarted(digit="6", timestamp=8000),
    ]


def test_non_dtmf_events_are_ignored() -> None:
    receiver = TelephoneEventReceiver()
    flash = TelephoneEvent(event=16, end=True, volume=10, duration=800)
    assert receiver.receive(flash, timestamp=0, now=0.0) == []


@settings(max_examples=200, deadline=None)
@given(
    digits=st.text(alphabet="0123456789*#ABCD", min_size=1, max_size=6),
    seed=st.randoms(use_true_random=False),
    loss=st.floats(0, 0.6),
)
def test_any_loss_pattern_reports_each_surviving_digit_exactly_once(
    digits: str, seed: random.Random, loss: float
) -> None:
    sender = TelephoneEventSender(duration_ms=80, gap_ms=40)
    sender.send(digits)
    receiver = TelephoneEventReceiver()
    reported: list[tuple[str, int]] = []
    started: list[tuple[str, int]] = []
    surviving: dict[int, str] = {}
    now = 0.0
    tick = 0
    while sender.busy:
        packet = sender.next_packet(timestamp=160 * tick)
        tick += 1
        now += 0.02
        if packet is None:
            continue
        copies = 2 if seed.random() < 0.2 else 1  # duplicated by the network
        for _ in range(copies):
            if seed.random() < loss:
                continue
            surviving[packet.timestamp] = packet.event.digit or "?"
            for event in receiver.receive(packet.event, timestamp=packet.timestamp, now=now):
                key = (event.digit, event.timestamp)
                (reported if isinstance(event, DigitReceived) else started).append(key)
    timer = receiver.next_timer()
    if timer is not None:
        for event in receiver.handle_timer(timer):
            reported.append((event.digit, event.timestamp))
    expected = sorted((d, ts) for ts, d in surviving.items())
    assert sorted(reported) == expected
    assert sorted(started) == expected
