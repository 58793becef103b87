"""The count storage holds counters only: no token, no chat id, no time finer than a date.

A full day of contacts runs through a real server on each store (counts.json and demand.json
on disk; the counts and demand keys in Redis); then every byte of the count storage is read.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from chatserver.config import load_config
from chatserver.crypto import hash_token, key_encryption_key
from chatserver.sessions import MemorySessionStore
from chatserver.store.base import Store
from chatserver.store.memory import MemoryStore
from chatserver.store.redis import RedisStore
from chatserver.web.app import create_app
from chatserver.web.keys import BOARD
from tests.helpers import Client, FakeClock
from tests.integration.conftest import START, TEST_CONFIG, Server, free_port
from tests.integration.test_http_api import bearer

PREFIX = "privacy:"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
_COUNTER = re.compile(r"[a-z][a-z0-9_-]*")
_DEMAND_CELL = re.compile(r"(open|closed):[0-6]:[0-2][0-9]")
# Anything that looks like a clock time or a timestamp.
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}|T[0-9]{2}|[0-9]{9,}")


@pytest.fixture(params=["memory", "redis"])
async def counted_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Server, Store, Redis | None]]:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "helplines.toml").write_text(textwrap.dedent(TEST_CONFIG))
    data_dir = tmp_path / "data"
    redis: Redis | None = None
    store: Store
    if request.param == "redis":
        redis = Redis.from_url(request.getfixturevalue("redis_url"))
        store = RedisStore(redis, key_encryption_key("x" * 32), prefix=PREFIX)
    else:
        store = MemoryStore(data_dir)
    from chatserver.accounts import FileAccountStore

    accounts = FileAccountStore(data_dir)
    clock = FakeClock(START)
    app = create_app(
        load_config(config_dir), store, accounts, MemorySessionStore(), clock=clock,
        tick_seconds=0.2,  # the Redis store needs this process's heartbeat
    )  # fmt: skip
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    server = Server(f"http://127.0.0.1:{port}", clock, data_dir, app, accounts)
    try:
        yield server, store, redis
    finally:
        for client in server.clients:
            await client.disconnect()
        await runner.cleanup()
        if redis is not None:
            await redis.aclose()


async def _a_day_of_contacts(server: Server) -> list[str]:
    """Every kind of counted event; returns the secrets that must not be stored."""
    secrets: list[str] = []
    carla = await server.counselor("carla")
    closed = server.visitor()
    await closed.connect()
    assert (await closed.call("closed_visit", {"helpline": "shut"}))["counted"]
    assert (await closed.call("start", {"helpline": "shut"}))["status"] == "closed"
    for ending in ("visitor", "counselor", "block"):
        visitor: Client = server.visitor()
        await visitor.connect()
        ack = await visitor.call("start", {"helpline": "alpha", "session": f"t-{ending}-tab"})
        secrets += [ack["token"], ack["chat_id"], hash_token(ack["token"]), f"t-{ending}-tab"]
        chat_id = (await carla.next("assigned"))["chat_id"]
        if ending == "visitor":
            await visitor.call("end", {})
            await carla.next("ended")
            wrap = {"chat_id": chat_id, "outcome": None, "topics": ["grooming"]}
            assert await carla.call("wrap_up", wrap) == {"ok": True}
        elif ending == "counselor":
            assert await carla.call("end", {"chat_id": chat_id, "outcome": "test"}) == {"ok": True}
        else:
            assert await carla.call("block", {"chat_id": chat_id}) == {"ok": True}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.url}/api/tally",
            json={"helpline": "alpha", "channel": "email", "outcome": "information"},
            headers=bearer(await server.login("carla")),
        ) as response,
    ):
        assert response.status == 200
    await server.app[BOARD].drain()
    return secrets


async def _count_storage(store: Store, redis: Redis | None) -> dict[str, Any]:
    """{file or key: its content} of everything counts live in."""
    if redis is None:
        assert isinstance(store, MemoryStore)
        await store.close()  # writes the files now
        data_dir = store._counts.path.parent
        return {
            path.name: json.loads(path.read_text())
            for path in sorted(data_dir.iterdir())
            if path.name in ("counts.json", "demand.json")
        }
    out: dict[str, Any] = {}
    for pattern in ("counts*", "demand*"):
        async for raw in redis.scan_iter(match=f"{PREFIX}{pattern}"):
            key = raw.decode()
            kind = (await redis.type(key)).decode()
            if kind == "hash":
                content = await redis.hgetall(key)
                out[key] = {k.decode(): int(v) for k, v in content.items()}
            else:
                out[key] = sorted(member.decode() for member in await redis.smembers(key))
    return out


def _periods_and_names(storage: dict[str, Any]) -> list[str]:
    """Every string the count storage holds: file keys, Redis key parts, fields, members."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                out.append(key)
                walk(item)
        elif isinstance(value, list):
            for item in value:
                out.extend(str(item).split("|"))
        else:
            assert isinstance(value, int), value

    for name, content in storage.items():
        out.extend(name.removeprefix(PREFIX).split(":", 2))
        walk(content)
    return out


async def test_the_count_storage_holds_no_token_no_chat_id_and_no_time_finer_than_a_date(
    counted_server: tuple[Server, Store, Redis | None],
) -> None:
    server, store, redis = counted_server
    secrets = await _a_day_of_contacts(server)
    storage = await _count_storage(store, redis)
    assert storage, "nothing was counted"
    text = json.dumps(storage)
    for secret in [*secrets, "carla"]:
        assert secret not in text
    helplines = {"alpha", "shut"}
    for part in _periods_and_names(storage):
        if _DEMAND_CELL.fullmatch(part):
            continue  # weekday x hour, summed over a month: not a time of any one date
        assert not _TIME.search(part), part
        assert (
            _DATE.fullmatch(part)
            or _MONTH.fullmatch(part)
            or part in helplines
            or part in ("counts", "counts-index", "demand", "demand-index", "counts.json")
            or part == "demand.json"
            or _COUNTER.fullmatch(part)
        ), part
    # Demand is kept per month only: no key or member names a date.
    for name, content in storage.items():
        if "demand" in name:
            assert not _DATE.search(name + json.dumps(content)), name
