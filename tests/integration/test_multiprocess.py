"""Several real `chatserver run` processes on one real Redis: nothing is lost when one dies.

Every process here is a separate OS process started from the command line, as in
production; the Socket.IO clients are python-socketio AsyncClients.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from tests.helpers import Client, always_open_config
from tests.processes import PASSWORD, ServerProcess, chatserver
from tests.redis_server import RedisServer

CONFIG = always_open_config(
    max_queue=50,
    max_chats=3,
    server="[server]\nvisitor_grace_seconds = 60\ncounselor_grace_seconds = 3\n"
    # Every visitor here comes from 127.0.0.1.
    "[limits]\nstarts_per_address_per_minute = 1000\n",
)


class Cluster:
    def __init__(self, workdir: Path, redis: RedisServer) -> None:
        self.workdir = workdir
        self.redis = redis
        self.options = ("--config", "config", "--redis", redis.url)
        self.processes: list[ServerProcess] = []
        self.clients: list[Client] = []

    def add_counselor(self, username: str) -> None:
        chatserver(
            "users", "add", username, "--role", "counselor", "--display-name",
            username.capitalize(), "--password-stdin", *self.options,
            cwd=self.workdir, stdin=PASSWORD + "\n",
        )  # fmt: skip

    async def start(self, name: str) -> ServerProcess:
        process = ServerProcess(self.workdir, name, *self.options)
        process.start()
        await process.wait_healthy()
        self.processes.append(process)
        return process

    async def visitor(self, process: ServerProcess) -> Client:
        client = Client(process.url, "/visitor")
        self.clients.append(client)
        await client.connect()
        return client

    async def counselor(self, process: ServerProcess, username: str) -> Client:
        client = Client(process.url, "/counselor")
        self.clients.append(client)
        await client.connect(auth={"token": await process.login(username)})
        assert (await client.call("availability", {"available": True}))["available"]
        return client

    async def redis_keys(self, pattern: str) -> list[str]:
        client = redis.asyncio.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            return [key async for key in client.scan_iter(match=pattern)]
        finally:
            await client.aclose()

    async def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), 2)
        for process in self.processes:
            process.stop()


@pytest.fixture
async def cluster(tmp_path: Path, own_redis: RedisServer) -> AsyncIterator[Cluster]:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "helplines.toml").write_text(CONFIG)
    cluster = Cluster(tmp_path, own_redis)
    cluster.add_counselor("carla")
    cluster.add_counselor("otto")
    yield cluster
    await cluster.close()


async def test_visitor_resumes_on_another_process_after_theirs_is_killed_mid_chat(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    visitor = await cluster.visitor(a)
    token = (await visitor.call("start", {"helpline": "alpha"}))["token"]
    counselor = await cluster.counselor(b, "carla")
    chat_id = (await counselor.next("assigned"))["chat_id"]
    assert (await visitor.next("assigned"))["counselor_name"] == "Carla"

    assert (await visitor.call("message", {"text": "hallo", "client_msg_id": "v1"}))["seq"] == 1
    assert (await counselor.next("message"))["text"] == "hallo"
    await counselor.call("message", {"chat_id": chat_id, "text": "hoi", "client_msg_id": "c1"})
    assert (await visitor.next("message"))["seq"] == 2

    a.kill()
    for n in (3, 4):
        ack = await counselor.call(
            "message", {"chat_id": chat_id, "text": f"ben je er nog? {n}", "client_msg_id": f"c{n}"}
        )
        assert ack["seq"] == n

    again = await cluster.visitor(b)
    resumed = await again.call("resume", {"token": token, "last_seq": 2})
    assert resumed["status"] == "chatting"
    assert [(m["seq"], m["text"]) for m in resumed["messages"]] == [
        (3, "ben je er nog? 3"),
        (4, "ben je er nog? 4"),
    ]
    assert (await again.call("message", {"text": "ja", "client_msg_id": "v5"}))["seq"] == 5
    got = await counselor.until("message", lambda m: m["seq"] == 5)
    assert got["text"] == "ja"
    await counselor.call("message", {"chat_id": chat_id, "text": "fijn", "client_msg_id": "c6"})
    assert (await again.next("message"))["seq"] == 6


async def test_six_visitors_on_two_processes_are_each_assigned_exactly_once(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    carla = await cluster.counselor(a, "carla")
    otto = await cluster.counselor(b, "otto")
    for _ in range(10):
        visitors = [await cluster.visitor(p) for p in (a, b, a, b, a, b)]
        acks = await asyncio.gather(*(v.call("start", {"helpline": "alpha"}) for v in visitors))
        started = {ack["chat_id"] for ack in acks}
        assert len(started) == 6

        assigned: dict[str, list[str]] = {"carla": [], "otto": []}
        await asyncio.wait_for(
            asyncio.gather(
                _collect_assigned(assigned, "carla", carla, 6),
                _collect_assigned(assigned, "otto", otto, 6),
            ),
            timeout=15,
        )
        everyone = assigned["carla"] + assigned["otto"]
        assert sorted(everyone) == sorted(started), "each visitor assigned exactly once"
        assert len(assigned["carla"]) <= 3 and len(assigned["otto"]) <= 3
        for visitor in visitors:
            await visitor.next("assigned")

        for name, client in (("carla", carla), ("otto", otto)):
            for chat_id in assigned[name]:
                assert await client.call("end", {"chat_id": chat_id}) == {"ok": True}
                assert (await client.next("ended"))["chat_id"] == chat_id
        for visitor in visitors:
            assert (await visitor.next("ended"))["reason"] == "counselor"
            await visitor.disconnect()
        await carla.nothing("assigned", wait=0.1)
        await otto.nothing("assigned", wait=0.1)


async def _collect_assigned(
    assigned: dict[str, list[str]], name: str, client: Client, total: int
) -> None:
    while sum(len(v) for v in assigned.values()) < total:
        try:
            event = await client.next("assigned", timeout=0.2)
        except TimeoutError:
            continue
        assigned[name].append(event["chat_id"])


async def test_processes_recover_by_themselves_when_redis_restarts_and_lose_nothing(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    visitor = await cluster.visitor(a)
    token = (await visitor.call("start", {"helpline": "alpha"}))["token"]
    counselor = await cluster.counselor(b, "carla")
    chat_id = (await counselor.next("assigned"))["chat_id"]
    acked: list[tuple[int, str]] = []
    for n in range(3):
        text = f"voor de herstart {n}"
        ack = await visitor.call("message", {"text": text, "client_msg_id": f"v{n}"})
        acked.append((ack["seq"], text))

    cluster.redis.stop()
    failed = await visitor.call("message", {"text": "tijdens", "client_msg_id": "during"})
    assert failed["error"]["code"] == "internal_error"
    cluster.redis.start()

    # The client retries with the same client_msg_id until the server acknowledges it.
    async def send_until_acked(client: Client, payload: dict[str, str]) -> int:
        for _ in range(100):
            ack = await client.call("message", payload)
            if "seq" in ack:
                return int(ack["seq"])
            await asyncio.sleep(0.2)
        raise AssertionError("never acknowledged")

    seq = await send_until_acked(visitor, {"text": "tijdens", "client_msg_id": "during"})
    acked.append((seq, "tijdens"))
    seq = await send_until_acked(
        counselor, {"chat_id": chat_id, "text": "na de herstart", "client_msg_id": "c-after"}
    )
    acked.append((seq, "na de herstart"))
    # Events published while a process's bus was down are gone; once it is back, each
    # process tells its clients to resync (resume below fills the gap) and is healthy again.
    assert await visitor.next("resync", timeout=30) == {}
    assert await counselor.next("resync", timeout=30) == {}
    await a.wait_healthy()
    await b.wait_healthy()
    # Live delivery across processes works again, both ways.
    ack = await counselor.call(
        "message", {"chat_id": chat_id, "text": "live", "client_msg_id": "c-live"}
    )
    acked.append((ack["seq"], "live"))
    await visitor.until("message", lambda m: m["text"] == "live")
    ack = await visitor.call("message", {"text": "ook live", "client_msg_id": "v-live"})
    acked.append((ack["seq"], "ook live"))
    await counselor.until("message", lambda m: m["text"] == "ook live")

    resumed = await visitor.call("resume", {"token": token, "last_seq": 0})
    assert [(m["seq"], m["text"]) for m in resumed["messages"]] == sorted(acked)
    assert [m["seq"] for m in resumed["messages"]] == list(range(1, len(acked) + 1))


async def test_redis_holds_no_plaintext_and_a_finished_chat_leaves_no_keys(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    marker = "AOF-MARKER-ik-heet-Anna-en-woon-in-Utrecht"
    reply = "COUNSELOR-REPLY-MARKER-dank-je-Anna"
    visitor = await cluster.visitor(a)
    await visitor.call("start", {"helpline": "alpha"})
    counselor = await cluster.counselor(b, "carla")
    chat_id = (await counselor.next("assigned"))["chat_id"]
    await visitor.call("message", {"text": marker, "client_msg_id": "v1"})
    assert (await counselor.next("message"))["text"] == marker
    await counselor.call("message", {"chat_id": chat_id, "text": reply, "client_msg_id": "c1"})
    assert (await visitor.next("message"))["text"] == reply

    aof = cluster.redis.aof_bytes()
    assert aof, "the test Redis writes an append-only file"
    for secret in (marker, reply, "Anna", "Utrecht"):
        assert secret.encode() not in aof
    keys_during = await cluster.redis_keys(f"*chat:{chat_id}*")
    assert any(k.endswith(":log") for k in keys_during)
    assert any(k.endswith(":key") for k in keys_during)

    assert await counselor.call("end", {"chat_id": chat_id}) == {"ok": True}
    await visitor.next("ended")
    keys_after = await cluster.redis_keys(f"*chat:{chat_id}*")
    assert not [k for k in keys_after if k.endswith((":log", ":key", ":ids"))]
    aof = cluster.redis.aof_bytes()
    for secret in (marker, reply, "Anna", "Utrecht"):
        assert secret.encode() not in aof


async def test_a_dead_process_leaves_no_ghost_counselor_and_its_chats_go_to_a_colleague(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    visitor = await cluster.visitor(a)
    await visitor.call("start", {"helpline": "alpha"})
    carla = await cluster.counselor(b, "carla")
    chat_id = (await carla.next("assigned"))["chat_id"]
    await visitor.call("message", {"text": "hallo Carla", "client_msg_id": "v1"})
    await carla.next("message")

    b.kill()
    # Carla looked available, but her process is gone: once its heartbeat has run out
    # (5 s) and her grace period (3 s) too, her chat goes back to the front of the queue.
    system = await visitor.until("message", lambda m: m["from"] == "system", timeout=30)
    assert system["seq"] == 2
    assert (await visitor.until("queue", lambda q: q["position"] == 1))["position"] == 1

    # A new visitor is not given to the ghost either; both wait for a living counselor.
    late = await cluster.visitor(a)
    assert (await late.call("start", {"helpline": "alpha"}))["position"] == 2
    await late.nothing("assigned", wait=1.0)

    otto = await cluster.counselor(a, "otto")
    handed_over = await otto.next("assigned")
    assert handed_over["chat_id"] == chat_id
    assert [m["text"] for m in handed_over["messages"]][:1] == ["hallo Carla"]
    assert await visitor.until("assigned", lambda e: e["counselor_name"] == "Otto")
    assert (await late.next("assigned"))["counselor_name"] == "Otto"


async def test_a_visitors_message_budget_is_shared_by_tabs_on_two_processes(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start("a"), await cluster.start("b")
    first = await cluster.visitor(a)
    token = (await first.call("start", {"helpline": "alpha"}))["token"]
    second = await cluster.visitor(b)
    assert (await second.call("resume", {"token": token}))["status"] == "queued"

    async def send(tab: Client, prefix: str) -> list[bool]:
        acks = [
            await tab.call("message", {"text": "x", "client_msg_id": f"{prefix}{n}"})
            for n in range(10)
        ]
        return ["seq" in ack for ack in acks]

    began = asyncio.get_running_loop().time()
    results = await asyncio.gather(send(first, "a"), send(second, "b"))
    elapsed = asyncio.get_running_loop().time() - began
    stored = sum(sum(tab) for tab in results)
    # Burst 10 plus 2 per second, for both tabs together (each alone would allow 10).
    assert 10 <= stored <= 10 + 2 * elapsed + 1, (stored, elapsed)


async def test_monitor_and_subscribers_see_no_chat_text_on_the_bus(cluster: Cluster) -> None:
    """Everything the processes publish to each other is sealed, like what they store."""
    a, b = await cluster.start("a"), await cluster.start("b")
    marker = "BUS-MARKER-ik-heet-Anna"
    reply = "BUS-REPLY-MARKER-dag-Anna"
    note = "BUS-NOTE-MARKER-zij-woont-in-Utrecht"
    seen: list[bytes] = []
    monitor = await asyncio.create_subprocess_exec(
        "redis-cli", "-p", str(cluster.redis.port), "monitor", stdout=asyncio.subprocess.PIPE
    )
    watcher = redis.asyncio.Redis.from_url(cluster.redis.url)
    pubsub = watcher.pubsub()
    await pubsub.psubscribe("*")

    async def listen() -> None:
        async for message in pubsub.listen():
            if isinstance(message.get("data"), bytes):
                seen.append(message["data"])

    listening = asyncio.create_task(listen())
    try:
        visitor = await cluster.visitor(a)
        await visitor.call("start", {"helpline": "alpha"})
        carla = await cluster.counselor(b, "carla")
        chat_id = (await carla.next("assigned"))["chat_id"]
        await visitor.call("message", {"text": marker, "client_msg_id": "v1"})
        assert (await carla.next("message"))["text"] == marker
        await carla.call("message", {"chat_id": chat_id, "text": reply, "client_msg_id": "c1"})
        assert (await visitor.next("message"))["text"] == reply
        otto = await cluster.counselor(a, "otto")
        ack = await carla.call("transfer", {"chat_id": chat_id, "counselor": "otto", "note": note})
        assert ack == {"ok": True}
        assert (await otto.next("assigned"))["handover_note"] == note
        await asyncio.sleep(0.5)
    finally:
        listening.cancel()
        await pubsub.aclose()
        await watcher.aclose()
        monitor.terminate()
        out, _ = await monitor.communicate()
    assert seen, "the subscriber saw the bus"
    assert b"PUBLISH" in out.upper(), "MONITOR saw the publishes"
    for secret in (marker, reply, note, "Anna", "Utrecht"):
        assert not any(secret.encode() in data for data in seen), f"{secret} on the bus"
        assert secret.encode() not in out, f"{secret} in MONITOR"
