"""Checks over a scheme's whole graph and against the center: targets, reachability, loops,
prompts, queues and agents."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from ivr.problems import did_you_mean
from ivr.scheme import CallbackNode, Node, QueueNode, TransferNode

#: report(node, field, message)
Report = Callable[[str, str, str], None]
PromptExists = Callable[[str], bool]
TTS_PREFIX = "tts:"


def check_targets(nodes: Mapping[str, Node], report: Report) -> None:
    for node in nodes.values():
        for field, target in node.edges():
            if target and target not in nodes:
                report(node.name, field,
                       f"no node named {target!r}{did_you_mean(target, nodes)}")


def check_reachable(nodes: Mapping[str, Node], start: str, report: Report) -> None:
    if start not in nodes:
        return
    seen = {start}
    todo = [start]
    while todo:
        for _field, target in nodes[todo.pop()].edges():
            if target in nodes and target not in seen:
                seen.add(target)
                todo.append(target)
    for name in nodes:
        if name not in seen:
            report(name, "", f"unreachable from the start node {start!r}")


def check_loops(nodes: Mapping[str, Node], report: Report) -> None:
    """A loop no node of which waits for the caller and no edge of which leads out would spin
    forever: report it at its first node (in file order)."""
    order = {name: i for i, name in enumerate(nodes)}
    for component in _strongly_connected(nodes):
        members = set(component)
        first = min(component, key=order.__getitem__)
        targets = [t for _f, t in nodes[first].edges() if t in nodes]
        if len(component) == 1 and first not in targets:
            continue  # not a loop
        if any(nodes[n].WAITS_FOR_CALLER for n in component):
            continue
        if any(t in nodes and t not in members for n in component for _f, t in nodes[n].edges()):
            continue
        path = " -> ".join(_cycle(nodes, first, members))
        report(first, "", f"loop without a way out: {path} (no node in it waits for the "
               "caller and no edge leaves it)")


def _cycle(nodes: Mapping[str, Node], first: str, members: set[str]) -> list[str]:
    """One cycle through ``first`` inside ``members`` (depth-first, edges in field order)."""
    stack: list[tuple[str, list[str]]] = [(first, [first])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for _field, target in reversed(nodes[name].edges()):
            if target == first:
                return [*path, first]
            if target in members and target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return [first, first]


def _strongly_connected(nodes: Mapping[str, Node]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (schemes are written by people, but keep the stack flat)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            name, i = work.pop()
            if i == 0:
                index[name] = low[name] = len(index)
                stack.append(name)
                on_stack.add(name)
            targets = [t for _f, t in nodes[name].edges() if t in nodes]
            if i < len(targets):
                work.append((name, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[name] = min(low[name], index[target])
                continue
            if low[name] == index[name]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == name:
                        break
                out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[name])
    return out


def library_prompts(nodes: Mapping[str, Node]) -> list[tuple[str, str, str]]:
    """(node, field, prompt name) of the prompts to find in the sound library: ``tts:`` text
    and prompts built from variables can't be checked before a call."""
    return [(node.name, field, prompt.text) for node in nodes.values()
            for field, prompt in node.prompts()
            if prompt.is_literal and not prompt.text.startswith(TTS_PREFIX)]


def check_prompts(nodes: Mapping[str, Node], prompt_exists: PromptExists,
                  report: Report) -> None:
    for node, field, name in library_prompts(nodes):
        if not prompt_exists(name):
            report(node, field, f"no prompt {name!r} in the sound library")


def check_center(nodes: Mapping[str, Node], report: Report, *,
                 queues: Collection[str] | None, agents: Collection[str] | None) -> None:
    """Names the center must know (unchecked when the collection is None, or when the name is
    built from variables)."""
    for node in nodes.values():
        if isinstance(node, QueueNode | CallbackNode) and queues is not None:
            _known(node.name, "queue", node.queue.text, node.queue.is_literal, queues, report)
        if isinstance(node, TransferNode) and node.agent is not None and agents is not None:
            _known(node.name, "agent", node.agent.text, node.agent.is_literal, agents, report)


def _known(node: str, field: str, name: str, literal: bool, known: Collection[str],
           report: Report) -> None:
    if literal and name not in known:
        listing = ", ".join(sorted(known)) or "none defined"
        report(node, field, f"unknown {field} {name!r}{did_you_mean(name, known)}; known: "
               f"{listing}")
