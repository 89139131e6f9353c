"""The global matcher ``matcher/global``: one decision point for calls and agents of all queues."""

from __future__ import annotations

from actors.matcher.messages import MATCHER_MESSAGES

__all__ = ["MATCHER_MESSAGES"]
