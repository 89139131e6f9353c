"""Messages every node understands: errors, liveness, directory and client-gateway traffic."""

from __future__ import annotations

from typing import ClassVar

from bus.message import Message, message


@message("sys.error")
class ErrorReply(Message):
    """The answer to an ask that failed; ``code`` is stable (``actor.crashed``, ``bus.field``)."""

    code: str
    text: str


@message("sys.ping")
class Ping(Message):
    CLIENT_ROLES: ClassVar[frozenset[str]] = frozenset(
        {"operator", "supervisor", "technologist", "quality-manager", "admin"}
    )
    payload: int = 0


@message("sys.pong")
class Pong(Message):
    payload: int = 0
    host: str = ""


@message("dir.host")
class HostInfo(Message):
    """A process that hosts actors and/or services and the ZeroMQ endpoint that reaches it."""

    host_id: str
    endpoint: str
    kinds: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    pid: int = 0


@message("dir.register")
class RegisterHost(Message):
    host: HostInfo


@message("dir.table")
class DirectoryTable(Message):
    """The whole directory; broadcast on topic ``directory`` whenever it changes."""

    hosts: tuple[HostInfo, ...]
    version: int


@message("dir.lookup")
class Lookup(Message):
    """Which host serves ``address`` (``queue/sales``) or service name (``telephony``)."""

    address: str


@message("dir.located")
class Located(Message):
    address: str
    host_id: str
    endpoint: str


@message("gw.login")
class ClientLogin(Message):
    user: str
    password: str


@message("gw.session")
class ClientSession(Message):
    token: str
    user: str
    roles: tuple[str, ...]
    #: prefix this session subscribes with on the gateway's PUB socket
    topic_prefix: str
    expires_at: float


@message("gw.subscribe")
class Subscribe(Message):
    topic: str


@message("gw.subscribed")
class Subscribed(Message):
    topic: str
    #: the full topic to SUBSCRIBE to on the gateway's PUB socket
    pub_topic: str


@message("gw.request")
class ClientRequest(Message):
    """What a client sends: a token, an actor address, and the encoded command."""

    token: str
    to: str
    body: bytes


@message("gw.reply")
class ClientReply(Message):
    body: bytes


SYSTEM_MESSAGES: tuple[type[Message], ...] = (
    ErrorReply,
    Ping,
    Pong,
    HostInfo,
    RegisterHost,
    DirectoryTable,
    Lookup,
    Located,
    ClientLogin,
    ClientSession,
    Subscribe,
    Subscribed,
    ClientRequest,
    ClientReply,
)
