"""Session Description Protocol parsing and serialization (RFC 4566, RFC 8866).

v=, o=, s=, c=, a= and m= are structured; the remaining session/media lines
(i u e p b t r z k) are kept verbatim, sorted into the order the RFC
prescribes (t and r keep their relative order), so parse(serialize(x)) == x.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sip.errors import SdpError

_SESSION_ORDER = {"i": 0, "u": 1, "e": 2, "p": 3, "b": 5, "t": 6, "r": 6, "z": 7, "k": 8}
_MEDIA_ORDER = {"i": 0, "b": 5, "k": 8}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
MAX_SDP_BYTES = 65_536
MAX_SDP_LINES = 1_024


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 20


def connection_address(address: str) -> tuple[str, str]:
    """(addrtype, address) for an o=/c= line: "IP6" for an IPv6 address, which SDP writes
    without the brackets a SIP URI puts around it (RFC 4566 §9 IP6-address), else "IP4"."""
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    return ("IP6" if ":" in address else "IP4"), address


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    username: str = "-"
    session_id: str
    session_version: int
    network_type: str = "IN"
    address_type: str = "IP4"
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.network_type} {self.address_type} {self.address}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    network_type: str = "IN"
    address_type: str = "IP4"
    address: str

    def __str__(self) -> str:
        return f"{self.network_type} {self.address_type} {self.address}"

    @property
    def is_null(self) -> bool:
        """0.0.0.0, the RFC 2543 way of putting a stream on hold."""
        return self.address in ("0.0.0.0", "::")


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpMap:
    encoding: str
    clock_rate: int
    channels: int = 1


Attributes = tuple[tuple[str, str | None], ...]


def _attr(attributes: Attributes, name: str) -> str | None:
    return next((v for k, v in attributes if k == name), None)


def _direction(attributes: Attributes) -> str | None:
    return next((k for k, _ in attributes if k in DIRECTIONS), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: Attributes = ()
    lines: tuple[tuple[str, str], ...] = ()

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name`` (None when absent or a flag)."""
        return _attr(self.attributes, name)

    def has_attribute(self, name: str) -> bool:
        return any(k == name for k, _ in self.attributes)

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        out: dict[int, RtpMap] = {}
        for name, value in self.attributes:
            if name != "rtpmap" or not value:
                continue
            pt, _, spec = value.partition(" ")
            parts = spec.strip().split("/")
            try:
                out[int(pt)] = RtpMap(
                    encoding=parts[0],
                    clock_rate=int(parts[1]),
                    channels=int(parts[2]) if len(parts) > 2 else 1,
                )
            except (ValueError, IndexError):
                raise SdpError(f"malformed a=rtpmap:{value}") from None
        return out

    @property
    def fmtps(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for name, value in self.attributes:
            if name == "fmtp" and value:
                pt, _, params = value.partition(" ")
                if _is_number(pt):
                    out[int(pt)] = params.strip()
        return out

    @property
    def ptime(self) -> int | None:
        value = self.attribute("ptime")
        try:
            return int(float(value)) if value else None
        except (ValueError, OverflowError):
            return None

    def direction(self, session_default: str = "sendrecv") -> str:
        return _direction(self.attributes) or session_default

    def with_direction(self, direction: str) -> MediaDescription:
        kept = tuple((k, v) for k, v in self.attributes if k not in DIRECTIONS)
        return replace(self, attributes=(*kept, (direction, None)))


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescription:
    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    attributes: Attributes = ()
    media: tuple[MediaDescription, ...] = ()
    lines: tuple[tuple[str, str], ...] = (("t", "0 0"),)
    version: int = 0

    @property
    def direction(self) -> str:
        return _direction(self.attributes) or "sendrecv"

    def media_connection(self, media: MediaDescription) -> Connection | None:
        return media.connection or self.connection


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"c= line {value!r} needs 3 fields")
    return Connection(network_type=parts[0], address_type=parts[1], address=parts[2])


def _parse_origin(value: str) -> Origin:
    parts = value.split()
    if len(parts) != 6 or not _is_number(parts[1]) or not _is_number(parts[2]):
        raise SdpError(f"o= line {value!r} is not 6 fields with numeric id and version")
    return Origin(
        username=parts[0], session_id=parts[1], session_version=int(parts[2]),
        network_type=parts[3], address_type=parts[4], address=parts[5],
    )  # fmt: skip


