"""The simulated agents' desktops: log in, go ready, come back ready, log out - over the gateway.

Like ``contactor up --demo`` (:mod:`sim.demo`): the gateway client acts as the center's local
administrator (a token signed with the data dir's secret); an agent left logged in by an
earlier run is forced out first. The client is blocking, so every request runs on one worker
thread (ZeroMQ sockets belong to one thread) and the asyncio loop awaits it.
"""

from __future__ import annotations

import argparse
import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from actors.agent.messages import ForceLogout, GetAgent, Login, Logout, Ready
from bus.errors import AskTimeout, RemoteError
from bus.message import Message

REQUEST_TIMEOUT_S = 5.0


class DeskError(RuntimeError):
    """An agent could not be logged in or made ready; the message names the agent."""


class Desk:
    """One gateway session for every simulated agent."""

    def __init__(self, *, config_path: Path, data_dir: Path) -> None:
        self._args = argparse.Namespace(config=config_path, data=data_dir, user=None)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-desk")
        self._client: Any = None
        self.requests = 0
        self.refused: list[str] = []

    def _connect(self) -> Any:
        if self._client is None:
            from cli.center_client import connect

            self._client = connect(self._args)
        return self._client

    def _ask(self, agent: str, msg: Message) -> Message:
        self.requests += 1
        return self._connect().request(f"agent/{agent}", msg,  # type: ignore[no-any-return]
                                       timeout=REQUEST_TIMEOUT_S)

    def _login(self, agent: str, phone: str) -> None:
        try:
            state = self._ask(agent, GetAgent())
            if getattr(state, "status", "logged_out") != "logged_out":
                self._ask(agent, ForceLogout(reason="simulation restart"))
            self._ask(agent, Login(phone_uri=phone))
            self._ask(agent, Ready())
        except (RemoteError, AskTimeout) as exc:
            raise DeskError(f"agent {agent}: could not log in and go ready: {exc}") from exc

    def _ready(self, agent: str) -> bool:
        """Ready again (after wrap-up or a missed call); False if the center refused."""
        try:
            self._ask(agent, Ready())
            return True
        except RemoteError as exc:
            # already offered the next call, or ready by its own wrap-up timer: fine
            self.refused.append(f"{agent}: {exc}")
            return False
        except AskTimeout as exc:
            self.refused.append(f"{agent}: {exc}")
            return False

    def _logout(self, agent: str) -> None:
        try:
            state = self._ask(agent, GetAgent())
            if getattr(state, "status", "logged_out") == "logged_out":
                return
            try:
                self._ask(agent, Logout())
            except RemoteError:
                self._ask(agent, ForceLogout(reason="simulation over"))
        except (RemoteError, AskTimeout) as exc:
            self.refused.append(f"{agent}: logout: {exc}")

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def login(self, agent: str, phone: str) -> None:
        await self._run(self._login, agent, phone)

    async def ready(self, agent: str) -> bool:
        return bool(await self._run(self._ready, agent))

    async def logout(self, agent: str) -> None:
        await self._run(self._logout, agent)

    def close(self) -> None:
        def close_client() -> None:
            if self._client is not None:
                self._client.close()

        self._pool.submit(close_client).result(timeout=5)
        self._pool.shutdown(wait=True)
