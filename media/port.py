"""The media worker as a bus port: requests from call actors in, events back to them.

Served for every ``media/<call_id>`` address placed on this process
(``Host.add_port("media", port)``). Asks get :class:`EndpointOpened`, :class:`MediaOk` or an
``ErrorReply`` whose code says what went wrong (``media.unknown``, ``media.disk_low``,
``media.no_port``, ``media.prompt``). Events go to ``call/<call_id>`` as tells:
``DtmfDetected``, ``PlayDone``, ``RecordingSaved``, ``MediaTimeout`` (a silent leg) and
``MediaQuality`` (a leg's receive quality, as its endpoint closes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from bus.envelope import Envelope
from bus.message import Message
from bus.system import ErrorReply
from media.messages import (
    Bridge,
    CloseEndpoint,
    EndpointOpened,
    Join,
    MediaAlarm,
    MediaOk,
    OpenEndpoint,
    PauseRecording,
    Play,
    PlayDone,
    Record,
    RecordingSaved,
    SetRemote,
    StopPlay,
    Unbridge,
)
from media.ports import PortsExhausted
from media.recorder import FinishedRecording
from media.recording_store import RecordingRow
from media.session import MediaError
from media.sounds import SoundError
from media.worker import DiskLow, MediaWorker

ALARMS_TOPIC = "alarms"
OK = MediaOk()

Samples = Callable[[str], npt.NDArray[np.int16]]


def call_address(call_id: str) -> str:
    return f"call/{call_id}"


class MediaPort:
    def __init__(self, *, host: Any, worker: MediaWorker, samples: Samples,
                 advertise: str, publish: Callable[[str, Message], None] | None = None,
                 log: Any = None) -> None:
        self.host = host
        self.worker = worker
        self.samples = samples
        self.advertise = advertise
        self.publish = publish
        self.log = log
        self.requests = 0
        #: per endpoint, the number of the latest Play/StopPlay (a late-loading prompt that
        #: was superseded must not start)
        self._plays: dict[str, int] = {}

    # ------------------------------------------------------------------ worker callbacks

    def on_event(self, call_id: str, msg: Message) -> None:
        self.host.tell(call_address(call_id), msg)

    def on_alarm(self, alarm: MediaAlarm) -> None:
        if self.log is not None:
            self.log.warning("media.alarm", code=alarm.code, text=alarm.text)
        if self.publish is not None:
            self.publish(ALARMS_TOPIC, alarm)

    def on_saved(self, finished: FinishedRecording, row: RecordingRow) -> None:
        self.host.tell(call_address(finished.info.call_id), RecordingSaved(
            call_id=finished.info.call_id, path=row.path, seconds=row.duration_s,
            format=row.format))

    # ------------------------------------------------------------------ requests

    def __call__(self, env: Envelope) -> None:
        self.requests += 1
        msg = env.msg
        try:
            answer = self._handle(env, msg)
        except DiskLow as exc:
            answer = ErrorReply(code="media.disk_low", text=str(exc))
        except PortsExhausted as exc:
            answer = ErrorReply(code="media.no_port", text=str(exc))
        except MediaError as exc:
            answer = ErrorReply(code="media.unknown", text=str(exc))
        except SoundError as exc:
            answer = ErrorReply(code="media.prompt", text=str(exc))
        if answer is not None:
            self.host.reply(env, answer)

    def _handle(self, env: Envelope, msg: Message) -> Message | None:
        w = self.worker
        if isinstance(msg, OpenEndpoint):
            e = w.open(msg.call_id, msg.leg, tuple(msg.codecs), latching=msg.latching)
            return EndpointOpened(endpoint=e.id, host=self.advertise, port=e.port)
        if isinstance(msg, SetRemote):
            w.set_remote(msg.endpoint, host=msg.host, port=msg.port,
                         payload_type=msg.payload_type,
                         telephone_event_pt=msg.telephone_event_pt, direction=msg.direction,
                         rtcp_port=msg.rtcp_port)
        elif isinstance(msg, Bridge):
            w.bridge(msg.a, msg.b)
        elif isinstance(msg, Unbridge):
            w.unbridge(msg.a, msg.b)
        elif isinstance(msg, Play):
            w.endpoint(msg.endpoint)  # fail now, not after loading the prompt
            turn = self._plays[msg.endpoint] = self._plays.get(msg.endpoint, 0) + 1
            asyncio.get_running_loop().create_task(self._play(env, msg, turn))
            return None
        elif isinstance(msg, StopPlay):
            self._plays[msg.endpoint] = self._plays.get(msg.endpoint, 0) + 1
            w.stop_play(msg.endpoint)
        elif isinstance(msg, Record):
            w.record(msg.call_id, msg.left, msg.right, agent=msg.agent, queue=msg.queue)
        elif isinstance(msg, PauseRecording):
            w.pause_recording(msg.call_id, msg.paused)
        elif isinstance(msg, Join):
            w.join(msg.call_id, supervisor=msg.supervisor, caller=msg.caller, agent=msg.agent,
                   mode=msg.mode)
        elif isinstance(msg, CloseEndpoint):
            self._plays.pop(msg.endpoint, None)
            w.close_endpoint(msg.endpoint)
        else:
            return ErrorReply(code="media.unexpected",
                              text=f"media worker does not handle {msg.TAG}")
        return OK

    async def _play(self, env: Envelope, msg: Play, turn: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            # Reading (or converting with sox, speaking with espeak-ng) a prompt must not
            # stall the tick.
            samples = await loop.run_in_executor(None, self.samples, msg.prompt)
            if self._plays.get(msg.endpoint) == turn:  # else stopped, replaced or closed
                self.worker.play(msg.endpoint, msg.prompt, samples, msg.loop)
        except SoundError as exc:
            self.host.reply(env, ErrorReply(code="media.prompt", text=str(exc)))
            if self.log is not None:
                self.log.warning("media.prompt_failed", endpoint=msg.endpoint,
                                 prompt=msg.prompt[:80], error=str(exc))
            endpoint = self.worker.endpoints.get(msg.endpoint)
            if endpoint is not None and self._plays.get(msg.endpoint) == turn:
                # Played nothing, but it is over: an IVR waiting for its end goes on.
                self.on_event(endpoint.call_id, PlayDone(
                    call_id=endpoint.call_id, endpoint=msg.endpoint, prompt=msg.prompt))
        except MediaError as exc:
            self.host.reply(env, ErrorReply(code="media.unknown", text=str(exc)))
        else:
            self.host.reply(env, OK)
