"""Acknowledged messages survive a Socket.IO bus blip, in the real widget and console.

Two `chatserver run` processes share a real Redis; the visitor's widget is on one, the
counselor's console on the other, so every message crosses the pub/sub bus. Killing the
processes' pub/sub connections (`CLIENT KILL TYPE pubsub`) drops whatever is published
until they resubscribe. Messages sent in that window were acknowledged ("Verzonden") and
stored; each side must still show the other's, without anyone writing again and without a
reload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio

from tests.browser.conftest import WidgetFactory
from tests.browser.test_console import Console, ConsoleFactory, new_console  # noqa: F401
from tests.helpers import always_open_config
from tests.processes import PASSWORD, ServerProcess, chatserver
from tests.redis_server import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONFIG = always_open_config(
    max_queue=10, max_chats=2, server="[limits]\nstarts_per_address_per_minute = 1000\n"
)


@dataclass(frozen=True)
class Origin:
    """What a Widget needs of its server: the address (the page's own origin)."""

    url: str


@pytest_asyncio.fixture(loop_scope="session")
async def two_processes(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, ServerProcess, str]]:
    tmp_path = tmp_path / "cluster"  # the in-process `server` fixture has its own config here
    tmp_path.mkdir()
    redis_server = RedisServer(tmp_path / "redis")
    redis_server.start()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "helplines.toml").write_text(CONFIG)
    options = ("--config", "config", "--redis", redis_server.url)
    chatserver(
        "users", "add", "carla", "--role", "counselor", "--display-name", "Carla",
        "--password-stdin", *options, cwd=tmp_path, stdin=PASSWORD + "\n",
    )  # fmt: skip
    a = ServerProcess(tmp_path, "a", *options)
    b = ServerProcess(tmp_path, "b", *options)
    a.start()
    b.start()
    await a.wait_healthy()
    await b.wait_healthy()
    yield a, b, redis_server.url
    a.stop()
    b.stop()
    redis_server.kill()


async def _kill_pubsub(url: str) -> int:
    client = redis.asyncio.Redis.from_url(url)
    try:
        return int(await client.client_kill_filter(_type="pubsub"))
    finally:
        await client.aclose()


async def test_messages_acknowledged_while_the_bus_is_down_reach_the_other_side(
    # First, so that the pages close before the processes stop: a stopping process lets its
    # clients go, and a page still open would log its reconnect attempts as errors.
    two_processes: tuple[ServerProcess, ServerProcess, str],
    new_widget: WidgetFactory,
    new_console: ConsoleFactory,  # noqa: F811
) -> None:
    a, b, redis_url = two_processes
    console: Console = await new_console()
    console.tab.server = Origin(b.url)  # type: ignore[assignment]
    await console.open()
    await console.login("carla", PASSWORD)
    await console.page.get_by_text("Verbonden").wait_for()
    await console.available()

    widget = await new_widget()
    widget.server = Origin(a.url)  # type: ignore[assignment]
    await widget.open()
    await widget.button("Start de chat").click()
    await widget.heading("Je chat met Carla").wait_for(timeout=15000)
    await console.select(1)
    await widget.send("Hallo, ik wil iets vragen.")
    await console.until_texts(["Hallo, ik wil iets vragen."])
    await console.send("Hoi, ik ben Carla.")
    await widget.until_texts(["Hallo, ik wil iets vragen.", "Hoi, ik ben Carla."])

    assert await _kill_pubsub(redis_url) >= 2  # both processes' subscriptions
    await widget.send("Dit schreef ik tijdens de storing.")
    await widget.log.get_by_text("Verzonden").last.wait_for()
    await console.send("En dit ik.")
    await console.log.get_by_text("Verzonden").last.wait_for()

    everything = [
        "Hallo, ik wil iets vragen.",
        "Hoi, ik ben Carla.",
        "Dit schreef ik tijdens de storing.",
        "En dit ik.",
    ]
    # Both the visitor's and the counselor's message are stored as seq 3 and 4, in the order
    # the server stored them; which came first depends on the two round trips.
    for page in (console, widget):
        for _ in range(300):  # up to 15 s: resubscribe, resync or the next heartbeat
            if sorted(await page.texts()) == sorted(everything):
                break
            await page.page.wait_for_timeout(50)
        assert sorted(await page.texts()) == sorted(everything)
    assert await console.texts() == await widget.texts()
