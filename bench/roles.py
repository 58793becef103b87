"""The client side of every scenario: what one load-generator worker process does.

Each role is `async def role(link, spec)`; bench.scenarios starts a Fleet of them and moves
them through their phases. Two dialects speak to the two servers with the same lean client
and the same load shape: `product` (the chatserver protocol, as the widget and the console
speak it) and `bare` (the bare relay in bench/bare_relay.py: `join` a pair room, `message`).

Message text is "<n> <monotonic ns at send> <padding>": the receiver computes the latency
and checks that every n arrives exactly once and in order.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.lean_client import LeanSocket
from bench.server_process import PASSWORD
from bench.workers import Link

# Retried with the same client_msg_id, as docs/protocol.md §7 asks.
RETRIED_CODES = frozenset({"rate_limited", "internal_error"})
RETRY_AFTER_S = 0.5
PHASE_TIMEOUT_S = 600.0


def now_ns() -> int:
    return time.monotonic_ns()


async def sleep_until(at_ns: int) -> None:
    delay = (at_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


def http_session() -> aiohttp.ClientSession:
    # No pool limit: every websocket holds its connection for the whole run.
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


def message_text(n: int, length: int) -> str:
    head = f"{n} {now_ns()} "
    return head + "x" * max(1, length - len(head))


async def login(session: aiohttp.ClientSession, url: str, username: str) -> str:
    async with session.post(
        f"{url}/api/login", json={"username": username, "password": PASSWORD}
    ) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"login {username}: {response.status} {body}")
        return str(body["token"])


async def gather_limited(jobs: list[Callable[[], Awaitable[None]]], limit: int) -> None:
    """Run the jobs with at most `limit` in flight (connect storms overflow listen backlogs)."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(run(job) for job in jobs))


# --- dialects ---------------------------------------------------------------------------

EventHandler = Callable[[str, Any], Awaitable[None] | None]


class Product:
    """The chatserver: /visitor start, /counselor login + availability, chat_id payloads.

    Counselors speak `protocol` (docs/protocol.md §1): with 2, as today's console does, every
    `assigned` with `accepted: false` is confirmed at once with `accept` (the visitor is told
    `assigned` only after that), and the server's `heartbeat`s are acked by the lean client.
    """

    name = "product"
    visitor_namespace = "/visitor"

    def __init__(self, helpline: str, protocol: int = 1) -> None:
        self.helpline = helpline
        self.protocol = protocol
        # Refused `accept`s, by error code; and how many were confirmed.
        self.errors: Counter[str] = Counter()
        self.accepted = 0

    async def enter(self, sock: LeanSocket, index: int) -> tuple[str, dict[str, Any]]:
        """Join the queue on a connected /visitor socket: (chat_id, start ack)."""
        ack = await sock.call("start", {"helpline": self.helpline, "lang": "en"})
        if not isinstance(ack, dict) or ack.get("status") != "queued":
            raise RuntimeError(f"start was not queued: {ack!r}")
        return str(ack["chat_id"]), ack

    async def open_counselor(
        self,
        session: aiohttp.ClientSession,
        url: str,
        username: str,
        on_event: EventHandler,
        compress: bool,
        rooms: list[str],
    ) -> LeanSocket:
        token = await login(session, url, username)
        auth: dict[str, Any] = {"token": token}
        sock = LeanSocket(session, url, "/counselor", on_event=on_event, compress=compress)
        if self.protocol >= 2:
            auth["protocol"] = self.protocol
            sock.on_event = functools.partial(self._confirming, on_event, sock)
        await sock.connect(auth)
        ack = await sock.call("availability", {"available": True})
        if not isinstance(ack, dict) or ack.get("available") is not True:
            raise RuntimeError(f"availability refused: {ack!r}")
        return sock

    def _confirming(
        self, on_event: EventHandler, sock: LeanSocket, event: str, data: Any
    ) -> Awaitable[None] | None:
        """on_event, then `accept` for an offered chat (an `assigned` with accepted false)."""
        pending = on_event(event, data)
        if event == "assigned" and isinstance(data, dict) and data.get("accepted") is False:
            return self._accept(sock, str(data["chat_id"]), pending)
        return pending

    async def _accept(
        self, sock: LeanSocket, chat_id: str, pending: Awaitable[None] | None
    ) -> None:
        def acked(ack: Any) -> None:
            if isinstance(ack, dict) and "error" in ack:
                self.errors["accept " + str(ack["error"].get("code"))] += 1
            else:
                self.accepted += 1

        await sock.emit("accept", {"chat_id": chat_id}, acked)
        if pending is not None:
            await pending

    def visitor_message(self, chat: str, text: str, msg_id: str) -> dict[str, Any]:
        return {"text": text, "client_msg_id": msg_id}

    def counselor_message(self, chat: str, text: str, msg_id: str) -> dict[str, Any]:
        return {"chat_id": chat, "text": text, "client_msg_id": msg_id}

    def to_visitor(self, data: Any) -> tuple[str, int | None] | None:
        """(text, seq) of a counselor message arriving at a visitor, else None."""
        if isinstance(data, dict) and data.get("from") == "counselor":
            return str(data["text"]), int(data["seq"])
        return None

    def to_counselor(self, data: Any) -> tuple[str, str, int | None] | None:
        """(chat, text, seq) of a visitor message arriving at a counselor, else None."""
        if isinstance(data, dict) and data.get("from") == "visitor":
            return str(data["chat_id"]), str(data["text"]), int(data["seq"])
        return None


