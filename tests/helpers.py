"""Small helpers shared by the integration tests: a settable clock and recording clients."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import socketio

from chatserver import crypto
from chatserver.accounts import Account, Role
from chatserver.config import Config, HelplineConfig, ServerConfig

EVENT_TIMEOUT = 5.0


class FakeClock:
    """The server's notion of now, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Client:
    """A real python-socketio AsyncClient that records every event it receives."""

    def __init__(self, base_url: str, namespace: str) -> None:
        self.base_url = base_url
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.sio.on("*", self._record, namespace=namespace)
        self.sio.on("connect_error", self._connect_error, namespace=namespace)

    async def _record(self, event: str, data: Any = None) -> None:
        await self.events[event].put(data)

    async def _connect_error(self, data: Any = None) -> None:
        await self.events["connect_error"].put(data)

    async def connect(
        self,
        auth: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        transports: tuple[str, ...] = ("websocket",),
    ) -> None:
        await self.sio.connect(
            self.base_url,
            namespaces=[self.namespace],
            transports=list(transports),
            auth=auth,
            headers=headers or {},
            wait_timeout=EVENT_TIMEOUT,
        )

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.sio.call(event, data, namespace=self.namespace, timeout=EVENT_TIMEOUT)

    async def next(self, event: str, timeout: float = EVENT_TIMEOUT) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout)

    async def until(
        self, event: str, predicate: Callable[[Any], bool], timeout: float = EVENT_TIMEOUT
    ) -> Any:
        """Skip events until one matches; fails if none does in time."""
        async with asyncio.timeout(timeout):
            while True:
                data = await self.events[event].get()
                if predicate(data):
                    return data

    async def nothing(self, event: str, wait: float = 0.3) -> None:
        """Assert that no such event arrives within wait seconds."""
        try:
            data = await asyncio.wait_for(self.events[event].get(), wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {event}: {data!r}")

    def drain(self, event: str) -> list[Any]:
        out = []
        while not self.events[event].empty():
            out.append(self.events[event].get_nowait())
        return out

    async def disconnect(self) -> None:
        await self.sio.disconnect()


ACCOUNT_PASSWORD = "a long enough password"


def make_account(
    username: str = "anna",
    role: Role = "counselor",
    helplines: tuple[str, ...] = (),
    password: str = ACCOUNT_PASSWORD,
) -> Account:
    return Account(
        username=username,
        role=role,
        display_name=username.title(),
        helplines=helplines,
        password_hash=crypto.hash_password(password),
    )


def make_config(*, demo: bool, ids: tuple[str, ...] = ("stopitnow",)) -> Config:
    """A Config built in code, for tests that need no opening hours."""
    return Config(
        file=Path("x/helplines.toml"),
        timezone=ZoneInfo("Europe/Amsterdam"),
        helplines=tuple(
            HelplineConfig(
                id=helpline_id,
                name=helpline_id.title(),
                max_queue=25,
                last_admission_minutes=10,
                max_chats_per_counselor=2,
                hours=MappingProxyType({d: () for d in range(7)}),
            )
            for helpline_id in ids
        ),
        server=ServerConfig(demo_accounts=demo),
    )


def always_open_config(*, max_queue: int, max_chats: int, server: str = "") -> str:
    """helplines.toml text for one helpline, "alpha", open around the clock."""
    days = "\n".join(
        f'{day} = ["00:00-24:00"]' for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    )
    return f"""timezone = "Europe/Amsterdam"
{server}
[[helpline]]
id = "alpha"
name = "Alpha"
max_queue = {max_queue}
last_admission_minutes = 0
max_chats_per_counselor = {max_chats}
[helpline.hours]
{days}
"""
