"""Per-leg media state: outgoing RTP streams, prompt players and who hears whom.

Sans-IO: nothing here touches sockets or clocks; ``now`` is passed in. The worker
(``media.worker``) owns the sockets and drives these objects from its receive path and its
20 ms tick.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from media.messages import Direction, JoinMode

CLOCK_RATE = 8000
FRAME_SAMPLES = 160  # 20 ms at 8 kHz
FRAME_S = FRAME_SAMPLES / CLOCK_RATE
PCMU, PCMA = 0, 8
G711_TYPES = (PCMU, PCMA)
_SEQ_MASK, _TS_MASK = 0xFFFF, 0xFFFFFFFF
_GENERATED = -1  # source id of frames the worker makes itself (prompts, mixes)


class MediaError(LookupError):
    """A request names an endpoint, call or prompt this worker does not have."""


class OutStream:
    """One outgoing RTP stream (RFC 3550 §8.2/§8.3 semantics for a relay that rewrites SSRC).

    Packets relayed from a peer keep their sequence and timestamp spacing (so the far end
    still sees losses and reordering) shifted by offsets chosen when the source changes, so
    our stream stays continuous across prompts, mixes and re-INVITEs. The first packet after
    a change carries the marker bit.
    """

    __slots__ = ("_seq_off", "_source", "_ts_off", "last_time", "octets_extra", "sent", "seq",
                 "ssrc", "ts")

    def __init__(self, rng: random.Random) -> None:
        # Random initial values as RFC 3550 §5.1 asks (known-plaintext attacks on SRTP).
        self.ssrc = rng.getrandbits(32)
        self.seq = rng.getrandbits(16)
        self.ts = rng.getrandbits(32)
        self.last_time: float | None = None
        self.sent = 0
        #: payload octets sent beyond 160 a packet (RFC 4733 events, other packet times);
        #: the fast path sends 160 and leaves this alone
        self.octets_extra = 0
        self._source: int | None = None
        self._seq_off = 0
        self._ts_off = 0

    def _continued_ts(self, now: float) -> int:
        if self.last_time is None:
            return self.ts
        frames = max(1, round((now - self.last_time) / FRAME_S))
        return (self.ts + frames * FRAME_SAMPLES) & _TS_MASK

    def relay(self, ssrc: int, seq: int, ts: int, now: float) -> tuple[int, int, bool]:
        """Sequence number, timestamp and forced marker for a packet relayed from ``ssrc``."""
        switched = ssrc != self._source or (
            # Same SSRC, but sequence numbers jumped (RFC 3550 A.1's MAX_DROPOUT and
            # MAX_MISORDER): the sender restarted; resync so our stream stays continuous.
            3000 <= (seq + self._seq_off - self.seq) & _SEQ_MASK <= 0xFFFF - 100)
        if switched:
            self._source = ssrc
            self._seq_off = (self.seq + 1 - seq) & _SEQ_MASK
            self._ts_off = (self._continued_ts(now) - ts) & _TS_MASK
        out_seq = (seq + self._seq_off) & _SEQ_MASK
        out_ts = (ts + self._ts_off) & _TS_MASK
        if switched or (out_seq - self.seq) & _SEQ_MASK < 0x8000:
            self.seq, self.ts, self.last_time = out_seq, out_ts, now
        self.sent += 1
        return out_seq, out_ts, switched

    def generated(self, now: float) -> tuple[int, int, bool]:
        """Sequence number, timestamp and marker for a frame made here (prompt, mix)."""
        switched = self._source != _GENERATED
        if switched:
            self._source = _GENERATED
            ts = self._continued_ts(now)
        else:
            ts = (self.ts + FRAME_SAMPLES) & _TS_MASK
        self.seq = (self.seq + 1) & _SEQ_MASK
        self.ts, self.last_time = ts, now
        self.sent += 1
        return self.seq, ts, switched

    @property
    def octets(self) -> int:
        """Payload octets sent (an SR's octet count)."""
        return self.sent * FRAME_SAMPLES + self.octets_extra

    def timestamp_at(self, now: float) -> int:
        """The stream's RTP timestamp for ``now`` (an SR's timestamp, RFC 3550 §6.4.1)."""
        if self.last_time is None:
            return self.ts
        return (self.ts + round((now - self.last_time) * CLOCK_RATE)) & _TS_MASK


@dataclass(slots=True)
class Player:
    """A prompt being played: its samples pre-encoded per codec, a read position, looping."""

    prompt: str
    codes: bytes  # encoded in the endpoint's codec, a whole number of frames
    loop: bool
    position: int = 0

    def next_frame(self) -> tuple[bytes, bool]:
        """The next 20 ms of codes and whether the prompt has ended (never, when looping)."""
        start = self.position
        frame = self.codes[start : start + FRAME_SAMPLES]
        self.position = start + FRAME_SAMPLES
        if self.position >= len(self.codes):
            if not self.loop:
                return frame, True
            self.position = 0
        return frame, False


def frames_of(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """Pad with silence to a whole number of 20 ms frames (at least one)."""
    pad = -len(samples) % FRAME_SAMPLES or (FRAME_SAMPLES if len(samples) == 0 else 0)
    return np.concatenate([samples, np.zeros(pad, dtype=np.int16)]) if pad else samples


def _unbound_recv(size: int) -> bytes:
    raise OSError("endpoint has no socket")


def _unbound_send(data: bytes, address: tuple[str, int] | None) -> int:
    raise OSError("endpoint has no socket")


class Endpoint:
    """One RTP leg of a call on this worker: a socket, its peer and what it sends."""

    __slots__ = (
        "call_id",
        "can_receive",
        "can_send",
        "codecs",
        "events",
        "fd",
        "id",
        "inbound",
        "last_rfc4733",
        "law",
        "leg",
        "mix_sources",
        "monitor",
        "out",
        "payload_type",
        "peer",
        "player",
        "port",
        "probe",
        "received",
        "recv",
        "relay_pt",
        "remote",
        "send_to",
        "slot",
        "sock",
        "te_pt",
    )

    def __init__(
        self, *, id: str, call_id: str, leg: str, port: int, slot: int, codecs: tuple[str, ...],
        rng: random.Random,
    ) -> None:
        self.id = id
        self.call_id = call_id
        self.leg = leg
        self.port = port
        self.slot = slot
        self.codecs = codecs
        self.sock: object = None
        # The socket's bound methods, set by the worker (it calls them for every packet).
        self.recv: Callable[[int], bytes] = _unbound_recv
        self.send_to: Callable[..., int] = _unbound_send  # (data, address)
        self.fd = -1
        self.remote: tuple[str, int] | None = None
        self.payload_type = PCMU
        self.law = 0  # 0 µ-law, 1 A-law: row of the decode table for received audio
        #: the payload type known to be in ``law`` (-1 until the remote is set)
        self.relay_pt = -1
        self.te_pt: int | None = None
        self.can_send = False
        self.can_receive = True  # until SDP says otherwise, listen (early media, latching)
        self.peer: Endpoint | None = None
        self.player: Player | None = None
        self.mix_sources: tuple[Endpoint, ...] = ()
        self.out = OutStream(rng)
        self.inbound = bytearray()  # received codes not yet taken by a tick
        self.events: object = None  # TelephoneEventReceiver, made by the worker
        self.last_rfc4733 = -1e9
        self.received = 0
        #: packets still to divert through the general receive path for statistics
        #: (``media.housekeeping``); while non-zero, ``relay_pt`` is -1
        self.probe = 0
        self.monitor: object = None  # LegMonitor, made by the worker

    def set_remote(
        self, host: str, port: int, payload_type: int, te_pt: int | None, direction: Direction
    ) -> None:
        if payload_type not in G711_TYPES:
            raise MediaError(f"payload type {payload_type} is not G.711 (0 PCMU or 8 PCMA)")
        self.remote = (host, port)
        self.payload_type = self.relay_pt = payload_type
        self.law = 1 if payload_type == PCMA else 0
        self.te_pt = te_pt
        self.probe = 0
        # The peer's direction: it receives when sendrecv/recvonly, sends when sendrecv/sendonly.
        self.can_send = direction in ("sendrecv", "recvonly") and port != 0
        self.can_receive = direction in ("sendrecv", "sendonly")

    @property
    def relaying(self) -> bool:
        """True when packets from the peer go straight out (no prompt, no mix in the way)."""
        return self.player is None and not self.mix_sources and self.can_send


def mix_plan(
    mode: JoinMode, *, caller: Endpoint, agent: Endpoint, supervisor: Endpoint
) -> Mapping[Endpoint, tuple[Endpoint, ...]]:
    """Who hears whom once a supervisor joins; endpoints absent keep plain relay.

    listen: the supervisor hears both, nobody hears the supervisor. whisper: the agent hears
    the caller and the supervisor, the caller still hears only the agent. barge: three-way.
    """
    plan: dict[Endpoint, tuple[Endpoint, ...]] = {supervisor: (caller, agent)}
    if mode in ("whisper", "barge"):
        plan[agent] = (caller, supervisor)
    if mode == "barge":
        plan[caller] = (agent, supervisor)
    return plan