class Bare:
    """The bare relay: both sides `join` the pair's room; messages name the room."""

    name = "bare"
    visitor_namespace = "/"

    def __init__(self) -> None:
        self.errors: Counter[str] = Counter()  # nothing to confirm: stays empty

    async def enter(self, sock: LeanSocket, index: int) -> tuple[str, dict[str, Any]]:
        room = f"pair-{index}"
        await sock.call("join", {"room": room})
        return room, {}

    async def open_counselor(
        self,
        session: aiohttp.ClientSession,
        url: str,
        username: str,
        on_event: EventHandler,
        compress: bool,
        rooms: list[str],
    ) -> LeanSocket:
        sock = LeanSocket(session, url, "/", on_event=on_event, compress=compress)
        await sock.connect()
        for room in rooms:
            await sock.call("join", {"room": room})
        return sock

    def visitor_message(self, chat: str, text: str, msg_id: str) -> dict[str, Any]:
        return {"room": chat, "text": text, "client_msg_id": msg_id}

    def counselor_message(self, chat: str, text: str, msg_id: str) -> dict[str, Any]:
        return {"room": chat, "text": text, "client_msg_id": msg_id}

    def to_visitor(self, data: Any) -> tuple[str, int | None] | None:
        return (str(data["text"]), None) if isinstance(data, dict) else None

    def to_counselor(self, data: Any) -> tuple[str, str, int | None] | None:
        return (str(data["room"]), str(data["text"]), None) if isinstance(data, dict) else None


Dialect = Product | Bare


def dialect(spec: dict[str, Any]) -> Dialect:
    if spec["target"] != "product":
        return Bare()
    return Product(spec.get("helpline", "bench"), spec.get("protocol", 1))


# --- idle: visitors connect and wait ----------------------------------------------------


async def idle_visitors(link: Link, spec: dict[str, Any]) -> None:
    """Connect visitors (warm-up share, then the measured share) and hold them open."""
    speech = dialect(spec)
    sockets: list[LeanSocket] = []
    errors: Counter[str] = Counter()
    connected_ns: list[int] = []
    positioned_ns: list[int] = []
    positions: list[int] = []

    async with http_session() as session:

        def job(index: int, record: bool) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                sock = LeanSocket(
                    session, spec["url"], speech.visitor_namespace, compress=spec["compress"]
                )
                try:
                    await sock.connect()
                    connected = now_ns()
                    _, ack = await speech.enter(sock, index)
                except Exception as exc:
                    errors[type(exc).__name__] += 1
                    await sock.close()
                    return
                sockets.append(sock)
                if record:
                    connected_ns.append(connected)
                    positioned_ns.append(now_ns())
                    if "position" in ack:
                        positions.append(int(ack["position"]))

            return run

        base, warm, count = spec["first_index"], spec["warm"], spec["count"]
        await gather_limited([job(base + i, False) for i in range(warm)], spec["concurrency"])
        link.send("warm", {"errors": dict(errors)})
        await link.receive("go")
        await gather_limited(
            [job(base + warm + i, True) for i in range(count)], spec["concurrency"]
        )
        link.send(
            "done",
            {
                "connected_ns": connected_ns,
                "positioned_ns": positioned_ns,
                "max_position": max(positions, default=0),
                "errors": dict(errors),
            },
        )
        await link.receive("close")
        await gather_limited([s.close for s in sockets], 200)
        link.send("closed")


