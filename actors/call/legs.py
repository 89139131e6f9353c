"""SIP for one leg: dialogs to and from records, and the messages a B2BUA leg builds.

Pure helpers over the sans-IO core (``sip.*``): the call actor parses what the port hands it
and serialises what it sends, so every function here takes and returns plain values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from actors.call.messages import Leg, LegDialog
from bus.message import evolve
from sip.builders import build_cancel, make_response, make_via
from sip.dialog import Dialog
from sip.fields import CSeq
from sip.headers import HeaderField, Headers
from sip.message import Request, Response
from sip.uri import SipUri, host_reference, parse_uri
from telephony.ids import leg_branch, leg_tag, sip_call_id
from telephony.messages import Peer

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, INFO"
SUPPORTED = "replaces"
SDP = "application/sdp"


class CallProtocolError(ValueError):
    """A leg lacks what a SIP step needs (e.g. a dialog before any response created it)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSip:
    """How this B2BUA names itself: the address in Via and Contact, and its SIP domain."""

    host: str
    port: int  # UDP and TCP
    domain: str
    user_agent: str = "Contactor"
    tls_port: int = 0  # 0: no TLS listener

    def port_for(self, transport: str) -> int:
        """The port a peer reaches us on over ``transport``: TLS listens on a port of its own,
        and a TLS Contact or Via naming the TCP port sends the peer's BYE nowhere."""
        if self.tls_port and transport.upper() == "TLS":
            return self.tls_port
        return self.port


def sdp_of(message: Request | Response) -> bytes:
    """The message's body if it is a session description (RFC 3264 offers and answers)."""
    if not message.body:
        return b""
    ctype = message.content_type
    return message.body if ctype is None or ctype.mime == SDP else b""


# ---------------------------------------------------------------- dialogs as records


def dialog_of(leg: Leg) -> Dialog:
    if leg.dialog is None:
        raise CallProtocolError(f"leg {leg.name} has no dialog yet")
    d = leg.dialog
    return Dialog(
        call_id=d.call_id, local_tag=d.local_tag, remote_tag=d.remote_tag,
        local_uri=d.local_uri, remote_uri=d.remote_uri, remote_target=d.remote_target,
        local_contact=d.local_contact, route_set=list(d.route_set), local_seq=d.local_seq,
        remote_seq=d.remote_seq, invite_seq=d.invite_seq, secure=d.secure, state=d.state,
        local_invite_pending=d.local_invite_pending,
        remote_invite_pending=d.remote_invite_pending,
    )  # fmt: skip


def dialog_record(d: Dialog) -> LegDialog:
    return LegDialog(
        call_id=d.call_id, local_tag=d.local_tag, remote_tag=d.remote_tag,
        local_uri=d.local_uri, remote_uri=d.remote_uri, remote_target=d.remote_target,
        local_contact=d.local_contact, route_set=tuple(d.route_set), local_seq=d.local_seq,
        remote_seq=d.remote_seq, invite_seq=d.invite_seq, secure=d.secure, state=d.state,
        local_invite_pending=d.local_invite_pending,
        remote_invite_pending=d.remote_invite_pending,
    )  # fmt: skip


def with_dialog(leg: Leg, dialog: Dialog, **changes: object) -> Leg:
    return evolve(leg, dialog=dialog_record(dialog), **changes)


# ---------------------------------------------------------------- our addresses


def transport_of(leg: Leg) -> str:
    return leg.peer.transport if leg.peer is not None else "UDP"


def contact_uri(local: LocalSip, transport: str) -> str:
    param = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    return f"sip:contactor@{host_reference(local.host)}:{local.port_for(transport)}{param}"


def branch_via(local: LocalSip, transport: str, call_id: str, leg: str, n: int) -> HeaderField:
    via = make_via(transport, local.host, local.port_for(transport),
                   branch=leg_branch(call_id, leg, n))
    return HeaderField("Via", str(via))


def _common(local: LocalSip, transport: str) -> list[tuple[str, str]]:
    return [("Contact", f"<{contact_uri(local, transport)}>"), ("Allow", ALLOW),
            ("Supported", SUPPORTED), ("User-Agent", local.user_agent)]  # fmt: skip


