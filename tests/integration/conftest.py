"""A real server on a real port for every test, with a clock the test controls."""

from __future__ import annotations

import asyncio
import socket
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from chatserver import crypto
from chatserver.accounts import Account, FileAccountStore
from chatserver.config import load_config
from chatserver.core.models import Chat
from chatserver.sessions import MemorySessionStore
from chatserver.store.memory import MemoryStore
from chatserver.web.app import create_app
from chatserver.web.keys import BOARD, SIO
from tests.helpers import Client, FakeClock

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
# A Wednesday afternoon.
START = datetime(2026, 12, 2, 14, 0, tzinfo=AMSTERDAM)
PASSWORD = "correct horse battery staple"
METRICS_TOKEN = "scraper-secret-for-tests"

TEST_CONFIG = """
timezone = "Europe/Amsterdam"

[server]
visitor_grace_seconds = 60
counselor_grace_seconds = 60

[[helpline]]
id = "alpha"
name = "Alpha"
max_queue = 3
last_admission_minutes = 10
max_chats_per_counselor = 2
[helpline.hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["09:00-17:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
[[helpline.topics]]
id = "sextortion"
nl = "Sextortion"
en = "Sextortion"
[[helpline.topics]]
id = "grooming"
nl = "Grooming"
en = "Grooming"
[[helpline.canned]]
lang = "nl"
title = "Begroeting"
text = "Hoi, fijn dat je er bent."
[[helpline.canned]]
lang = "en"
title = "Greeting"
text = "Hi, good to have you here."

[[helpline]]
id = "shut"
name = "Shut"
max_queue = 5
last_admission_minutes = 10
max_chats_per_counselor = 2
[helpline.hours]
thu = ["10:00-17:00"]
[[helpline.exceptions]]
date = "2026-12-03"
hours = ["19:00-22:00"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "SCRYPT_N", 2**10)


@dataclass
class Server:
    url: str
    clock: FakeClock
    data_dir: Path
    app: web.Application
    accounts: FileAccountStore
    clients: list[Client] = field(default_factory=list)

    def visitor(self) -> Client:
        client = Client(self.url, "/visitor")
        self.clients.append(client)
        return client

    async def add_account(
        self, username: str, role: str = "counselor", helplines: tuple[str, ...] = ()
    ) -> None:
        await self.accounts.add(
            Account(
                username=username,
                role=role,  # type: ignore[arg-type]
                display_name=username.capitalize(),
                helplines=helplines,
                password_hash=crypto.hash_password(PASSWORD),
            )
        )

    async def login(self, username: str) -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"{self.url}/api/login", json={"username": username, "password": PASSWORD}
            ) as response,
        ):
            assert response.status == 200, await response.text()
            return str((await response.json())["token"])

    async def counselor(
        self,
        username: str,
        *,
        available: bool = True,
        helplines: tuple[str, ...] = (),
        protocol: int = 1,
    ) -> Client:
        if await self.accounts.get(username) is None:
            await self.add_account(username, helplines=helplines)
        client = Client(self.url, "/counselor")
        self.clients.append(client)
        auth: dict[str, object] = {"token": await self.login(username)}
        if protocol != 1:
            auth["protocol"] = protocol
        await client.connect(auth=auth)
        if available:
            ack = await client.call("availability", {"available": True})
            assert ack["available"] is True
        return client

    async def tick(self) -> None:
        board = self.app[BOARD]
        await board.tick()
        await board.drain()

    async def until_visitor_gone(self, token: str) -> None:
        """Wait until the server has handled the visitor's disconnect."""
        chat = await self.app[BOARD].find_visitor_chat(token)
        assert isinstance(chat, Chat), "the chat is still open"
        namespace = self.app[SIO].namespace_handlers["/visitor"]
        for _ in range(200):
            if chat.chat_id not in namespace.chat_of.values():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the server never saw the visitor leave")

    async def until_counselor_gone(self, username: str) -> None:
        """Wait until the server has handled the counselor's last disconnect."""
        namespace = self.app[SIO].namespace_handlers["/counselor"]
        for _ in range(200):
            if all(c.username != username for c in namespace.connections.values()):
                await self.settle()
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the server never saw the counselor leave")

    async def settle(self) -> None:
        await self.app[BOARD].drain()


ServerFactory = Callable[..., Awaitable[Server]]


@pytest.fixture
async def make_server(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    runners: list[web.AppRunner] = []
    servers: list[Server] = []

    async def make(config_text: str = TEST_CONFIG, now: datetime = START) -> Server:
        config_dir = tmp_path / f"config{len(runners)}"
        config_dir.mkdir()
        (config_dir / "helplines.toml").write_text(textwrap.dedent(config_text))
        config = load_config(config_dir)
        data_dir = tmp_path / f"data{len(runners)}"
        clock = FakeClock(now)
        accounts = FileAccountStore(data_dir)
        app = create_app(
            config,
            MemoryStore(data_dir),
            accounts,
            MemorySessionStore(),
            clock=clock,
            tick_seconds=3600,  # tests tick by hand
            metrics_token=METRICS_TOKEN,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        servers.append(Server(f"http://127.0.0.1:{port}", clock, data_dir, app, accounts))
        return servers[-1]

    yield make
    for server in servers:
        for client in server.clients:
            await client.disconnect()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def server(make_server: ServerFactory) -> Server:
    return await make_server()
