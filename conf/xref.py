"""Checks across sections: names unique, references resolvable, ports distinct."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from conf.reader import Document, did_you_mean
from conf.schema import Config, Target

_EXTERNAL_NUMBER = r"\+?[0-9*#]+"


def check_references(config: Config, doc: Document) -> None:
    queues = [q.name for q in config.queues]
    ivrs = [i.name for i in config.ivrs]
    agents = [a.login for a in config.agents]
    trunks = [t.name for t in config.trunks]
    skills = list(config.center.skills)

    _unique(doc, "trunk", "name", trunks)
    _unique(doc, "queue", "name", queues)
    _unique(doc, "ivr", "name", ivrs)
    _unique(doc, "route", "match", [r.match for r in config.routes])
    _unique(doc, "agent", "extension", [a.extension for a in config.agents])
    seen: dict[str, str] = {}
    people = [("agent", i, a.login) for i, a in enumerate(config.agents)]
    people += [("user", i, u.login) for i, u in enumerate(config.users)]
    for section, i, login in people:
        if login in seen:
            doc.problem((section, i, "login"), "expected a login not used elsewhere; "
                        f"got {login!r}, already used by {seen[login]}")
        else:
            seen[login] = f"{section}[{i}]"

    names = {"queue": queues, "ivr": ivrs, "agent": agents}
    for i, route in enumerate(config.routes):
        _check_target(doc, ("route", i, "target"), route.target, names)
        if route.trunk is not None:
            if route.target.kind != "external":
                doc.problem(("route", i, "trunk"), "expected no trunk for a "
                            f"{route.target.kind} target (only external targets use one); "
                            f"got {route.trunk!r}")
            else:
                _check_name(doc, ("route", i, "trunk"), route.trunk, trunks, "trunk")
        elif route.target.kind == "external" and not trunks:
            doc.problem(("route", i, "target"), "expected a [[trunk]] to reach external "
                        f"targets; got {route.target} and no trunk")

    for i, queue in enumerate(config.queues):
        if queue.overflow is not None:
            if queue.overflow == Target(kind="queue", name=queue.name):
                doc.problem(("queue", i, "overflow"), "expected another target than the "
                            f"queue itself; got {queue.overflow}")
            else:
                _check_target(doc, ("queue", i, "overflow"), queue.overflow, names)
        for skill in queue.skills:
            _check_name(doc, ("queue", i, "skills", skill), skill, skills, "skill",
                        "center.skills")

    for i, agent in enumerate(config.agents):
        for j, queue_name in enumerate(agent.queues):
            _check_name(doc, ("agent", i, "queues", j), queue_name, queues, "queue")
        for skill in agent.skills:
            _check_name(doc, ("agent", i, "skills", skill), skill, skills, "skill",
                        "center.skills")

    if config.bus.base_port in (config.bus.gateway_port, config.stats.metrics_port):
        doc.problem(("bus", "base_port"), "expected a port distinct from bus.gateway_port "
                    f"and stats.metrics_port; got {config.bus.base_port}")
    if config.stats.metrics_port == config.bus.gateway_port:
        doc.problem(("stats", "metrics_port"), "expected a port distinct from "
                    f"bus.gateway_port; got {config.stats.metrics_port}")


def _unique(doc: Document, section: str, key: str, values: Sequence[str]) -> None:
    first: dict[str, int] = {}
    for i, value in enumerate(values):
        if value in first:
            doc.problem((section, i, key), f"expected a unique {key}; got {value!r}, "
                        f"already used by {section}[{first[value]}]")
        else:
            first[value] = i


def _check_target(doc: Document, path: tuple[str | int, ...], target: Target,
                  names: dict[str, list[str]]) -> None:
    if target.kind == "external":
        if not re.fullmatch(_EXTERNAL_NUMBER, target.name):
            doc.problem(path, "expected 'external:<number>' with digits, *, # and an "
                        f"optional leading +; got {str(target)!r}")
        return
    _check_name(doc, path, target.name, names[target.kind], target.kind)


def _check_name(doc: Document, path: tuple[str | int, ...], name: str,
                known: Iterable[str], what: str, where: str | None = None) -> None:
    known = list(known)
    if name in known:
        return
    defined_in = where or f"[[{what}]]"
    listing = ", ".join(known) if known else "none defined"
    article = "an" if what[0] in "aeiouAEIOU" else "a"
    doc.problem(path, f"expected {article} {what} defined in {defined_in} ({listing}); got "
                f"{name!r}{did_you_mean(name, known)}")
