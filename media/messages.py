"""The media pool's bus contract: what call actors ask of media workers and what comes back.

Media workers serve the actor kind ``media`` as a port (``actors.host.Host.add_port``). A call
actor addresses ``media/<call_id>``: placement hashes the address, so all of one call's
endpoints land on the same worker (bridging and mixing stay inside one process) and calls
spread evenly over workers. Events travel back to ``call/<call_id>`` as plain tells.
"""

from __future__ import annotations

from typing import Literal

from bus.message import Message, message

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
JoinMode = Literal["listen", "whisper", "barge"]


# ---------------------------------------------------------------- requests (asks)


@message("media.open")
class OpenEndpoint(Message):
    """Allocate an RTP endpoint for one leg. Answer: :class:`EndpointOpened`."""

    call_id: str
    leg: str  # "caller", "agent", "outbound", "supervisor"...
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    #: symmetric RTP (send to where the leg's packets come from); None: the worker's setting
    latching: bool | None = None


@message("media.opened")
class EndpointOpened(Message):
    endpoint: str  # worker-unique id; use it in later requests
    host: str  # address to put in SDP c=
    port: int  # RTP port to put in SDP m=


@message("media.remote")
class SetRemote(Message):
    """Where this leg's peer receives RTP and what it speaks (from its SDP)."""

    endpoint: str
    host: str
    port: int
    payload_type: int  # 0 PCMU, 8 PCMA
    telephone_event_pt: int | None = 101
    ptime_ms: int = 20
    direction: Direction = "sendrecv"
    rtcp_port: int = 0  # from a=rtcp (RFC 3605); 0: the RTP port + 1


@message("media.bridge")
class Bridge(Message):
    """Relay audio both ways between two endpoints of the same call."""

    a: str
    b: str


@message("media.unbridge")
class Unbridge(Message):
    a: str
    b: str


@message("media.play")
class Play(Message):
    """Play a sound-library prompt (or a file path) to an endpoint; ``loop`` for music on hold."""

    endpoint: str
    prompt: str
    loop: bool = False


@message("media.stop")
class StopPlay(Message):
    endpoint: str


@message("media.record")
class Record(Message):
    """Record a call in stereo: ``left`` (caller) and ``right`` (agent) endpoints."""

    call_id: str
    left: str
    right: str
    agent: str = ""
    queue: str = ""


@message("media.record_pause")
class PauseRecording(Message):
    """PCI pause/resume: silence is written for the paused span."""

    call_id: str
    paused: bool


@message("media.join")
class Join(Message):
    """Mix a supervisor's endpoint into a call: listen (hear both), whisper (agent hears the
    supervisor, the caller does not), barge (three-way)."""

    call_id: str
    supervisor: str
    caller: str
    agent: str
    mode: JoinMode


@message("media.close")
class CloseEndpoint(Message):
    endpoint: str


@message("media.ok")
class MediaOk(Message):
    """Answer to requests that return nothing else."""


# ---------------------------------------------------------------- events (tells to call/<id>)


@message("media.dtmf")
class DtmfDetected(Message):
    call_id: str
    endpoint: str
    digit: str
    method: Literal["rfc4733", "inband"]
    duration_ms: int = 0


@message("media.play_done")
class PlayDone(Message):
    call_id: str
    endpoint: str
    prompt: str


@message("media.recording")
class RecordingSaved(Message):
    call_id: str
    path: str
    seconds: float
    format: str


@message("media.timeout")
class MediaTimeout(Message):
    """A leg that should be sending (remote set, its direction sendrecv) sent no RTP and no
    RTCP for ``silent_s`` seconds (``media_timeout_s``): the phone or its network is gone.
    Sent once per silence; media coming back and stopping again reports again."""

    call_id: str
    endpoint: str
    leg: str
    silent_s: float


@message("media.quality")
class MediaQuality(Message):
    """Receive quality of one leg, sent when its endpoint closes (once a remote was set).

    What this worker received from the leg, what the leg's RTCP said about what we sent it
    (``peer_*``, None without RTCP reports) and the round trip (None without an RTCP SR/RR
    exchange). Statistics come from probes once a second (``media.receive_stats``):
    ``packets_received`` is exact; ``packets_lost`` counts losses up to the last probe (a
    lower bound by at most a second's packets); ``packets_expected`` = received + lost;
    ``loss_pct`` is the loss rate over the span the probes observed. ``r_factor``/``mos``:
    the G.107 E-model estimate from loss, jitter and delay (``media.quality``).
    """

    call_id: str
    endpoint: str
    leg: str
    duration_s: float
    packets_received: int
    packets_expected: int
    packets_lost: int
    loss_pct: float
    jitter_mean_ms: float
    jitter_max_ms: float
    packets_sent: int
    rtt_ms: float | None = None
    peer_loss_pct: float | None = None  # the peer's last fraction lost, in %
    peer_cumulative_lost: int | None = None
    peer_jitter_ms: float | None = None
    r_factor: float = 0.0
    mos: float = 1.0
    remote: str = ""  # host:port the leg's audio went to (after latching)


@message("media.alarm")
class MediaAlarm(Message):
    """Broadcast on topic ``alarms`` (disk guard, worker overload)."""

    code: str
    text: str


MEDIA_MESSAGES: tuple[type[Message], ...] = (
    OpenEndpoint,
    EndpointOpened,
    SetRemote,
    Bridge,
    Unbridge,
    Play,
    StopPlay,
    Record,
    PauseRecording,
    Join,
    CloseEndpoint,
    MediaOk,
    DtmfDetected,
    PlayDone,
    RecordingSaved,
    MediaTimeout,
    MediaQuality,
    MediaAlarm,
)
