"""SIP, SIPS and tel URIs (RFC 3261 §19.1, §25; RFC 3966; RFC 5118; RFC 5954).

Components are stored unescaped; ``str()`` re-escapes exactly what the
grammar does not allow literally, so parse(str(uri)) == uri.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from sip.errors import SipParseError
from sip.grammar import ALPHANUM, EMPTY_PARAMS, Params

_MARK = frozenset("-_.!~*'()")
_UNRESERVED = ALPHANUM | _MARK
_USER_CHARS = _UNRESERVED | frozenset("&=+$,;?/")
_PASSWORD_CHARS = _UNRESERVED | frozenset("&=+$,")
_PARAM_CHARS = _UNRESERVED | frozenset("[]/:&+$")
_HEADER_CHARS = _UNRESERVED | frozenset("[]/?:+$")
_URIC = _UNRESERVED | frozenset(";/?:@&=+$,")
_SCHEME_CHARS = ALPHANUM | frozenset("+-.")
_TEL_NUMBER_CHARS = frozenset("0123456789ABCDEFabcdef*#+-.()")
_HEX = frozenset("0123456789abcdefABCDEF")
_HOST_LABEL_CHARS = ALPHANUM | frozenset("-")
_MAX_PORT_DIGITS = 5


def unescape(text: str, allowed: frozenset[str], what: str) -> str:
    """Decode %XX escapes, rejecting characters the component may not carry."""
    if "%" not in text:
        if set(text) <= allowed:
            return text
        bad = next(ch for ch in text if ch not in allowed)
        raise SipParseError(f"invalid character {bad!r} in URI {what}")
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise SipParseError(f"invalid %-escape in URI {what}")
            out.append(int(pair, 16))
            i += 3
            continue
        if ch not in allowed:
            raise SipParseError(f"invalid character {ch!r} in URI {what}")
        out.extend(ch.encode("ascii"))
        i += 1
    return out.decode("utf-8", "surrogateescape")


def escape(text: str, allowed: frozenset[str]) -> str:
    if set(text) <= allowed:
        return text  # nothing to escape: the common case
    out: list[str] = []
    for ch in text:
        if ch in allowed:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
    return "".join(out)


def valid_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        # RFC 5118 §4.10: RFC 3261's ABNF demanded three colons before an
        # embedded IPv4 address; accept that bug's output as well.
        if ":::" in text:
            return valid_ipv6(text.replace(":::", "::", 1))
        return False
    return True


# four decimal numbers of one to three digits (leading zeros allowed), none above 255
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01][0-9][0-9]|[0-9][0-9]?)"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


def valid_ipv4(text: str) -> bool:
    return _IPV4.fullmatch(text) is not None


def ipv6_value(text: str) -> ipaddress.IPv6Address | None:
    """The address an IPv6 literal (bare or in brackets) stands for, or None if it is none."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        if ":::" in text:  # RFC 5118 §4.10, as in valid_ipv6
            return ipv6_value(text.replace(":::", "::", 1))
        return None


def host_reference(host: str) -> str:
    """``host`` as a URI or Via sent-by writes it: a bare IPv6 address gets its brackets
    (RFC 3261 §25 IPv6reference); hostnames, IPv4 and bracketed references are unchanged."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def validate_host(host: str) -> str:
    """``host`` if it is a hostname, IPv4 address or bracketed IPv6 reference."""
    if host.startswith("["):
        if not host.endswith("]") or not valid_ipv6(host[1:-1]):
            raise SipParseError(f"invalid IPv6 reference {host!r}")
        return host
    if valid_ipv4(host):
        return host
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    for label in labels:
        if not label or not set(label) <= _HOST_LABEL_CHARS or label[0] == "-" or label[-1] == "-":
            raise SipParseError(f"invalid host {host!r}")
    if not labels[-1][0].isalpha():
        raise SipParseError(f"invalid host {host!r} (top label must start with a letter)")
    return host


def parse_port(text: str, what: str = "port") -> int:
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_PORT_DIGITS:
        raise SipParseError(f"invalid {what} {text!r}")
    port = int(text)
    if port > 65535:
        raise SipParseError(f"{what} {port} out of range")
    return port


def split_hostport(text: str) -> tuple[str, int | None]:
    """``host[:port]`` with IPv6 references in brackets."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise SipParseError(f"unterminated IPv6 reference in {text!r}")
        host, rest = text[: close + 1], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError(f"unexpected {rest!r} after IPv6 reference")
        port_text = rest[1:] if rest else None
    else:
        if text.count(":") > 1:  # a hostname or IPv4 address has at most the port's colon
            raise SipParseError(f"{text[:60]!r} is not host[:port]: an IPv6 address must be "
                                "enclosed in brackets (RFC 3261 §19.1.1, RFC 5118 §4.2)")
        host, sep, port_text_raw = text.partition(":")
        port_text = port_text_raw if sep else None
    validate_host(host)
    return host, (parse_port(port_text) if port_text is not None else None)


