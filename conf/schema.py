"""The typed configuration of a contact center (what ``conf.load.load_config`` returns).

Every section is a frozen dataclass with defaults, so a minimal file works.  Paths are
absolute (relative ones in the file are resolved against the file's directory).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

STRATEGIES = ("longest-idle", "round-robin", "fewest-calls", "least-talk-time",
              "skills-weighted", "ring-all", "random")
ROLES = ("operator", "supervisor", "technologist", "quality-manager", "admin")
RECORDING_FORMATS = ("flac", "opus", "wav")
TRANSPORTS = ("udp", "tcp", "tls")
TARGET_KINDS = ("ivr", "queue", "agent", "external")
SKILL_LEVELS = range(1, 11)

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One thing wrong in a config file."""

    file: str
    key: str  # key path, e.g. "queue[1].strategy"; "" for the whole file
    message: str  # e.g. "expected one of ...; got 'fastest'"
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(ValueError):
    """The config file is unreadable or invalid; ``problems`` lists every issue found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True, kw_only=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where a call goes: ``kind`` in TARGET_KINDS; ``name`` is an IVR, queue, agent login
    or, for ``external``, the number to dial.  Written ``"kind:name"`` in the file."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CenterConfig:
    name: str = "Contactor"
    data_dir: Path = Path("var")
    timezone: str = "UTC"
    skills: tuple[str, ...] = ()  # the skill catalogue agents and queues may refer to
    # how often agents are checked against live calls and registered phones (0: never)
    reconcile_every_s: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    # None: the embedded PostgreSQL under data_dir.  Not in repr: it may hold a password.
    url: str | None = field(default=None, repr=False)
    pool_size: int = 8
    # a stopped actor's snapshot (a tombstone keeping its journal sequence) is purged after
    # this; 0: kept forever. Late messages arrive within minutes; the journal keeps the rest
    tombstone_retention_s: float = 86400.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BusConfig:
    host: str = "127.0.0.1"
    base_port: int = 7100  # first of the ports the actor hosts bind
    gateway_port: int = 7000  # client gateway (UIs, supervisors)
    # "ipc": unix sockets under the data dir (one machine); "tcp": host:base_port+N (several)
    transport: str = "ipc"


@dataclass(frozen=True, slots=True, kw_only=True)
class SipConfig:
    listen: HostPort = field(default_factory=lambda: HostPort(host="127.0.0.1", port=5060))
    transports: tuple[str, ...] = ("udp", "tcp")
    tls_listen: HostPort | None = None  # None: listen host, port + 1 (when "tls" is on)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    domain: str = "127.0.0.1"  # our SIP domain: agents register as sip:<ext>@<domain>
    t1: float = 0.5  # RFC 3261 T1 (RTT estimate), seconds
    # digest challenges offered to phones, in order of preference (RFC 8760). MD5 alone by
    # default: several phones (baresip 1.x/libre, older pjsip) give up on a 401 that also
    # offers an algorithm they do not know
    digest_algorithms: tuple[str, ...] = ("MD5",)
    # TCP/TLS connections with no traffic either way this long are closed; 0: never. Flows of
    # RFC 5626 phones are told to ping well within it (Flow-Timer, telephony.registrar)
    tcp_idle_timeout_s: float = 600.0
    # connections one IP address may hold open to us at once; more are refused and logged
    tcp_max_connections_per_source: int = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaConfig:
    # "anchored": queue and IVR calls through the media pool (prompts, DTMF, music on hold,
    # bridging, stereo recording); "relay": SDP end to end (RTP phone to phone, no recording)
    mode: str = "anchored"
    rtp_port_min: int = 20000
    rtp_port_max: int = 29999
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    recording_format: str = "flac"
    recordings_dir: Path = Path("var/recordings")
    min_free_mb: int = 1024  # refuse to start recordings below this free disk space
    rtp_host: str = ""  # address RTP binds and SDP advertises; "" = the SIP listen host
    archive_dir: Path = Path("var/recordings-archive")  # where retention moves old recordings
    inband_dtmf: bool = True  # detect DTMF tones in the audio too (RFC 4733 always on)
    # false: a leg whose SDP negotiated telephone-event is not watched in-band (Asterisk's
    # dtmf_mode=auto; saves CPU) - keep true for phones that send both or only tones
    inband_dtmf_with_rfc4733: bool = True
    # a leg that should send and sent no RTP/RTCP this long ends its call (cause media_timeout);
    # 0: never
    media_timeout_s: float = 30.0
    rtcp_interval_s: float = 5.0  # RTCP SR/RR per endpoint (RFC 3550); 0: send none
    latching: bool = True  # symmetric RTP: answer where a leg's packets come from (NAT)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkConfig:
    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    allow: tuple[IpNetwork, ...] = ()  # peers accepted as this trunk; empty: only `host`
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    register: bool = False  # send REGISTER with username/password
    domain: str = ""  # the provider's SIP domain (REGISTER Request-URI, To/From); "": host
    expires: int = 3600  # registration interval asked for, seconds (the provider may cut it)
    outbound_prefix: str = ""  # prepended to numbers dialled out through this trunk
    country_code: str = "1"  # E.164 country code of national numbers, digits only
    national_prefix: str = "0"  # trunk prefix of national numbers ("0" in most of Europe)
    international_prefix: str = "00"

    def to_e164(self, number: str) -> str:
        """Normalise a dialled or received number to E.164 (``+<cc><nsn>``)."""
        digits = re.sub(r"[\s().-]", "", number)
        if digits.startswith("+"):
            return digits
        if self.international_prefix and digits.startswith(self.international_prefix):
            return "+" + digits[len(self.international_prefix):]
        if self.national_prefix and digits.startswith(self.national_prefix):
            digits = digits[len(self.national_prefix):]
        return f"+{self.country_code}{digits}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteConfig:
    """First matching route wins, in file order."""

    match: str  # exact, or "_" + dial pattern (see conf.patterns)
    target: Target
    pattern: re.Pattern[str] = field(compare=False, repr=False)  # compiled `match`
    trunk: str | None = None  # external targets: trunk to use (default: the first one)

    def matches(self, number: str) -> bool:
        return self.pattern.fullmatch(number) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueConfig:
    name: str
    strategy: str = "longest-idle"
    priority: int = 0  # higher is served first when agents are shared
    max_wait_s: float = 600.0
    max_length: int = 100
    overflow: Target | None = None  # where calls go past max_wait_s / max_length
    skills: dict[str, int] = field(default_factory=dict)  # required skill -> minimum level
    wrap_up_s: float = 10.0
    no_answer_s: float = 20.0  # ring an agent this long before trying another
    service_level_s: float = 20.0  # answered within this counts toward service level
    announce_every_s: float = 30.0  # position announcements; 0 disables
    moh: str = "default"  # music-on-hold prompt name
    archive_after_days: int = 0  # recordings move to [media] archive_dir after this; 0 never
    delete_after_days: int = 0  # recordings are deleted after this; 0 never


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentConfig:
    login: str
    name: str
    password: str = field(repr=False)
    extension: str  # SIP user of the agent's phone
    phone: str  # SIP URI of the phone (default sip:<extension>@<sip.domain>)
    skills: dict[str, int] = field(default_factory=dict)  # skill -> proficiency 1..10
    queues: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("operator",)


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrConfig:
    name: str
    scheme: Path  # YAML scheme, interpreted by the IVR


@dataclass(frozen=True, slots=True, kw_only=True)
class UserConfig:
    """A person who is not an agent (supervisor, admin...); needs a password or a token."""

    login: str
    name: str
    roles: tuple[str, ...]
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    #: a supervisor's own phone (registers with ``extension``/``password``): the phone a
    #: help request's listen, whisper or barge rings
    extension: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisionConfig:
    """OTP-style restart limits: at most ``intensity`` restarts per ``period_s``."""

    intensity: int = 5
    period_s: float = 10.0
    backoff_s: float = 0.1  # first restart delay, doubled up to backoff_max_s
    backoff_max_s: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class StatsConfig:
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    short_abandon_s: float = 5.0  # callers hanging up sooner are not counted as abandoned


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    source: Path
    center: CenterConfig = field(default_factory=CenterConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    bus: BusConfig = field(default_factory=BusConfig)
    sip: SipConfig = field(default_factory=SipConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    trunks: tuple[TrunkConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    queues: tuple[QueueConfig, ...] = ()
    agents: tuple[AgentConfig, ...] = ()
    ivrs: tuple[IvrConfig, ...] = ()
    users: tuple[UserConfig, ...] = ()
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)

    def queue(self, name: str) -> QueueConfig:
        return _named(self.queues, "name", name, "queue")

    def agent(self, login: str) -> AgentConfig:
        return _named(self.agents, "login", login, "agent")

    def ivr(self, name: str) -> IvrConfig:
        return _named(self.ivrs, "name", name, "IVR")

    def trunk(self, name: str) -> TrunkConfig:
        return _named(self.trunks, "name", name, "trunk")

    def route_for(self, number: str) -> RouteConfig | None:
        """The first route whose pattern matches the dialled number."""
        return next((r for r in self.routes if r.matches(number)), None)


_T = TypeVar("_T")


def _named(items: tuple[_T, ...], attr: str, value: str, what: str) -> _T:
    for item in items:
        if getattr(item, attr) == value:
            return item
    raise KeyError(f"no {what} {value!r}")
