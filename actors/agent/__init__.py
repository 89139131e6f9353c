"""The agent actor ``agent/<login>`` (state machine, help requests) and the reconciler."""

from __future__ import annotations

from actors.agent import messages as _m
from actors.agent.reconcile import RECONCILER_MESSAGES
from actors.agent.states import AgentState
from bus.message import Message

#: every message class of this package, for the bus catalogue
AGENT_MESSAGES: tuple[type[Message], ...] = (
    *(
        v
        for v in vars(_m).values()
        if isinstance(v, type) and issubclass(v, Message) and v is not Message
    ),
    AgentState,
    *RECONCILER_MESSAGES,
)
