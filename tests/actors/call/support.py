"""Drive call actors message by message, playing the SIP port and the peers by hand.

:class:`Calls` holds call actors by id and runs their pure ``decide``; what they send to the
port is kept per call (``sent``), and what they tell each other is delivered at once. Peers
answer with messages built from what the actor sent (``answer``), or send requests built
from text (``caller_invite``...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actors.call.behaviour import CallBehaviour
from actors.call.legs import LocalSip
from actors.call.messages import CallState
from actors.call.turn import CallSettings
from actors.effects import Effect, Journal, Send, StartTimer, Stop
from bus.message import Message
from conf.load import parse_config
from sip.builders import make_response
from sip.message import Request, Response
from sip.parser import parse_datagram
from sip.serializer import serialize
from sip.transaction_layer import client_key
from telephony.messages import (
    SIP_PORT,
    Contact,
    InviteReceived,
    Locate,
    Located,
    Peer,
    SendRequest,
    SendResponse,
    SipRequestIn,
    SipResponseIn,
)

CONFIG = """
[sip]
listen = "127.0.0.1:5060"
domain = "127.0.0.1"
[[trunk]]
name = "carrier"
host = "192.0.2.10"
allow = ["192.0.2.10"]
country_code = "33"
[[route]]
match = "5000"
target = "agent:anna"
[[route]]
match = "5001"
target = "agent:bruno"
[[route]]
match = "_06XXXXXXXX"
target = "external:+33612345678"
[[agent]]
login = "anna"
name = "Anna"
password = "a"
extension = "1001"
[[agent]]
login = "bruno"
name = "Bruno"
password = "b"
extension = "1002"
"""

CARRIER = Peer(transport="UDP", host="192.0.2.10", port=5060)
ANNA_PHONE = Peer(transport="UDP", host="192.0.2.21", port=5062)
BRUNO_PHONE = Peer(transport="UDP", host="192.0.2.22", port=5064)

SDP_CALLER = (b"v=0\r\no=caller 1 1 IN IP4 192.0.2.10\r\ns=caller\r\nc=IN IP4 192.0.2.10\r\n"
              b"t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
SDP_PHONE = SDP_CALLER.replace(b"caller", b"phone").replace(b"40000", b"41000")
SDP_TARGET = SDP_CALLER.replace(b"caller", b"target").replace(b"40000", b"42000")


def settings() -> CallSettings:
    config = parse_config(CONFIG, source=Path("test.toml"))
    return CallSettings(config=config, local=LocalSip(host="127.0.0.1", port=5060,
                                                      domain="127.0.0.1"))


def request_text(method: str, *, call_id: str, from_tag: str, to_tag: str | None = None,
                 cseq: int = 1, uri: str = "sip:5000@127.0.0.1", body: bytes = b"",
                 branch: str = "z9hG4bKcaller1", host: str = "192.0.2.10",
                 extra: Iterable[str] = ()) -> bytes:
    to = "<sip:5000@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} {uri} SIP/2.0", f"Via: SIP/2.0/UDP {host}:5060;branch={branch}",
        "Max-Forwards: 70", f"From: <sip:0140000001@{host}>;tag={from_tag}", f"To: {to}",
        f"Call-ID: {call_id}", f"CSeq: {cseq} {method}", f"Contact: <sip:peer@{host}:5060>",
        *extra,
    ]
    if body:
        lines.append("Content-Type: application/sdp")
    head = "\r\n".join([*lines, f"Content-Length: {len(body)}", "", ""]).encode()
    return head + body


def as_request(data: bytes) -> Request:
    message = parse_datagram(data)
    assert isinstance(message, Request)
    return message


def as_response(data: bytes) -> Response:
    message = parse_datagram(data)
    assert isinstance(message, Response)
    return message


@dataclass
class Calls:
    behaviour: CallBehaviour = field(default_factory=lambda: CallBehaviour(settings()))
    states: dict[str, CallState] = field(default_factory=dict)
    sent: dict[str, list[Message]] = field(default_factory=dict)
    journal: dict[str, list[Message]] = field(default_factory=dict)
    timers: dict[str, dict[str, Message]] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)
    told: list[tuple[str, Message]] = field(default_factory=list)
    now: float = 100.0

    def state(self, call_id: str) -> CallState:
        return self.states[call_id]

    def tell(self, call_id: str, msg: Message) -> None:
        state = self.states.get(call_id) or self.behaviour.initial(f"call/{call_id}")
        self.now += 0.01
        new, effects = self.behaviour.decide(state, msg, self.now)
        self.states[call_id] = new
        self._perform(call_id, effects)

    def _perform(self, call_id: str, effects: Iterable[Effect]) -> None:
        for e in effects:
            if isinstance(e, Send) and e.to == SIP_PORT:
                self.sent.setdefault(call_id, []).append(e.msg)
            elif isinstance(e, Send) and e.to.startswith("call/"):
                self.tell(e.to.partition("/")[2], e.msg)
            elif isinstance(e, Send):
                self.told.append((e.to, e.msg))
            elif isinstance(e, Journal):
                self.journal.setdefault(call_id, []).append(e.event)
            elif isinstance(e, StartTimer):
                self.timers.setdefault(call_id, {})[e.key] = e.msg
            elif isinstance(e, Stop):
                self.stopped.add(call_id)

    # ---------------------------------------------------------------- what the actor sent

    def take(self, call_id: str) -> list[Message]:
        out = self.sent.get(call_id, [])
        self.sent[call_id] = []
        return out

    def kinds(self, call_id: str) -> list[str]:
        return [e.TAG for e in self.journal.get(call_id, [])]

    # ---------------------------------------------------------------- playing the peers

    def invite(self, call_id: str, *, route: str = "agent:anna", body: bytes = SDP_CALLER,
               sip_call_id: str = "c1@carrier") -> bytes:
        data = request_text("INVITE", call_id=sip_call_id, from_tag="ctag", body=body)
        self.tell(call_id, InviteReceived(
            call_id=call_id, tx="tx-a", request=data, peer=CARRIER, route=route,
            caller="+33140000001", dialled="+335000", source="trunk:carrier"))
        return data

    def locate(self, call_id: str, leg: str, peer: Peer = ANNA_PHONE) -> Request:
        """Answer the actor's Locate with one contact; returns the INVITE it then sends."""
        sent = self.take(call_id)
        locate = next(m for m in sent if isinstance(m, Locate))
        uri = f"sip:{locate.aor.split(':')[1].split('@')[0]}@{peer.host}:{peer.port}"
        self.tell(call_id, Located(call_id=call_id, leg=leg, aor=locate.aor,
                                   contacts=(Contact(uri=uri, peer=peer),)))
        return self.sent_request(call_id, "INVITE")

    def sent_request(self, call_id: str, method: str) -> Request:
        for m in self.take(call_id):
            if isinstance(m, SendRequest):
                request = as_request(m.request)
                if request.method == method:
                    return request
        raise AssertionError(f"{call_id} sent no {method}")

    def answer(self, call_id: str, leg: str, request: Request, status: int, *,
               tag: str = "far", body: bytes = b"", headers: Iterable[tuple[str, str]] = (),
               contact: str = "<sip:far@192.0.2.21:5062>") -> None:
        """The peer of ``leg`` answers ``request`` (which the actor sent)."""
        extra = [("Contact", contact), *headers] if status > 100 else list(headers)
        if body:
            extra.append(("Content-Type", "application/sdp"))
        response = make_response(request, status, to_tag=tag, headers=extra, body=body)
        self.tell(call_id, SipResponseIn(call_id=call_id, leg=leg, tx=client_key(request),
                                         response=serialize(response)))

    def peer_request(self, call_id: str, leg: str, data: bytes, *, tx: str | None = "tx-in",
                     peer: Peer = CARRIER, owner: str | None = None) -> None:
        self.tell(call_id, SipRequestIn(call_id=owner or call_id, leg=leg, tx=tx,
                                        request=data, peer=peer))

    def responses(self, call_id: str) -> list[Response]:
        return [as_response(m.response) for m in self.take(call_id)
                if isinstance(m, SendResponse)]


def statuses(messages: Iterable[Any]) -> list[int]:
    out = []
    for m in messages:
        if isinstance(m, SendResponse):
            out.append(as_response(m.response).status)
    return out
