"""YAML text to plain data plus the line of every key path, so errors can point at lines.

Mapping keys are turned into strings (``1: sales`` means digit "1"); duplicate keys, which
PyYAML would silently collapse, are reported.
"""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[str | int, ...]


class YamlError(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def read_yaml(text: str) -> tuple[Any, dict[Path, int], list[tuple[Path, int, int]]]:
    """(data, {key path: line}, [(key path, line, first line) of duplicate keys]); raises
    YamlError."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        lines: dict[Path, int] = {}
        duplicates: list[tuple[Path, int, int]] = []
        data = None if root is None else _convert(loader, root, (), lines, duplicates)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or "unreadable"
        if exc.context:
            started = exc.context_mark.line + 1 if exc.context_mark is not None else None
            what = f"{exc.context}" + (f" (from line {started})" if started else "") + \
                f": {what}"
        raise YamlError(f"not valid YAML: {what}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {exc}", None) from None
    finally:
        loader.dispose()
    return data, lines, duplicates


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path, lines: dict[Path, int],
             duplicates: list[tuple[Path, int, int]]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # merge keys (<<: *defaults)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            name = _key_text(key)
            child = (*path, name)
            if name in result:
                duplicates.append((child, key_node.start_mark.line + 1, lines[child]))
                continue
            lines[child] = key_node.start_mark.line + 1
            result[name] = _convert(loader, value_node, child, lines, duplicates)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, (*path, i), lines, duplicates)
                for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _key_text(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)