# ---------------------------------------------------------------- building messages


def response(
    request: Request, status: int, *, leg: Leg, local: LocalSip, body: bytes = b"",
    extra: Iterable[tuple[str, str]] = (), reason: str | None = None,
) -> Response:  # fmt: skip
    """A response of our leg ``leg`` (its tag added to To) to ``request``."""
    headers = list(extra)
    if status > 100 and request.method in ("INVITE", "REFER", "SUBSCRIBE"):
        headers.extend(_common(local, transport_of(leg)))
    if body:
        headers.append(("Content-Type", SDP))
    if leg.dialog is None:
        raise CallProtocolError(f"leg {leg.name} has no dialog yet")
    tag = leg.dialog.local_tag
    return make_response(request, status, reason, to_tag=tag, headers=headers, body=body)


def new_invite(
    *, local: LocalSip, call_id: str, leg: str, n: int, request_uri: str, to_uri: str,
    caller: str, transport: str, body: bytes, max_forwards: int = 70,
    extra: Iterable[tuple[str, str]] = (),
) -> Request:  # fmt: skip
    """The dialog-creating INVITE of a leg we originate (B2BUA UAC side)."""
    user = caller if caller else "anonymous"
    from_uri = SipUri(user=user, host=local.domain)
    fields = [
        branch_via(local, transport, call_id, leg, n),
        HeaderField("Max-Forwards", str(max_forwards)),
        HeaderField("From", f"<{from_uri}>;tag={leg_tag(call_id, leg)}"),
        HeaderField("To", f"<{to_uri}>"),
        HeaderField("Call-ID", sip_call_id(call_id, leg, local.host)),
        HeaderField("CSeq", str(CSeq(seq=1, method="INVITE"))),
    ]
    fields.extend(HeaderField(k, v) for k, v in _common(local, transport))
    fields.extend(HeaderField(k, v) for k, v in extra)
    if body:
        fields.append(HeaderField("Content-Type", SDP))
    return Request(method="INVITE", uri=parse_uri(request_uri), headers=Headers(fields),
                   body=body)


def in_dialog(
    leg: Leg, method: str, *, local: LocalSip, call_id: str, n: int, body: bytes = b"",
    content_type: str | None = None, extra: Iterable[tuple[str, str]] = (),
) -> tuple[Leg, Request]:  # fmt: skip
    """A request inside ``leg``'s dialog (new CSeq, our branch) and the leg after it.

    The branch names the call that owns the leg now (``call_id``), so responses come here
    even for a leg whose tags still name the call it came from."""
    dialog = dialog_of(leg)
    via = make_via(transport_of(leg), local.host, local.port_for(transport_of(leg)),
                   branch=leg_branch(call_id, leg.name, n))
    request = dialog.create_request(method, via=via, body=body,
                                    content_type=content_type or (SDP if body else None),
                                    extra_headers=extra)
    return with_dialog(leg, dialog), request


def ack_for(leg: Leg, *, local: LocalSip, call_id: str, n: int, body: bytes = b"") -> Request:
    """The ACK for a 2xx to the leg's last INVITE (§13.2.2.4: a new branch, the INVITE's CSeq)."""
    dialog = dialog_of(leg)
    via = make_via(transport_of(leg), local.host, local.port_for(transport_of(leg)),
                   branch=leg_branch(call_id, leg.name, n))
    return dialog.create_ack(via=via, body=body, content_type=SDP if body else None)


def cancel_for(invite: Request) -> Request:
    return build_cancel(invite)


def peer_for_uri(uri_text: str) -> Peer | None:
    """Where a SIP URI with an IP literal host points (no DNS here: the port resolves names)."""
    uri = parse_uri(uri_text)
    if not isinstance(uri, SipUri):
        return None
    transport = (uri.transport or ("tls" if uri.scheme == "sips" else "udp")).upper()
    default = 5061 if transport == "TLS" else 5060
    return Peer(transport=transport, host=uri.address, port=uri.port or default)
