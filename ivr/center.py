"""The center's schemes: every ``[[ivr]]`` of the config, checked against its queues and
agents, in one registry; and the sound library as a ``prompt_exists`` callable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conf.schema import Config
from ivr.checks import PromptExists
from ivr.problems import SchemeError, SchemeProblem
from ivr.registry import SchemeRegistry

PROMPT_EXTENSIONS = (".wav", ".flac", ".opus", ".ogg", ".mp3", ".ul", ".al")


def sound_library(directory: Path | str) -> Callable[[str], bool]:
    """``prompt_exists`` for a directory of prompt files: ``welcome`` is there when
    ``welcome.wav`` (or another audio extension) is; sub-folders are written ``fr/welcome``."""
    root = Path(directory).resolve()

    def prompt_exists(name: str) -> bool:
        if not name or name.startswith(("/", ".")) or ".." in name.split("/"):
            return False
        base = root / name
        if base.suffix in PROMPT_EXTENSIONS and base.is_file():
            return True
        return any(base.with_name(base.name + ext).is_file() for ext in PROMPT_EXTENSIONS)

    return prompt_exists


def load_center_schemes(config: Config, prompt_exists: PromptExists | None, *,
                        now: float = 0.0, grace_s: float = 3600.0) -> SchemeRegistry:
    """A registry holding every ``[[ivr]]`` scheme, validated against the config's queues and
    agent logins and the center's time zone. :class:`SchemeError` lists the problems of all
    schemes at once (nothing is served from a partly broken set)."""
    registry = SchemeRegistry(prompt_exists=prompt_exists,
                              queues=[q.name for q in config.queues],
                              agents=[a.login for a in config.agents],
                              default_timezone=config.center.timezone, grace_s=grace_s)
    problems: list[SchemeProblem] = []
    for ivr in config.ivrs:
        try:
            registry.load(ivr.name, ivr.scheme, now)
        except SchemeError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SchemeError(problems)
    return registry
