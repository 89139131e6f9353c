"""Call ids, and the tags and branches that carry them, so SIP routing needs no table.

Every dialog tag we choose (the To tag of a leg we answer, the From tag of a leg we call) is
``<call_id>.<leg>``, and every branch we send is ``z9hG4bK<call_id>.<leg>.<n>``. A request
inside a dialog carries our tag in To, a response carries our branch in its Via: either one
names the call actor and the leg, even after the telephony process restarted. Call ids are 64
random bits, which also makes the tags as unguessable as RFC 3261 §19.3 asks.
"""

from __future__ import annotations

import re
import secrets

from sip.fields import MAGIC_COOKIE

_CALL_ID = r"[0-9a-f]{16}"
_LEG = r"[a-z][a-z0-9]{0,7}"
_TAG = re.compile(rf"({_CALL_ID})\.({_LEG})")
_BRANCH = re.compile(rf"{MAGIC_COOKIE}({_CALL_ID})\.({_LEG})\.[0-9]+")


def new_call_id() -> str:
    return secrets.token_hex(8)


def leg_tag(call_id: str, leg: str) -> str:
    return f"{call_id}.{leg}"


def leg_branch(call_id: str, leg: str, n: int) -> str:
    return f"{MAGIC_COOKIE}{call_id}.{leg}.{n}"


def sip_call_id(call_id: str, leg: str, host: str) -> str:
    """The SIP Call-ID of a leg we originate."""
    return f"{call_id}.{leg}@{host}"


def parse_tag(tag: str | None) -> tuple[str, str] | None:
    """``(call_id, leg)`` if ``tag`` is one of ours."""
    if not tag:
        return None
    m = _TAG.fullmatch(tag)
    return (m[1], m[2]) if m else None


def parse_branch(branch: str | None) -> tuple[str, str] | None:
    """``(call_id, leg)`` if ``branch`` is one of ours."""
    if not branch:
        return None
    m = _BRANCH.fullmatch(branch)
    return (m[1], m[2]) if m else None