def _parse_media(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 4:
        raise SdpError(f"m= line {value!r} needs media, port, proto and formats")
    port_text, _, count_text = parts[1].partition("/")
    if (
        not _is_number(port_text)
        or int(port_text) > 65535
        or (count_text and not _is_number(count_text))
    ):
        raise SdpError(f"invalid port {parts[1]!r} in m= line")
    return MediaDescription(
        media=parts[0], port=int(port_text), port_count=int(count_text) if count_text else None,
        proto=parts[2], formats=tuple(parts[3:]),
    )  # fmt: skip


def _parse_attribute(value: str) -> tuple[str, str | None]:
    name, colon, rest = value.partition(":")
    if not name:
        raise SdpError("empty attribute name")
    return name, (rest if colon else None)


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse a session description; CRLF or bare LF line ends are accepted."""
    if isinstance(data, bytes):
        if len(data) > MAX_SDP_BYTES:
            raise SdpError("session description too large")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError("session description is not UTF-8") from exc
    raw_lines = [line.rstrip("\r") for line in data.split("\n")]
    while raw_lines and not raw_lines[-1]:
        raw_lines.pop()
    if len(raw_lines) > MAX_SDP_LINES:
        raise SdpError("too many lines in session description")
    if not raw_lines or raw_lines[0] != "v=0":
        raise SdpError("session description must start with v=0")
    session: dict[str, object] = {}
    s_lines: list[tuple[str, str]] = []
    s_attrs: list[tuple[str, str | None]] = []
    media: list[MediaDescription] = []
    m_lines: list[tuple[str, str]] = []
    m_attrs: list[tuple[str, str | None]] = []
    current: MediaDescription | None = None

    def close_media() -> None:
        if current is not None:
            lines = tuple(sorted(m_lines, key=lambda kv: _MEDIA_ORDER[kv[0]]))
            media.append(replace(current, attributes=tuple(m_attrs), lines=lines))
        m_attrs.clear()
        m_lines.clear()

    for number, line in enumerate(raw_lines[1:], start=2):
        if len(line) < 2 or line[1] != "=" or not line[0].islower():
            raise SdpError(f"line {number}: {line[:40]!r} is not 'x=value'")
        kind, value = line[0], line[2:]
        if kind == "m":
            close_media()
            current = _parse_media(value)
        elif kind == "a":
            (m_attrs if current else s_attrs).append(_parse_attribute(value))
        elif kind == "c":
            if current is not None:
                current = replace(current, connection=_parse_connection(value))
            else:
                session["c"] = _parse_connection(value)
        elif current is None and kind in ("o", "s"):
            if kind in session:
                raise SdpError(f"line {number}: duplicate {kind}= line")
            session[kind] = _parse_origin(value) if kind == "o" else value
        elif current is None and kind in _SESSION_ORDER:
            s_lines.append((kind, value))
        elif current is not None and kind in _MEDIA_ORDER:
            m_lines.append((kind, value))
        else:
            raise SdpError(f"line {number}: unexpected {kind}= line")
    close_media()
    origin = session.get("o")
    if not isinstance(origin, Origin) or "s" not in session:
        raise SdpError("session description lacks o= or s=")
    connection = session.get("c")
    return SessionDescription(
        origin=origin, session_name=str(session["s"]),
        connection=connection if isinstance(connection, Connection) else None,
        attributes=tuple(s_attrs), media=tuple(media),
        lines=tuple(sorted(s_lines, key=lambda kv: _SESSION_ORDER[kv[0]])),
    )  # fmt: skip


def _attribute_lines(attributes: Attributes) -> list[str]:
    return [f"a={k}" if v is None else f"a={k}:{v}" for k, v in attributes]


def serialize_sdp(sdp: SessionDescription) -> bytes:
    out = [f"v={sdp.version}", f"o={sdp.origin}", f"s={sdp.session_name}"]
    lines = sorted(sdp.lines, key=lambda kv: _SESSION_ORDER[kv[0]])
    out.extend(f"{k}={v}" for k, v in lines if _SESSION_ORDER[k] < 4)
    if sdp.connection is not None:
        out.append(f"c={sdp.connection}")
    out.extend(f"{k}={v}" for k, v in lines if _SESSION_ORDER[k] > 4)
    out.extend(_attribute_lines(sdp.attributes))
    for m in sdp.media:
        port = str(m.port) if m.port_count is None else f"{m.port}/{m.port_count}"
        out.append(f"m={m.media} {port} {m.proto} {' '.join(m.formats)}")
        media_lines = sorted(m.lines, key=lambda kv: _MEDIA_ORDER[kv[0]])
        out.extend(f"{k}={v}" for k, v in media_lines if k == "i")
        if m.connection is not None:
            out.append(f"c={m.connection}")
        out.extend(f"{k}={v}" for k, v in media_lines if k != "i")
        out.extend(_attribute_lines(m.attributes))
    return ("\r\n".join(out) + "\r\n").encode("utf-8")
