"""A scheme as a Graphviz diagram: ``scheme_dot`` builds the DOT text (pure), ``render``
runs ``dot`` to make an SVG or PNG."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

from ivr.scheme import (
    BranchNode,
    CallbackNode,
    CollectNode,
    HttpNode,
    MenuNode,
    Node,
    PlayNode,
    QueueNode,
    Scheme,
    SetNode,
    TransferNode,
    VoicemailNode,
)

FORMATS = ("svg", "png", "pdf", "dot")
_STYLE = {  # node type -> (shape, fill colour)
    "play": ("box", "#e8f0fe"),
    "menu": ("box", "#fff4c2"),
    "collect": ("box", "#fff4c2"),
    "callback": ("box", "#fff4c2"),
    "branch": ("diamond", "#f3e5f5"),
    "set": ("box", "#eeeeee"),
    "http": ("box", "#ffe0cc"),
    "queue": ("box", "#d9f2d9"),
    "transfer": ("box", "#d9f2d9"),
    "voicemail": ("box", "#d9f2d9"),
    "hangup": ("box", "#f8d7da"),
}


_FAILURE_EDGES = ("failure", "fallback", "decline", "else")


class DrawError(RuntimeError):
    """``dot`` is missing or failed."""


def scheme_dot(scheme: Scheme) -> str:
    lines = [
        f"digraph {_quote(scheme.name)} {{",
        "  rankdir=TB; nodesep=0.35; ranksep=0.45;",
        f"  label={_quote(_title(scheme))}; labelloc=t; fontname=\"Helvetica\"; fontsize=16;",
        '  node [fontname="Helvetica", fontsize=11, style="rounded,filled", penwidth=1.2];',
        '  edge [fontname="Helvetica", fontsize=10, color="#555555"];',
        '  "__start" [shape=circle, label="", width=0.25, style=filled, fillcolor=black];',
        f"  \"__start\" -> {_quote(scheme.start)};",
    ]
    missing: set[str] = set()
    for node in scheme.nodes.values():
        shape, fill = _STYLE.get(node.TYPE, ("box", "white"))
        style = '"filled"' if shape == "diamond" else '"rounded,filled"'
        lines.append(f"  {_quote(node.name)} [shape={shape}, style={style}, fillcolor="
                     f"{_quote(fill)}, label={_quote(_label(node))}];")
        for label, target in _edges(node):
            if target not in scheme.nodes:
                missing.add(target)
            dashed = ", style=dashed" if label.split(" ")[0] in _FAILURE_EDGES else ""
            lines.append(f"  {_quote(node.name)} -> {_quote(target)} "
                         f"[label={_quote(label)}{dashed}];")
    for name in sorted(missing):
        lines.append(f"  {_quote(name)} [shape=box, style=\"dashed\", color=red, "
                     f"fontcolor=red, label={_quote(name + chr(10) + '(missing)')}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _title(scheme: Scheme) -> str:
    return f"IVR {scheme.name} (version {scheme.version})" + (
        f"\n{scheme.description}" if scheme.description else "")


def _edges(node: Node) -> list[tuple[str, str]]:
    if isinstance(node, MenuNode):
        return [*((f"key {d}", t) for d, t in node.choices.items()),
                (f"failure (x{node.retries + 1})", node.failure)]
    if isinstance(node, BranchNode):
        return [*((_wrap(c.when.text, 28), c.goto) for c in node.cases),
                ("else", node.otherwise)]
    if isinstance(node, CallbackNode):
        return [(f"accept ({node.accept_digit})", node.next), ("decline", node.decline)]
    return [(("" if f == "next" else f), t) for f, t in node.edges() if t]


def _label(node: Node) -> str:
    head = f"{node.name}\n[{node.TYPE}]"
    return head + "\n" + _wrap(_detail(node), 34) if _detail(node) else head


def _detail(node: Node) -> str:
    if isinstance(node, PlayNode | MenuNode | CollectNode | CallbackNode):
        text = _prompt(node.prompt.text)
        if isinstance(node, CollectNode):
            text += f"\n-> ${{{node.into}}} ({node.min_digits}-{node.max_digits} digits)"
        if isinstance(node, CallbackNode):
            text += f"\nqueue {node.queue.text}, number {node.number.text}"
        return text
    if isinstance(node, SetNode):
        return "\n".join([*(f"{k} = {v.text}" for k, v in node.values.items()),
                          *(f"{k} = {e.text}" for k, e in node.compute.items())])
    if isinstance(node, HttpNode):
        saved = ", ".join(node.save)
        return f"{node.method} {node.url.text}" + (f"\nsaves {saved}" if saved else "")
    if isinstance(node, QueueNode):
        return f"queue {node.queue.text}, priority {node.priority.text}" + (
            "\nskills " + ", ".join(f"{k}>={v.text}" for k, v in node.skills.items())
            if node.skills else "")
    if isinstance(node, TransferNode):
        if node.agent is not None:
            return f"agent {node.agent.text}"
        return f"number {node.number.text if node.number is not None else ''}"
    if isinstance(node, VoicemailNode):
        return f"mailbox {node.mailbox.text}, up to {node.max_s:g}s"
    prompt = getattr(node, "prompt", None)
    return _prompt(prompt.text) if prompt is not None else ""


def _prompt(text: str) -> str:
    if text.startswith("tts:"):
        text = "\u201c" + text[4:].strip() + "\u201d"
    return textwrap.shorten(text, 90, placeholder="...")


def _wrap(text: str, width: int) -> str:
    return "\n".join("\n".join(textwrap.wrap(line, width) or [""]) for line in text.split("\n"))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render(dot_text: str, out: Path, fmt: str | None = None, *, timeout_s: float = 30.0) -> Path:
    """Write ``out`` in ``fmt`` (default: from its suffix) with Graphviz ``dot``."""
    fmt = fmt or out.suffix.lstrip(".").lower() or "svg"
    if fmt not in FORMATS:
        raise DrawError(f"expected a format among {', '.join(FORMATS)}; got {fmt!r}")
    if fmt == "dot":
        out.write_text(dot_text, encoding="utf-8")
        return out
    dot = shutil.which("dot")
    if dot is None:
        raise DrawError("Graphviz 'dot' is not installed (apt install graphviz)")
    extra = ["-Gdpi=110"] if fmt == "png" else []
    done = subprocess.run([dot, f"-T{fmt}", *extra, "-o", str(out)], input=dot_text,
                          capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise DrawError(f"dot failed ({done.returncode}): {done.stderr.strip()}")
    return out
