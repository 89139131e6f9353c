"""Read and validate a Contactor TOML config: ``load_config(path) -> Config``.

Every problem is reported at once, each naming the file, the line when it can be
found, the key path (``queue[1].strategy``, indexes from 0) and what was expected
versus what was found.  Sections are read first; references between them (routes to
queues, agents to skills...) are checked after.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any

from conf.patterns import PatternError, compile_pattern
from conf.reader import REQUIRED, Document, Table, describe, did_you_mean, one_of
from conf.schema import (
    RECORDING_FORMATS,
    ROLES,
    SKILL_LEVELS,
    STRATEGIES,
    TARGET_KINDS,
    TRANSPORTS,
    AgentConfig,
    BusConfig,
    CenterConfig,
    Config,
    ConfigError,
    HostPort,
    IpNetwork,
    IvrConfig,
    MediaConfig,
    Problem,
    QueueConfig,
    RouteConfig,
    SipConfig,
    StatsConfig,
    StoreConfig,
    SupervisionConfig,
    Target,
    TrunkConfig,
    UserConfig,
)
from conf.xref import check_references

NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
NAME_TEXT = "a name of letters, digits, '_', '.', '-'"
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]\s]+)):(?P<port>\d+)")
PORT_LO, PORT_HI = 1, 65535


def load_config(path: Path | str) -> Config:
    """Parse and validate the file; raises :class:`ConfigError` listing every problem."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problem = Problem(file=str(source), key="", message=f"cannot read: {exc}")
        raise ConfigError([problem]) from exc
    return parse_config(text, source=source)


