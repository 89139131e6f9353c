"""Who is calling, what they dialled, and where the call goes (trunks and the route table).

Inbound calls from a provider are recognised by source address (the trunk's ``allow`` list,
or its ``host`` when the list is empty: a trunk that registers gets its calls from the
registrar it registers with) and need no authentication; any other caller must
be an agent phone that proves its credentials. Numbers from a trunk are normalised to E.164
with the trunk's rules (``TrunkConfig.to_e164``). Routes are tried with the number as dialled
first, then in its E.164 form, so a route table may use either spelling.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from conf.schema import AgentConfig, Config, TrunkConfig
from sip.message import Request
from sip.uri import SipUri, TelUri, Uri
from telephony.messages import Peer


class RoutingError(LookupError):
    """A route names something the config does not have (trunk, agent)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDecision:
    """``target`` is ``"kind:name"`` (``None``: no route matches ``dialled``); ``trunk`` is the
    route's outbound trunk for external targets (``None``: the first trunk)."""

    target: str | None
    caller: str
    dialled: str
    trunk: str | None = None


def _user_of(uri: Uri) -> str | None:
    if isinstance(uri, SipUri):
        return uri.user
    if isinstance(uri, TelUri):
        return uri.digits
    return None


def trunk_for_source(config: Config, host: str) -> TrunkConfig | None:
    """The trunk whose allow-list (or host, when the list is empty) contains ``host``."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    for trunk in config.trunks:
        if trunk.allow:
            if any(address in network for network in trunk.allow):
                return trunk
        elif trunk.host == host:
            return trunk
    return None


def dialled_number(request: Request, trunk: TrunkConfig | None = None) -> str:
    """The Request-URI's user part (or tel: number); the To URI's if the R-URI has none, or
    if it is the Contact ``trunk`` registered (``sip:<username>@us``: providers send calls
    for a registration there, the number dialled in To)."""
    user = _user_of(request.uri)
    if trunk is not None and trunk.register and user is not None and user == trunk.username:
        return _user_of(request.to.uri) or user
    return user or _user_of(request.to.uri) or ""


def caller_number(request: Request) -> str:
    return _user_of(request.from_.uri) or ""


def route_call(config: Config, request: Request, trunk: TrunkConfig | None) -> RouteDecision:
    dialled = dialled_number(request, trunk)
    caller = caller_number(request)
    route = config.route_for(dialled) if dialled else None
    if trunk is not None and dialled:
        e164 = trunk.to_e164(dialled)
        if route is None:
            route = config.route_for(e164)
        dialled = e164
        caller = trunk.to_e164(caller) if caller and caller[:1] in "+0123456789" else caller
    if route is None:
        return RouteDecision(target=None, caller=caller, dialled=dialled)
    return RouteDecision(target=str(route.target), caller=caller, dialled=dialled,
                         trunk=route.trunk)


def outbound_trunk(config: Config, name: str | None) -> TrunkConfig:
    """The trunk named ``name`` (a route's ``trunk``), else the first one."""
    if name:
        try:
            return config.trunk(name)
        except KeyError:
            raise RoutingError(f"a route names unknown trunk {name!r}") from None
    if not config.trunks:
        raise RoutingError("no trunk to dial out through: the config has none")
    return config.trunks[0]


def trunk_request_uri(trunk: TrunkConfig, number: str) -> str:
    transport = "" if trunk.transport == "udp" else f";transport={trunk.transport}"
    return f"sip:{trunk.outbound_prefix}{number}@{trunk.host}:{trunk.port}{transport}"


def trunk_peer(trunk: TrunkConfig) -> Peer:
    return Peer(transport=trunk.transport.upper(), host=trunk.host, port=trunk.port)


def agent_by_extension(config: Config, extension: str) -> AgentConfig | None:
    return next((a for a in config.agents if a.extension == extension), None)


def agent_by_login(config: Config, login: str) -> AgentConfig | None:
    return next((a for a in config.agents if a.login == login), None)
