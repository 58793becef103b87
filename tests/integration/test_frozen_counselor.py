"""A counselor whose console freezes (SIGSTOP: lid closed, process stopped) gets nobody new.

The console runs in its own OS process with a real Socket.IO connection that stays open
while the process is stopped, as a laptop's does. The server runs as a real process on the
in-process store and on Redis.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Client, always_open_config
from tests.processes import PASSWORD, ServerProcess, chatserver
from tests.redis_server import RedisServer

CONFIRM_SECONDS = 4
CONFIG = always_open_config(
    max_queue=20,
    max_chats=3,
    server=f"[server]\nassignment_confirm_seconds = {CONFIRM_SECONDS}\n"
    "counselor_liveness_seconds = 30\ncounselor_grace_seconds = 60\n",
)


class Console:
    """tests/counselor_process.py in a subprocess, and what it wrote down."""

    def __init__(self, url: str, token: str, events: Path) -> None:
        self.events = events
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.counselor_process", url, token, str(events)],
            cwd=Path(__file__).resolve().parents[2],
        )

    def seen(self) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        return [json.loads(line) for line in self.events.read_text().splitlines() if line]

    async def until(self, event: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.seen():
                if entry["event"] == event:
                    return entry
            await asyncio.sleep(0.05)
        raise AssertionError(f"the console never saw {event}: {self.seen()}")

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.thaw()
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture(params=["memory", "redis"])
async def server(
    request: pytest.FixtureRequest, tmp_path: Path, own_redis: RedisServer
) -> AsyncIterator[ServerProcess]:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "helplines.toml").write_text(CONFIG)
    options: tuple[str, ...] = ("--config", "config")
    if request.param == "redis":
        options += ("--redis", own_redis.url)
    for name in ("bram", "anna"):
        chatserver(
            "users", "add", name, "--role", "counselor", "--display-name", name.capitalize(),
            "--password-stdin", *options, cwd=tmp_path, stdin=PASSWORD + "\n",
        )  # fmt: skip
    process = ServerProcess(tmp_path, "server", *options)
    process.start()
    await process.wait_healthy()
    yield process
    process.stop()


@pytest.fixture
def consoles() -> Iterator[list[Console]]:
    started: list[Console] = []
    yield started
    for console in started:
        console.close()


async def test_a_frozen_console_gets_nobody_and_its_visitor_is_served_by_a_colleague(
    server: ServerProcess, consoles: list[Console], tmp_path: Path
) -> None:
    bram = Console(server.url, await server.login("bram"), tmp_path / "bram.jsonl")
    consoles.append(bram)
    await bram.until("ready")
    anna = Client(server.url, "/counselor")
    await anna.connect(auth={"token": await server.login("anna"), "protocol": 2})

    bram.freeze()
    visitor = Client(server.url, "/visitor")
    await visitor.connect(auth={"protocol": 2})
    started = time.monotonic()
    assert (await visitor.call("start", {"helpline": "alpha"}))["status"] == "queued"
    assert (await visitor.call("message", {"text": "is daar iemand?", "client_msg_id": "v1"}))[
        "seq"
    ] == 1

    # The offer to Bram goes unconfirmed: the visitor is first in line again, never "assigned".
    back = await visitor.until("queue", lambda q: q["position"] == 1, timeout=CONFIRM_SECONDS + 5)
    assert back["position"] == 1
    assert time.monotonic() - started <= CONFIRM_SECONDS + 3
    await visitor.nothing("assigned", wait=0.1)

    # Anna becomes available and gets the chat whole.
    assert (await anna.call("availability", {"available": True}))["available"] is True
    given = await anna.next("assigned")
    assert [m["text"] for m in given["messages"]] == ["is daar iemand?"]
    assert await anna.call("accept", {"chat_id": given["chat_id"]}) == {"ok": True}
    assert (await visitor.next("assigned"))["counselor_name"] == "Anna"

    # A second visitor also goes to Anna: Bram is away.
    second = Client(server.url, "/visitor")
    await second.connect()
    await second.call("start", {"helpline": "alpha"})
    offer = await anna.next("assigned")
    await anna.call("accept", {"chat_id": offer["chat_id"]})
    assert (await second.next("assigned"))["counselor_name"] == "Anna"

    # Bram, thawed, learns why he is away.
    bram.thaw()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        told = [
            e for e in bram.seen()
            if e["event"] == "availability" and (e["data"] or {}).get("reason") == "unconfirmed"
        ]  # fmt: skip
        if told:
            assert told[-1]["data"]["available"] is False
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"Bram was never told why: {bram.seen()}")
    for client in (visitor, second, anna):
        await client.disconnect()


async def test_a_frozen_console_is_disconnected_within_the_liveness_time(
    tmp_path: Path, consoles: list[Console]
) -> None:
    """With the default liveness (6 s), a stopped console's connection is closed by the server."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "helplines.toml").write_text(
        always_open_config(max_queue=5, max_chats=2)
    )
    chatserver(
        "users", "add", "bram", "--role", "counselor", "--password-stdin", "--config", "config",
        cwd=tmp_path, stdin=PASSWORD + "\n",
    )  # fmt: skip
    server = ServerProcess(tmp_path, "server", "--config", "config")
    server.start()
    try:
        await server.wait_healthy()
        bram = Console(server.url, await server.login("bram"), tmp_path / "bram.jsonl")
        consoles.append(bram)
        await bram.until("ready")
        bram.freeze()
        frozen_at = time.monotonic()
        deadline = frozen_at + 20
        log = server.log_path
        while time.monotonic() < deadline:
            if "left heartbeats unanswered" in log.read_text():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the frozen console was never let go")
        assert time.monotonic() - frozen_at < 15  # liveness 6 s + a heartbeat period + slack
        bram.thaw()
        await bram.until("disconnect")
    finally:
        server.stop()