# --- relay: chats exchanging timestamped messages ----------------------------------------


@dataclass(slots=True)
class Flow:
    """One direction of one chat, as its receiver saw it.

    Order is judged by the server's `seq` where there is one (product): a message retried
    after `rate_limited` is stored, and shown, after the ones sent meanwhile. The bare relay
    has no seq and no retries, so there it is the sender's own numbering.
    """

    seen: set[int] = field(default_factory=set)
    highest: int = 0
    dup: int = 0
    reorder: int = 0


@dataclass(slots=True)
class ChatTally:
    """One chat's counts from one side: what it sent, and what it received in order."""

    sent: int = 0
    received: Flow = field(default_factory=Flow)


class RelayLoad:
    """This worker's visitors and counselors, their messages and what arrived."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.speech = dialect(spec)
        self.urls: list[str] = spec["urls"]
        self.text_len: int = spec["text_len"]
        self.compress: bool = spec["compress"]
        self.t0 = self.t1 = 0
        self.running = False
        self.latency_us: dict[str, list[int]] = {"v2c": [], "c2v": [], "ack": []}
        self.delivered: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.outstanding = 0
        self.retried = 0
        self.last_receive_ns = 0
        # Per chat: what the visitor side and the counselor side each sent and received.
        self.visitor_side: dict[str, ChatTally] = {}
        self.counselor_side: dict[str, ChatTally] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # receiving

    def received(self, direction: str, flow: Flow, text: str, seq: int | None) -> int | None:
        """Record an arriving message; its n if new, None for a duplicate."""
        arrived = now_ns()
        self.last_receive_ns = arrived
        n_text, sent_text, _ = text.split(" ", 2)
        n, sent = int(n_text), int(sent_text)
        if n in flow.seen:
            flow.dup += 1
            return None
        order = n if seq is None else seq
        if order < flow.highest:
            flow.reorder += 1
        else:
            flow.highest = order
        flow.seen.add(n)
        if self.t0 <= sent < self.t1:
            self.latency_us[direction].append((arrived - sent) // 1000)
            self.delivered[direction] += 1
        return n

    # sending, with retries of refused messages under the same client_msg_id

    async def send(self, sock: LeanSocket, payload: dict[str, Any], side: str) -> None:
        self.outstanding += 1
        self.sent[side] += 1
        sent = now_ns()

        def acked(ack: Any) -> None:
            if isinstance(ack, dict) and "error" in ack:
                code = str(ack["error"].get("code"))
                self.errors[code] += 1
                if code in RETRIED_CODES:
                    self.retried += 1
                    self._later(RETRY_AFTER_S, lambda: self._resend(sock, payload, acked))
                    return
            self.outstanding -= 1
            if side == "v" and self.t0 <= sent < self.t1:
                self.latency_us["ack"].append((now_ns() - sent) // 1000)

        await sock.emit("message", payload, acked)

    async def _resend(self, sock: LeanSocket, payload: dict[str, Any], acked: Any) -> None:
        if sock.connected:
            await sock.emit("message", payload, acked)

    def _later(self, delay: float, work: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await work()

        self.spawn(run())

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, deadline_ns: int, quiet_ns: int) -> None:
        """Wait until every message is acked and nothing arrived for quiet_ns."""
        while now_ns() < deadline_ns:
            idle = now_ns() - max(self.last_receive_ns, self.t1)
            if self.outstanding == 0 and idle >= quiet_ns:
                return
            await asyncio.sleep(0.05)

    def report(self, sockets: dict[str, list[LeanSocket]]) -> dict[str, Any]:
        def side(tallies: dict[str, ChatTally]) -> dict[str, list[int]]:
            return {
                chat: [t.sent, len(t.received.seen), t.received.dup, t.received.reorder]
                for chat, t in tallies.items()
            }

        return {
            "latency_us": self.latency_us,
            "delivered": dict(self.delivered),
            "sent": dict(self.sent),
            "errors": dict(self.errors + self.speech.errors),
            "unacked": self.outstanding,
            "retried": self.retried,
            "lost_connections": {
                role: Counter(sock.lost for sock in socks if sock.lost)
                for role, socks in sockets.items()
            },
            "visitor_side": side(self.visitor_side),
            "counselor_side": side(self.counselor_side),
        }


class RelayVisitor:
    def __init__(self, load: RelayLoad, index: int, session: aiohttp.ClientSession) -> None:
        self.load = load
        self.index = index
        url = load.urls[index % len(load.urls)]
        self.sock = LeanSocket(
            session,
            url,
            load.speech.visitor_namespace,
            on_event=self.on_event,
            compress=load.compress,
        )
        self.assigned = asyncio.Event()
        self.chat = ""
        self.tally = ChatTally()

    async def open(self) -> None:
        await self.sock.connect()
        self.chat, _ = await self.load.speech.enter(self.sock, self.index)
        if isinstance(self.load.speech, Bare):
            self.assigned.set()
        self.load.visitor_side[self.chat] = self.tally
        await asyncio.wait_for(self.assigned.wait(), PHASE_TIMEOUT_S)

    def on_event(self, event: str, data: Any) -> None:
        if event == "message":
            arrived = self.load.speech.to_visitor(data)
            if arrived is not None:
                self.load.received("c2v", self.tally.received, *arrived)
        elif event == "assigned":
            self.assigned.set()

    async def run(self, rate: float, phase_s: float) -> None:
        load = self.load
        n = 0
        while True:
            at = load.t0 + int((phase_s + n / rate) * 1e9)
            if at >= load.t1:
                return
            await sleep_until(at)
            n += 1
            self.tally.sent = n
            text = message_text(n, load.text_len)
            await load.send(self.sock, load.speech.visitor_message(self.chat, text, f"v{n}"), "v")


class RelayCounselor:
    def __init__(
        self, load: RelayLoad, index: int, username: str, session: aiohttp.ClientSession
    ) -> None:
        self.load = load
        self.index = index
        self.username = username
        self.session = session
        self.sock: LeanSocket | None = None

    async def open(self) -> None:
        load = self.load
        spec = load.spec
        rooms = [
            f"pair-{i}"
            for i in range(spec["chats_total"])
            if i % spec["counselor_count"] == self.index
        ]
        url = load.urls[self.index % len(load.urls)]
        self.sock = await load.speech.open_counselor(
            self.session, url, self.username, self.on_event, load.compress, rooms
        )

    def on_event(self, event: str, data: Any) -> Awaitable[None] | None:
        if event != "message":
            return None
        arrived = self.load.speech.to_counselor(data)
        if arrived is None:
            return None
        chat, text, seq = arrived
        tally = self.load.counselor_side.get(chat)
        if tally is None:
            tally = self.load.counselor_side[chat] = ChatTally()
        n = self.load.received("v2c", tally.received, text, seq)
        if n is None:
            return None
        tally.sent += 1
        # Not awaited here: the reader must go on reading (and answering pings) even while a
        # send waits for the socket to drain. Tasks start in order, so replies stay in order.
        self.load.spawn(self.reply(chat, n))
        return None

    async def reply(self, chat: str, n: int) -> None:
        assert self.sock is not None
        load = self.load
        text = message_text(n, load.text_len)
        await load.send(self.sock, load.speech.counselor_message(chat, text, f"c{n}"), "c")


async def relay(link: Link, spec: dict[str, Any]) -> None:
    """Counselors come up, then visitors open chats, then every visitor sends at `rate`/s
    and its counselor answers each message, for the window the parent gives."""
    load = RelayLoad(spec)
    rng = random.Random(spec["seed"])
    async with http_session() as session:
        counselors = [RelayCounselor(load, k, name, session) for k, name in spec["counselors"]]
        await gather_limited([c.open for c in counselors], 8)
        link.send("counselors_ready")
        await link.receive("visitors")
        visitors = [RelayVisitor(load, i, session) for i in spec["visitors"]]
        await gather_limited([v.open for v in visitors], spec["concurrency"])
        link.send("ready", {"chats": [v.chat for v in visitors]})

        window = await link.receive("go")
        load.t0, load.t1 = window["t0"], window["t1"]
        rate = spec["rate"]
        await asyncio.gather(*(v.run(rate, rng.random() / rate) for v in visitors))
        await load.drain(load.t1 + int(window["drain_s"] * 1e9), int(window["quiet_s"] * 1e9))
        sockets = {
            "visitors": [v.sock for v in visitors],
            "counselors": [c.sock for c in counselors if c.sock],
        }
        link.send("done", load.report(sockets))

        await link.receive("close")
        await gather_limited([s.close for group in sockets.values() for s in group], 200)
        link.send("closed")


# --- assignment: visitors arrive while counselors end chats ------------------------------


async def assign_counselors(link: Link, spec: dict[str, Any]) -> None:
    """Counselors (one chat each) hold every chat for a random time, then end it.

    Records per counselor, in order: ("assigned", chat_id, t) and ("freed", chat_id, t),
    where "freed" is taken just before the `end` is sent. With protocol 2 "assigned" is the
    offer; the dialect confirms it with `accept` right after.
    """
    rng = random.Random(spec["seed"])
    hold_s: float = spec["hold_s"]
    events: dict[str, list[tuple[str, str, int]]] = {}
    held: dict[str, list[str]] = {}
    sockets: dict[str, LeanSocket] = {}
    tasks: set[asyncio.Task[None]] = set()
    errors: Counter[str] = Counter()
    window = {"running": False, "stop": 0}
    speech = Product(spec["helpline"], spec["protocol"])

    async def end_later(username: str, chat_id: str) -> None:
        await asyncio.sleep(rng.uniform(0.5, 1.5) * hold_s)
        if now_ns() >= window["stop"]:
            return
        events[username].append(("freed", chat_id, now_ns()))

        def acked(ack: Any) -> None:
            if isinstance(ack, dict) and "error" in ack:
                errors[str(ack["error"].get("code"))] += 1

        await sockets[username].emit("end", {"chat_id": chat_id}, acked)

    def schedule(username: str, chat_id: str) -> None:
        task = asyncio.create_task(end_later(username, chat_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def handler(username: str) -> Callable[[str, Any], None]:
        def on_event(event: str, data: Any) -> None:
            if event != "assigned":
                return
            chat_id = str(data["chat_id"])
            events[username].append(("assigned", chat_id, now_ns()))
            if window["running"]:
                schedule(username, chat_id)
            else:
                held[username].append(chat_id)

        return on_event

    async with http_session() as session:

        async def open_one(username: str) -> None:
            events[username], held[username] = [], []
            sockets[username] = await speech.open_counselor(
                session, spec["url"], username, handler(username), spec["compress"], []
            )

        await gather_limited([functools.partial(open_one, u) for u in spec["usernames"]], 8)
        link.send("ready")
        go = await link.receive("go")
        window["stop"] = go["stop"]
        await sleep_until(go["t0"])
        window["running"] = True
        for username, chats in held.items():
            for chat_id in chats:
                schedule(username, chat_id)
        await sleep_until(go["stop"] + int(go["drain_s"] * 1e9))
        link.send(
            "done",
            {
                "events": events,
                "accepted": speech.accepted,
                "errors": dict(errors + speech.errors),
            },
        )
        await link.receive("close")
        for task in tasks:
            task.cancel()
        await gather_limited([s.close for s in sockets.values()], 200)
        link.send("closed")


async def assign_visitors(link: Link, spec: dict[str, Any]) -> None:
    """A pre-filled queue, then visitors arriving at fixed times; each records when its
    `start` was acked and when `assigned` arrived (either may come first)."""
    speech = Product(spec["helpline"])
    chats: dict[str, list[int]] = {}
    sockets: list[LeanSocket] = []
    errors: Counter[str] = Counter()

    async with http_session() as session:

        async def arrive() -> None:
            times = [0, 0]  # [queued at, assigned at]

            def on_event(event: str, data: Any) -> None:
                if event == "assigned" and not times[1]:
                    times[1] = now_ns()

            sock = LeanSocket(
                session, spec["url"], "/visitor", on_event=on_event, compress=spec["compress"]
            )
            try:
                await sock.connect()
                chat_id, _ = await speech.enter(sock, 0)
            except Exception as exc:
                errors[type(exc).__name__] += 1
                await sock.close()
                return
            times[0] = now_ns()
            chats[chat_id] = times
            sockets.append(sock)

        await gather_limited([arrive for _ in range(spec["prefill"])], spec["concurrency"])
        link.send("ready")
        go = await link.receive("go")

        async def arrive_at(offset_s: float) -> None:
            await sleep_until(go["t0"] + int(offset_s * 1e9))
            await arrive()

        await asyncio.gather(*(arrive_at(offset) for offset in spec["offsets_s"]))
        await sleep_until(go["stop"] + int(go["drain_s"] * 1e9))
        link.send("done", {"chats": chats, "errors": dict(errors)})
        await link.receive("close")
        await gather_limited([s.close for s in sockets], 200)
        link.send("closed")
