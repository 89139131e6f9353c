"""Values the interpreter builds for the outside (URLs, JSON bodies, log text) and reads back
(fields of JSON answers). Pure."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from ivr.expr import Template, text_of


def render_url(url: Template, variables: Mapping[str, str]) -> str:
    """Placeholders are percent-encoded, except one that starts the URL (a base URL kept in a
    variable)."""
    out = []
    for i, (is_var, part) in enumerate(url.parts):
        if not is_var:
            out.append(part)
        elif i == 0:
            out.append(variables.get(part, ""))
        else:
            out.append(urllib.parse.quote(variables.get(part, ""), safe=""))
    return "".join(out)


def render_json(value: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(value, Template):
        return value.render(variables)
    if isinstance(value, dict):
        return {k: render_json(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render_json(v, variables) for v in value]
    return value


def json_path(data: Any, path: str) -> str | None:
    """The value at a dotted path (``customer.name``, ``items.0.id``) as variable text."""
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list | tuple) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    if data is None:
        return ""
    if isinstance(data, bool | str):
        return text_of(data)
    if isinstance(data, int):
        return str(data)
    if isinstance(data, float):
        return text_of(data)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_text(data: Any) -> str:
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    except ValueError:
        return repr(data)


def show_vars(variables: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(variables.items())) or "none"