@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI; ``host`` keeps IPv6 brackets (one built with a bare IPv6
    address is written with them, so it reads back bracketed)."""

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str
    port: int | None = None
    params: Params = EMPTY_PARAMS
    headers: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(escape(self.user, _USER_CHARS))
            if self.password is not None:
                out.extend((":", escape(self.password, _PASSWORD_CHARS)))
            out.append("@")
        host = self.host
        # a bare IPv6 address (as a socket gives it) is written as the reference it must be
        out.append(f"[{host}]" if ":" in host and host[0] != "[" else host)
        if self.port is not None:
            out.append(f":{self.port}")
        for name, value in self.params:
            out.extend((";", escape(name, _PARAM_CHARS)))
            if value is not None:
                out.extend(("=", escape(value, _PARAM_CHARS)))
        for i, (name, value) in enumerate(self.headers):
            out.extend(("?" if i == 0 else "&", escape(name, _HEADER_CHARS), "="))
            out.append(escape(value, _HEADER_CHARS))
        return "".join(out)

    @property
    def address(self) -> str:
        """The host without IPv6 brackets, as socket APIs want it."""
        return self.host[1:-1] if self.host.startswith("[") else self.host

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def loose_route(self) -> bool:
        return "lr" in self.params

    def with_params(self, **params: str | None) -> SipUri:
        new = self.params
        for name, value in params.items():
            new = new.set(name, value)
        return replace(self, params=new)

    def without_headers(self) -> SipUri:
        return replace(self, headers=())


@dataclass(frozen=True, slots=True, kw_only=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966); ``number`` keeps visual separators."""

    number: str
    params: Params = EMPTY_PARAMS

    def __str__(self) -> str:
        params = "".join(
            f";{escape(k, _PARAM_CHARS)}" + ("" if v is None else f"={escape(v, _PARAM_CHARS)}")
            for k, v in self.params
        )
        return f"tel:{self.number}{params}"

    @property
    def digits(self) -> str:
        return "".join(ch for ch in self.number if ch not in "-.()")


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsoluteUri:
    """Any other scheme, kept opaque (RFC 3261 absoluteURI)."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | TelUri | AbsoluteUri


def _parse_uri_params(text: str, what: str) -> Params:
    items: list[tuple[str, str | None]] = []
    for raw in text.split(";"):
        name, sep, value = raw.partition("=")
        if not name or (sep and not value):
            raise SipParseError(f"empty parameter name or value in {what}")
        items.append(
            (
                unescape(name, _PARAM_CHARS, f"{what} parameter"),
                unescape(value, _PARAM_CHARS, f"{what} parameter") if sep else None,
            )
        )
    return Params(tuple(items))


def _parse_sip(scheme: str, rest: str) -> SipUri:
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        userinfo, _, rest = rest.partition("@")
        if "@" in rest:
            raise SipParseError("more than one '@' in SIP URI")
        user_text, sep, password_text = userinfo.partition(":")
        if not user_text:
            raise SipParseError("empty user part in SIP URI")
        user = unescape(user_text, _USER_CHARS, "user")
        if sep:
            password = unescape(password_text, _PASSWORD_CHARS, "password")
    rest, qmark, headers_text = rest.partition("?")
    if rest.startswith("["):
        close = rest.find("]")
        split_at = rest.find(";", close if close >= 0 else 0)
    else:
        split_at = rest.find(";")
    hostport, params_text = (rest, "") if split_at < 0 else (rest[:split_at], rest[split_at + 1 :])
    if not hostport:
        raise SipParseError("SIP URI has no host")
    host, port = split_hostport(hostport)
    params = _parse_uri_params(params_text, "SIP URI") if split_at >= 0 else EMPTY_PARAMS
    headers: list[tuple[str, str]] = []
    if qmark:
        for raw in headers_text.split("&"):
            name, sep, value = raw.partition("=")
            if not name or not sep:
                raise SipParseError(f"invalid SIP URI header {raw!r}")
            headers.append(
                (
                    unescape(name, _HEADER_CHARS, "header name"),
                    unescape(value, _HEADER_CHARS, "header value"),
                )
            )
    return SipUri(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        params=params,
        headers=tuple(headers),
    )


def _parse_tel(rest: str) -> TelUri:
    number, sep, params_text = rest.partition(";")
    if not number or not set(number) <= _TEL_NUMBER_CHARS:
        raise SipParseError(f"invalid telephone number {number!r} in tel URI")
    params = _parse_uri_params(params_text, "tel URI") if sep else EMPTY_PARAMS
    return TelUri(number=number, params=params)


def _class(chars: frozenset[str]) -> str:
    return "".join(re.escape(ch) for ch in sorted(chars))


# sip:user@host:port;param=value with nothing escaped and no headers, as nearly every URI
# is written (host a name, an IPv4 address or an IPv6 reference): one match instead of the
# steps below; host and port are still validated.
_PLAIN_SIP = re.compile(
    rf"(sips?):(?:([{_class(_USER_CHARS - {'@'})}]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-]+)"
    rf"(?::([0-9]{{1,5}}))?"
    rf"((?:;[{_class(_PARAM_CHARS)}]+(?:=[{_class(_PARAM_CHARS)}]+)?)*)"
)


def _plain_sip(match: re.Match[str]) -> SipUri:
    scheme, user, host, port, params_text = match.groups()
    validate_host(host)
    params = EMPTY_PARAMS
    if params_text:
        items: list[tuple[str, str | None]] = []
        for raw in params_text[1:].split(";"):
            name, sep, value = raw.partition("=")
            items.append((name, value if sep else None))
        params = Params(tuple(items))
    return SipUri(scheme=scheme, user=user, host=host,
                  port=None if port is None else parse_port(port), params=params)


def parse_uri(text: str) -> Uri:
    """Parse a URI; unknown schemes become :class:`AbsoluteUri`."""
    plain = _PLAIN_SIP.fullmatch(text)
    if plain is not None:
        return _plain_sip(plain)
    return parse_uri_general(text)


def parse_uri_general(text: str) -> Uri:
    """:func:`parse_uri` without its shortcut for plain SIP URIs (which must agree with it)."""
    scheme, colon, rest = text.partition(":")
    if (
        not colon
        or not scheme
        or not scheme[0].isalpha()
        or not scheme.isascii()
        or not set(scheme) <= _SCHEME_CHARS
    ):
        raise SipParseError(f"invalid URI {text[:80]!r} (no scheme)")
    if not rest:
        raise SipParseError(f"empty URI after scheme {scheme!r}")
    lowered = scheme.lower()
    if lowered in ("sip", "sips"):
        return _parse_sip(lowered, rest)
    if lowered == "tel":
        return _parse_tel(rest)
    unescape(rest, _URIC, f"{scheme} URI")  # validates characters and escapes
    return AbsoluteUri(scheme=scheme, opaque=rest)


def parse_sip_uri(text: str) -> SipUri:
    uri = parse_uri(text)
    if not isinstance(uri, SipUri):
        raise SipParseError(f"expected a sip or sips URI, got {text[:80]!r}")
    return uri


# Parameters that, present in only one of two URIs, make them differ (§19.1.4).
_SIGNIFICANT_PARAMS = ("user", "ttl", "method", "maddr", "transport")


def _params_equal(a: Params, b: Params) -> bool:
    for name in _SIGNIFICANT_PARAMS:
        if (name in a) != (name in b):
            return False
    for name, value in a:
        if name in b:
            other = b.get(name)
            if (value is None) != (other is None):
                return False
            if value is not None and other is not None and value.lower() != other.lower():
                return False
    return True


def _hosts_equal(a: str, b: str) -> bool:
    """Hosts compare case-insensitively; IPv6 references by the address they write, however
    written (RFC 5954 §4: ``[::1]`` is ``[0:0::1]``, but never the IPv4 ``127.0.0.1``)."""
    if a.startswith("[") and b.startswith("[") and a.lower() != b.lower():
        first, second = ipv6_value(a), ipv6_value(b)
        return first is not None and first == second
    return a.lower() == b.lower()


def uri_equal(a: Uri, b: Uri) -> bool:
    """URI equivalence per RFC 3261 §19.1.4 (and RFC 3966 §4 for tel)."""
    if isinstance(a, SipUri) and isinstance(b, SipUri):
        return (
            a.scheme == b.scheme
            and a.user == b.user
            and a.password == b.password
            and _hosts_equal(a.host, b.host)
            and a.port == b.port
            and _params_equal(a.params, b.params)
            and sorted((k.lower(), v) for k, v in a.headers)
            == sorted((k.lower(), v) for k, v in b.headers)
        )
    if isinstance(a, TelUri) and isinstance(b, TelUri):
        return a.digits.lower() == b.digits.lower() and sorted(
            (k.lower(), (v or "").lower()) for k, v in a.params
        ) == sorted((k.lower(), (v or "").lower()) for k, v in b.params)
    if isinstance(a, AbsoluteUri) and isinstance(b, AbsoluteUri):
        return a.scheme.lower() == b.scheme.lower() and a.opaque == b.opaque
    return False
