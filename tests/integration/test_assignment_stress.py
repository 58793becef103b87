"""Nobody waits beside a free counselor: many visitors at once while counselors come and go.

Each round starts 50 to 100 visitors at the same moment against a handful of protocol-2
counselors who accept, end chats after a moment, toggle availability and reconnect. Run
against the in-process store, Redis with one process, and Redis with two processes (every
visitor on one, every counselor on the other), all as real `chatserver run` processes.

Checked throughout, from the clients' side:
- no visitor waits more than FREE_SLOT_BOUND_S while some counselor has a free slot,
- every visitor is offered to exactly one counselor and hears `assigned` exactly once,
- every visitor of the round is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.helpers import always_open_config
from tests.processes import PASSWORD, ServerProcess, chatserver
from tests.redis_server import RedisServer

ROUNDS = 20
MAX_CHATS = 3
COUNSELORS = 6
FREE_SLOT_BOUND_S = 2.0
ROUND_TIMEOUT_S = 40.0
CONFIG = always_open_config(
    max_queue=500,
    max_chats=MAX_CHATS,
    server="[server]\ncounselor_grace_seconds = 30\n"
    # Counselors here work at many times a person's pace.
    "[limits]\nstarts_per_address_per_minute = 100000\n"
    "connection_event_rate = 1000\nconnection_event_burst = 1000\n",
)


@dataclass
class Visitor:
    sio: socketio.AsyncClient
    started_at: float = 0.0
    # Waiting in the server's queue: `start` was acknowledged.
    queued: bool = False
    assigned: int = 0
    chat_id: str | None = None
    names: list[str] = field(default_factory=list)


@dataclass
class Counselor:
    """One counselor's console, as far as the monitor can tell: free only when sure."""

    name: str
    url: str
    token: str
    sio: socketio.AsyncClient | None = None
    connected: bool = False
    available: bool = False
    chats: set[str] = field(default_factory=set)
    # Every chat this counselor was given: by an `assigned` event, or found in a resume.
    offered: list[str] = field(default_factory=list)
    # The chats this counselor's accept was acknowledged for: it served them.
    accepted: list[str] = field(default_factory=list)
    lost_offers: int = 0
    dropped_by_server: int = 0
    closing: bool = False
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def has_free_slot(self) -> bool:
        return self.connected and self.available and len(self.chats) < MAX_CHATS

    async def connect(self, rng: random.Random) -> None:
        sio = socketio.AsyncClient(reconnection=False)

        @sio.on("assigned", namespace="/counselor")  # type: ignore[misc]
        async def on_assigned(data: dict[str, Any]) -> None:
            self.offered.append(data["chat_id"])
            self.chats.add(data["chat_id"])
            await self._accept(sio, data["chat_id"])
            self._spawn(self._end_later(sio, data["chat_id"], rng.uniform(0.05, 0.4)))

        @sio.on("disconnect", namespace="/counselor")  # type: ignore[misc]
        async def on_disconnect(*_: Any) -> None:
            if self.sio is sio and self.connected and not self.closing:
                # Let go by the server (e.g. a heartbeat answered too late on a busy
                # machine): come back as the console does, within the grace period.
                self.dropped_by_server += 1
                self.connected = False
                self.available = False
                self._spawn(self.connect(rng))

        @sio.on("heartbeat", namespace="/counselor")  # type: ignore[misc]
        async def on_heartbeat(data: dict[str, Any]) -> dict[str, Any]:
            return {}  # the ack says this console is alive

        @sio.on("availability", namespace="/counselor")  # type: ignore[misc]
        async def on_availability(data: dict[str, Any]) -> None:
            if data.get("reason") == "unconfirmed":
                self.lost_offers += 1

        await sio.connect(
            self.url,
            namespaces=["/counselor"],
            transports=["websocket"],
            auth={"token": self.token, "protocol": 2},
        )
        self.sio = sio
        resumed = await sio.call("resume", {}, namespace="/counselor", timeout=10)
        for chat in resumed["chats"]:
            # An offer made while this console was reconnecting arrives here, not as an event.
            if chat["chat_id"] not in self.offered:
                self.offered.append(chat["chat_id"])
            self.chats.add(chat["chat_id"])
            if not chat["accepted"]:
                await self._accept(sio, chat["chat_id"])
            else:  # accepted before the reconnect; the ack may have been lost with it
                self.accepted.append(chat["chat_id"])
            self._spawn(self._end_later(sio, chat["chat_id"], 0.05))
        self.connected = True
        await self.set_available(True)

    async def _accept(self, sio: socketio.AsyncClient, chat_id: str) -> None:
        if not sio.connected:
            return  # the resume after reconnecting accepts it
        # Cut off by this console's own reconnect: the resume after it accepts again.
        with contextlib.suppress(socketio.exceptions.BadNamespaceError, TimeoutError):
            ack = await sio.call("accept", {"chat_id": chat_id}, namespace="/counselor", timeout=10)
            if ack == {"ok": True}:
                self.accepted.append(chat_id)
            else:  # the offer went back to the queue while this console was reconnecting
                assert ack["error"]["code"] == "not_in_chat", ack
                self.chats.discard(chat_id)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _end_later(self, sio: socketio.AsyncClient, chat_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if not sio.connected:
            return  # the resume after reconnecting ends it
        with contextlib.suppress(socketio.exceptions.BadNamespaceError):
            ack = await sio.call("end", {"chat_id": chat_id}, namespace="/counselor", timeout=10)
            assert ack == {"ok": True} or ack["error"]["code"] == "not_in_chat", ack
            self.chats.discard(chat_id)

    async def set_available(self, available: bool) -> None:
        assert self.sio is not None
        if not available:
            self.available = False
        ack = await self.sio.call(
            "availability", {"available": available}, namespace="/counselor", timeout=10
        )
        assert ack["available"] is available, ack
        self.available = available

    async def reconnect(self, rng: random.Random) -> None:
        """Drop the connection (within the grace period) and come back, as a reload does."""
        self.connected = False
        self.available = False
        assert self.sio is not None
        old, self.sio = self.sio, None
        await old.disconnect()
        await asyncio.sleep(rng.uniform(0.05, 0.3))
        await self.connect(rng)

    async def close(self) -> None:
        self.closing = True
        for task in list(self.tasks):
            task.cancel()
        if self.sio is not None:
            with contextlib.suppress(Exception):
                await self.sio.disconnect()


class Monitor:
    """Samples the clients' view: a waiting visitor beside a free slot starts a clock."""

    def __init__(self, visitors: list[Visitor], counselors: list[Counselor]) -> None:
        self.visitors = visitors
        self.counselors = counselors
        self.free_since: float | None = None
        self.worst_s = 0.0

    async def run(self) -> None:
        while True:
            now = time.monotonic()
            waiting = any(v.queued and v.assigned == 0 for v in self.visitors)
            free = any(c.has_free_slot for c in self.counselors)
            if waiting and free:
                self.free_since = self.free_since or now
                self.worst_s = max(self.worst_s, now - self.free_since)
            else:
                self.free_since = None
            await asyncio.sleep(0.05)


async def _chaos(counselors: list[Counselor], rng: random.Random) -> None:
    while True:
        await asyncio.sleep(rng.uniform(0.2, 0.5))
        counselor = rng.choice([c for c in counselors if c.connected])
        if rng.random() < 0.5:
            await counselor.set_available(False)
            await asyncio.sleep(rng.uniform(0.1, 0.4))
            await counselor.set_available(True)
        else:
            await counselor.reconnect(rng)


async def _round(
    visitor_url: str, counselors: list[Counselor], rng: random.Random, round_no: int
) -> None:
    visitors = [
        Visitor(socketio.AsyncClient(reconnection=False)) for _ in range(rng.randint(50, 100))
    ]
    for visitor in visitors:

        def on_assigned(data: dict[str, Any], visitor: Visitor = visitor) -> None:
            visitor.assigned += 1
            visitor.names.append(data.get("counselor_name"))

        visitor.sio.on("assigned", on_assigned, namespace="/visitor")
    await asyncio.gather(
        *(
            v.sio.connect(visitor_url, namespaces=["/visitor"], transports=["websocket"],
                          auth={"protocol": 2})
            for v in visitors
        )
    )  # fmt: skip

    async def start(visitor: Visitor) -> None:
        visitor.started_at = time.monotonic()
        ack = await visitor.sio.call("start", {"helpline": "alpha"}, namespace="/visitor")
        assert ack["status"] == "queued", ack
        visitor.chat_id = ack["chat_id"]
        visitor.queued = True

    monitor = Monitor(visitors, counselors)
    background = [
        asyncio.create_task(monitor.run()),
        asyncio.create_task(_chaos(counselors, rng)),
    ]
    try:
        await asyncio.gather(*(start(v) for v in visitors))
        deadline = time.monotonic() + ROUND_TIMEOUT_S
        while any(v.assigned == 0 for v in visitors) and time.monotonic() < deadline:
            assert monitor.worst_s <= FREE_SLOT_BOUND_S, (
                f"round {round_no}: a visitor waited {monitor.worst_s:.1f} s beside a free slot"
            )
            await asyncio.sleep(0.05)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        # Let the last chats end before the visitors go, so the next round starts clean.
        await asyncio.sleep(0.5)
        await asyncio.gather(
            *(asyncio.wait_for(v.sio.disconnect(), 5) for v in visitors), return_exceptions=True
        )
    unserved = [v for v in visitors if v.assigned == 0]
    assert not unserved, f"round {round_no}: {len(unserved)} of {len(visitors)} never served"
    assert monitor.worst_s <= FREE_SLOT_BOUND_S, (
        f"round {round_no}: a visitor waited {monitor.worst_s:.1f} s beside a free slot"
    )
    drops = {c.name: c.dropped_by_server for c in counselors if c.dropped_by_server}
    twice = [(v.chat_id, v.names) for v in visitors if v.assigned > 1]
    if twice:
        print(
            "TWICE",
            twice,
            [
                (
                    c.name,
                    [x for x in c.offered if x in {t[0] for t in twice}],
                    [x for x in c.accepted if x in {t[0] for t in twice}],
                )
                for c in counselors
            ],
        )
    twice = [v.names for v in visitors if v.assigned > 1]
    assert not twice, f"visitors heard assigned twice: {twice} (consoles let go: {drops})"
    served = Counter(chat_id for c in counselors for chat_id in set(c.accepted))
    ours = {v.chat_id for v in visitors}
    doubled = {chat_id: n for chat_id, n in served.items() if chat_id in ours and n > 1}
    assert not doubled, f"round {round_no}: chats served by two counselors: {doubled}"
    assert not any(c.lost_offers for c in counselors), "an offer to a live console ran out"


@pytest.fixture(params=["memory", "redis-one-process", "redis-two-processes"])
async def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, own_redis: RedisServer
) -> AsyncIterator[tuple[str, str, list[str]]]:
    """(visitor URL, counselor URL, counselor names) for one way of running the server."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "helplines.toml").write_text(CONFIG)
    options: tuple[str, ...] = ("--config", "config")
    if request.param != "memory":
        options += ("--redis", own_redis.url)
    names = [f"c{i}" for i in range(COUNSELORS)]
    for name in names:
        chatserver(
            "users", "add", name, "--role", "counselor", "--password-stdin", *options,
            cwd=tmp_path, stdin=PASSWORD + "\n",
        )  # fmt: skip
    processes = [ServerProcess(tmp_path, "a", *options)]
    if request.param == "redis-two-processes":
        processes.append(ServerProcess(tmp_path, "b", *options))
    for process in processes:
        process.start()
    for process in processes:
        await process.wait_healthy()
    try:
        yield processes[0].url, processes[-1].url, names
    finally:
        for process in processes:
            process.stop()


async def test_no_visitor_waits_beside_a_free_counselor_while_counselors_come_and_go(
    deployment: tuple[str, str, list[str]],
) -> None:
    visitor_url, counselor_url, names = deployment
    probe = ServerProcess.__new__(ServerProcess)
    probe.url = counselor_url
    rng = random.Random(20261202)
    counselors = [Counselor(name, counselor_url, await probe.login(name)) for name in names]
    try:
        for counselor in counselors:
            await counselor.connect(rng)
        for round_no in range(ROUNDS):
            try:
                async with asyncio.timeout(ROUND_TIMEOUT_S + 30):
                    await _round(visitor_url, counselors, rng, round_no)
            except TimeoutError:
                for task in asyncio.all_tasks():
                    task.print_stack(limit=6)
                raise
    finally:
        for counselor in counselors:
            await counselor.close()
