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
    MediaAlarm,
)