def parse_config(text: str, *, source: Path | str = "<string>",
                 base_dir: Path | None = None) -> Config:
    """Like :func:`load_config` on ``text``; relative paths resolve against ``base_dir``
    (default: the directory of ``source``)."""
    source_path = Path(source)
    file = str(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        line = column = None
        if position:
            line, column = int(position[1]), int(position[2])
            message = message[:position.start()]
        raise ConfigError([Problem(file=file, key="", line=line, column=column,
                                   message=f"TOML syntax error: {message}")]) from None
    doc = Document(file, text, (base_dir or source_path.parent).resolve())
    config = _read(Table(doc, data, ()), source_path)
    if not doc.problems:
        check_references(config, doc)
    if doc.problems:
        raise ConfigError(doc.problems)
    return config


def _read(root: Table, source: Path) -> Config:
    center = _center(root.table("center"))
    sip = _sip(root.table("sip"))
    config = Config(
        source=source.resolve() if source.name != "<string>" else source,
        center=center,
        store=_store(root.table("store")),
        bus=_bus(root.table("bus")),
        sip=sip,
        media=_media(root.table("media"), center),
        trunks=tuple(_trunk(t) for t in root.tables("trunk")),
        routes=tuple(_route(t) for t in root.tables("route")),
        queues=tuple(_queue(t) for t in root.tables("queue")),
        agents=tuple(_agent(t, sip) for t in root.tables("agent")),
        ivrs=tuple(_ivr(t) for t in root.tables("ivr")),
        users=tuple(_user(t, sip) for t in root.tables("user")),
        supervision=_supervision(root.table("supervision")),
        stats=_stats(root.table("stats")),
    )
    root.finish()
    return config


def _center(t: Table) -> CenterConfig:
    timezone = t.text("timezone", "UTC")
    if isinstance(timezone, str) and timezone != "UTC":
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            t.problem("timezone", f"expected an IANA time zone like 'Europe/Paris'; "
                                  f"got {timezone!r}")
    section = CenterConfig(
        name=t.text("name", "Contactor"),
        data_dir=t.path_value("data_dir", "var"),
        timezone=timezone,
        skills=t.texts("skills", pattern=NAME, what="a skill name"),
        reconcile_every_s=t.number("reconcile_every_s", 10.0, lo=0.0),
    )
    t.finish()
    return section


def _store(t: Table) -> StoreConfig:
    url = t.text("url", None, pattern=r"postgres(?:ql)?://.*",
                 what="a postgresql:// URL")
    retention = t.number("tombstone_retention_s", 86400.0, lo=0.0)
    if isinstance(retention, float) and 0 < retention < TOMBSTONE_RETENTION_MIN_S:
        t.problem("tombstone_retention_s",
                  f"expected 0 (keep forever) or at least {TOMBSTONE_RETENTION_MIN_S:g} "
                  f"seconds (late messages to ended calls); got {retention:g}")
    section = StoreConfig(url=url, pool_size=t.integer("pool_size", 8, lo=1, hi=1000),
                          tombstone_retention_s=retention)
    t.finish()
    return section


#: the least ``[store] tombstone_retention_s`` (0 aside): a call's stragglers (SIP
#: retransmissions, a ring's Timer C) come within minutes of its end
TOMBSTONE_RETENTION_MIN_S = 600.0


def _bus(t: Table) -> BusConfig:
    section = BusConfig(
        host=t.text("host", "127.0.0.1"),
        base_port=t.integer("base_port", 7100, lo=PORT_LO, hi=PORT_HI),
        gateway_port=t.integer("gateway_port", 7000, lo=PORT_LO, hi=PORT_HI),
        transport=t.text("transport", "ipc", choices=("ipc", "tcp")),
    )
    t.finish()
    return section


def _host_port(t: Table, key: str, default: Any) -> Any:
    raw = t.text(key, default)
    if not isinstance(raw, str):
        return raw
    match = _HOST_PORT.fullmatch(raw)
    if match is None or not PORT_LO <= int(match["port"]) <= PORT_HI:
        t.problem(key, f"expected 'host:port' like '127.0.0.1:5060' or '[::1]:5060'; "
                       f"got {raw!r}")
        return HostPort(host="127.0.0.1", port=5060)
    return HostPort(host=match["v6"] or match["host"], port=int(match["port"]))


DIGEST_ALGORITHMS = ("MD5", "SHA-256")


def _sip(t: Table) -> SipConfig:
    listen = _host_port(t, "listen", "127.0.0.1:5060")
    transports = t.texts("transports", ("udp", "tcp"), choices=TRANSPORTS)
    if not transports and "transports" in t:
        t.problem("transports", f"expected at least one of {', '.join(TRANSPORTS)}; got []")
    tls_listen = _host_port(t, "tls_listen", None)
    if tls_listen is None and "tls" in transports:
        tls_listen = HostPort(host=listen.host, port=listen.port + 1)
    cert, key = t.path_value("tls_cert", None), t.path_value("tls_key", None)
    if "tls" in transports:
        for name, value in (("tls_cert", cert), ("tls_key", key)):
            if value is None:
                t.problem(name, "required key is missing (expected a path, since "
                                "transports include 'tls')")
            elif not value.is_file():
                t.problem(name, f"expected an existing file; got {str(value)!r}")
    section = SipConfig(
        listen=listen, transports=transports, tls_listen=tls_listen, tls_cert=cert,
        tls_key=key, domain=t.text("domain", listen.host),
        t1=t.number("t1", 0.5, positive=True),
        digest_algorithms=t.texts("digest_algorithms", ("MD5",),
                                  choices=DIGEST_ALGORITHMS),
        tcp_idle_timeout_s=_idle_timeout(t),
        tcp_max_connections_per_source=t.integer("tcp_max_connections_per_source", 64,
                                                 lo=1, hi=MAX_CONNECTIONS_PER_SOURCE),
    )
    if not section.digest_algorithms and "digest_algorithms" in t:
        t.problem("digest_algorithms",
                  f"expected at least one of {', '.join(DIGEST_ALGORITHMS)}; got []")
    t.finish()
    return section


#: bounds of ``[sip] tcp_idle_timeout_s`` (0 aside): below the minimum, registered phones'
#: connections would close between the OPTIONS pings that keep them (every 30 s by default)
IDLE_TIMEOUT_MIN_S, IDLE_TIMEOUT_MAX_S = 30.0, 86400.0
MAX_CONNECTIONS_PER_SOURCE = 100_000


def _idle_timeout(t: Table) -> Any:
    value = t.number("tcp_idle_timeout_s", 600.0, lo=0.0, hi=IDLE_TIMEOUT_MAX_S)
    if isinstance(value, float) and 0 < value < IDLE_TIMEOUT_MIN_S:
        t.problem("tcp_idle_timeout_s", f"expected 0 (never close) or a number from "
                                        f"{IDLE_TIMEOUT_MIN_S:g} to {IDLE_TIMEOUT_MAX_S:g}; "
                                        f"got {value:g}")
    return value


def _media(t: Table, center: CenterConfig) -> MediaConfig:
    defaults = MediaConfig()
    low = t.integer("rtp_port_min", defaults.rtp_port_min, lo=1024, hi=PORT_HI)
    high = t.integer("rtp_port_max", defaults.rtp_port_max, lo=1024, hi=PORT_HI)
    if isinstance(low, int) and low % 2:
        t.problem("rtp_port_min", f"expected an even port (RTP uses even, RTCP odd); got {low}")
    if isinstance(low, int) and isinstance(high, int) and high <= low:
        t.problem("rtp_port_max", f"expected a port above rtp_port_min ({low}); got {high}")
    section = MediaConfig(
        mode=t.text("mode", "anchored", choices=("relay", "anchored")),
        rtp_port_min=low, rtp_port_max=high,
        workers=t.integer("workers", defaults.workers, lo=1, hi=256),
        recording_format=t.text("recording_format", "flac", choices=RECORDING_FORMATS),
        recordings_dir=t.path_value("recordings_dir", center.data_dir / "recordings"),
        min_free_mb=t.integer("min_free_mb", defaults.min_free_mb, lo=0),
        rtp_host=t.text("rtp_host", ""),
        archive_dir=t.path_value("archive_dir", center.data_dir / "recordings-archive"),
        inband_dtmf=t.boolean("inband_dtmf", True),
        inband_dtmf_with_rfc4733=t.boolean("inband_dtmf_with_rfc4733", True),
        media_timeout_s=t.number("media_timeout_s", defaults.media_timeout_s, lo=0.0),
        rtcp_interval_s=t.number("rtcp_interval_s", defaults.rtcp_interval_s, lo=0.0),
        latching=t.boolean("latching", True),
    )
    t.finish()
    return section


def _networks(t: Table, key: str) -> tuple[IpNetwork, ...]:
    networks = []
    for i, item in enumerate(t.texts(key, what="an IP address or network")):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            t.doc.problem((*t.path, key, i), "expected an IP address or network like "
                          f"'192.0.2.10' or '192.0.2.0/24'; got {item!r}")
    return tuple(networks)


def _trunk(t: Table) -> TrunkConfig:
    username, password = t.text("username", None), t.text("password", None)
    register = t.boolean("register", False)
    if register is True:
        for key, value in (("username", username), ("password", password)):
            if value is None:
                t.problem(key, "required key is missing (expected a string, since "
                               "register = true)")
    section = TrunkConfig(
        name=t.text("name", pattern=NAME, what=NAME_TEXT),
        host=t.text("host"),
        port=t.integer("port", 5060, lo=PORT_LO, hi=PORT_HI),
        transport=t.text("transport", "udp", choices=TRANSPORTS),
        allow=_networks(t, "allow"),
        username=username, password=password, register=register,
        domain=t.text("domain", ""),
        expires=t.integer("expires", 3600, lo=10, hi=7 * 86400),
        outbound_prefix=t.text("outbound_prefix", "", pattern=r"[0-9*#]*",
                               what="digits, * or #"),
        country_code=t.text("country_code", "1", pattern=r"[1-9][0-9]{0,2}",
                            what="a country calling code of 1 to 3 digits like '33'"),
        national_prefix=t.text("national_prefix", "0", pattern=r"[0-9]*", what="digits"),
        international_prefix=t.text("international_prefix", "00", pattern=r"[0-9]*",
                                    what="digits"),
    )
    t.finish()
    return section


def _target(t: Table, key: str, default: Any = None) -> Target | None:
    raw = t.text(key, default)
    if not isinstance(raw, str):
        return None
    kind, _, name = raw.partition(":")
    if kind not in TARGET_KINDS or not name:
        t.problem(key, f"expected '<kind>:<name>' with kind {one_of(TARGET_KINDS)}; "
                       f"got {raw!r}{did_you_mean(kind, TARGET_KINDS) if name else ''}")
        return None
    return Target(kind=kind, name=name)


def _route(t: Table) -> RouteConfig:
    match = t.text("match")
    pattern = re.compile(r"(?!)")
    if isinstance(match, str) and match:
        try:
            pattern = compile_pattern(match)
        except PatternError as exc:
            t.problem("match", f"expected a dial pattern; got {match!r}: {exc}")
    elif isinstance(match, str):
        t.problem("match", "expected a number or '_' dial pattern; got ''")
    section = RouteConfig(match=match, pattern=pattern,
                          target=_target(t, "target", REQUIRED) or Target(kind="queue", name=""),
                          trunk=t.text("trunk", None))
    t.finish()
    return section


def _queue(t: Table) -> QueueConfig:
    d = QueueConfig(name="")
    section = QueueConfig(
        name=t.text("name", pattern=NAME, what=NAME_TEXT),
        strategy=t.text("strategy", d.strategy, choices=STRATEGIES),
        priority=t.integer("priority", d.priority, lo=0, hi=100),
        max_wait_s=t.number("max_wait_s", d.max_wait_s, positive=True),
        max_length=t.integer("max_length", d.max_length, lo=1),
        overflow=_target(t, "overflow"),
        skills=t.levels("skills", lo=SKILL_LEVELS.start, hi=SKILL_LEVELS.stop - 1),
        wrap_up_s=t.number("wrap_up_s", d.wrap_up_s, lo=0),
        no_answer_s=t.number("no_answer_s", d.no_answer_s, positive=True),
        service_level_s=t.number("service_level_s", d.service_level_s, positive=True),
        announce_every_s=t.number("announce_every_s", d.announce_every_s, lo=0),
        moh=t.text("moh", d.moh, pattern=NAME, what=NAME_TEXT),
        archive_after_days=t.integer("archive_after_days", 0, lo=0),
        delete_after_days=t.integer("delete_after_days", 0, lo=0),
    )
    archive, delete = section.archive_after_days, section.delete_after_days
    if isinstance(archive, int) and isinstance(delete, int) and 0 < delete <= archive:
        t.problem("delete_after_days", f"expected more days than archive_after_days "
                                       f"({archive}), or 0; got {delete}")
    t.finish()
    return section


def _agent(t: Table, sip: SipConfig) -> AgentConfig:
    extension = t.text("extension", pattern=r"[0-9]+", what="digits like '1001'")
    phone = t.text("phone", f"sip:{extension}@{sip.domain}", pattern=r"sips?:\S+@\S+",
                   what="a SIP URI like 'sip:1001@pbx.example'")
    roles = t.texts("roles", ("operator",), choices=ROLES)
    if not roles and "roles" in t:
        t.problem("roles", f"expected at least {one_of(ROLES)}; got []")
    section = AgentConfig(
        login=t.text("login", pattern=NAME, what=NAME_TEXT),
        name=t.text("name"),
        password=t.text("password"),
        extension=extension, phone=phone,
        skills=t.levels("skills", lo=SKILL_LEVELS.start, hi=SKILL_LEVELS.stop - 1),
        queues=t.texts("queues", what="a queue name"),
        roles=roles,
    )
    if isinstance(section.password, str) and not section.password and "password" in t:
        t.problem("password", "expected a non-empty string; got ''")
    t.finish()
    return section


def _ivr(t: Table) -> IvrConfig:
    section = IvrConfig(name=t.text("name", pattern=NAME, what=NAME_TEXT),
                        scheme=t.path_value("scheme"))
    if isinstance(section.scheme, Path) and not section.scheme.is_file():
        t.problem("scheme", f"expected an existing scheme file; got {str(section.scheme)!r}")
    t.finish()
    return section


def _user(t: Table, sip: SipConfig) -> UserConfig:
    extension = t.text("extension", None, pattern=r"[0-9]+", what="digits like '1901'")
    phone = t.text("phone", f"sip:{extension}@{sip.domain}" if extension else None,
                   pattern=r"sips?:\S+@\S+", what="a SIP URI like 'sip:1901@pbx.example'")
    section = UserConfig(
        login=t.text("login", pattern=NAME, what=NAME_TEXT),
        name=t.text("name"),
        roles=t.texts("roles", choices=ROLES),
        password=t.text("password", None),
        token=t.text("token", None),
        extension=extension,
        phone=phone,
    )
    if extension and section.password is None:
        t.problem("extension", "a phone extension needs a password (its SIP digest secret)")
    if not section.roles and "roles" not in t:
        t.problem("roles", f"required key is missing (expected an array of {one_of(ROLES)})")
    if section.password is None and section.token is None:
        t.problem(None, "expected a password or a token; got neither")
    t.finish()
    return section


def _supervision(t: Table) -> SupervisionConfig:
    d = SupervisionConfig()
    section = SupervisionConfig(
        intensity=t.integer("intensity", d.intensity, lo=0),
        period_s=t.number("period_s", d.period_s, positive=True),
        backoff_s=t.number("backoff_s", d.backoff_s, lo=0),
        backoff_max_s=t.number("backoff_max_s", d.backoff_max_s, lo=0),
    )
    if section.backoff_max_s < section.backoff_s:
        t.problem("backoff_max_s", f"expected at least backoff_s ({section.backoff_s}); "
                                   f"got {describe(section.backoff_max_s)}")
    t.finish()
    return section


def _stats(t: Table) -> StatsConfig:
    section = StatsConfig(
        metrics_host=t.text("metrics_host", "127.0.0.1"),
        metrics_port=t.integer("metrics_port", 9464, lo=PORT_LO, hi=PORT_HI),
        short_abandon_s=t.number("short_abandon_s", 5.0, lo=0.0),
    )
    t.finish()
    return section
